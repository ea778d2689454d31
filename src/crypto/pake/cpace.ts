/**
 * CPace (draft-irtf-cfrg-cpace) on ristretto255 with SHA-512, the draft's "CPACE-RISTR255-SHA512"
 * suite. The group arithmetic, the element derivation (RFC 9496 §4.3.4) and encode/decode are
 * @noble/curves' audited ristretto255 (sodium-native exposes no ristretto255 functions); this file
 * only composes the draft's strings and checks its abort conditions. Checked against the draft's
 * published test vectors (test/transfer/cpace.test.ts).
 *
 * Both parties run the same steps: derive the generator g from the password-related string (PRS),
 * the channel identifier (CI) and the session id (sid); send Y = y·g with associated data AD; on the
 * peer's Y compute K = y·Y' (abort if Y' does not decode or K is the identity, draft §"scalar_mult_vfy");
 * ISK = SHA-512(lv_cat(DSI‖"_ISK", sid, K) ‖ transcript).
 */
import { createHash } from 'node:crypto';
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import type { RandomSource } from '../sodium.js';
import { PakeError, PakeErrorCode } from './errors.js';

type Point = InstanceType<typeof ristretto255.Point>;

const encoder = new TextEncoder();
/** G_Ristretto255.DSI (draft §"CPace group objects G_Ristretto255"). */
export const CPACE_DSI = encoder.encode('CPaceRistretto255');
const DSI_ISK = encoder.encode('CPaceRistretto255_ISK');
/** SHA-512's input block size, H.s_in_bytes. */
const HASH_BLOCK_BYTES = 128;
/** ristretto255 encodings and scalars are 32 bytes. */
export const CPACE_SHARE_BYTES = 32;

function sha512(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha512');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** LEB128 length prefix + data (draft §"prepend_len"). */
export function prependLen(data: Uint8Array): Uint8Array {
  const prefix: number[] = [];
  let length = data.length;
  do {
    prefix.push(length < 128 ? length : (length & 0x7f) | 0x80);
    length = Math.floor(length / 128);
  } while (length > 0);
  return concat([Uint8Array.from(prefix), data]);
}

/** Concatenation of length-prefixed fields (draft §"lv_cat"). */
export function lvCat(...fields: Uint8Array[]): Uint8Array {
  return concat(fields.map(prependLen));
}

/** draft §"generator_string": zero padding fills the first hash block after DSI and PRS. */
export function generatorString(dsi: Uint8Array, prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const zeroPad = Math.max(0, HASH_BLOCK_BYTES - 1 - prependLen(prs).length - prependLen(dsi).length);
  return lvCat(dsi, prs, new Uint8Array(zeroPad), ci, sid);
}

/** G.calculate_generator: element_derivation(SHA-512(generator_string)) (RFC 9496 §4.3.4). */
export function calculateGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Point {
  const uniform = sha512(generatorString(CPACE_DSI, prs, ci, sid));
  return ristretto255_hasher.deriveToCurve!(uniform) as Point;
}

/** The initiator/responder transcript (draft §"transcript_ir"). */
export function transcriptIr(ya: Uint8Array, ada: Uint8Array, yb: Uint8Array, adb: Uint8Array): Uint8Array {
  return concat([lvCat(ya, ada), lvCat(yb, adb)]);
}

/**
 * G.sample_scalar (draft §G_Ristretto255): 32 random bytes with the bits above group_size_bits (252)
 * cleared, read little-endian. Zero is drawn again (it would make Y the identity).
 */
function sampleScalar(random: RandomSource): bigint {
  const bytes = new Uint8Array(CPACE_SHARE_BYTES);
  for (;;) {
    random(bytes);
    bytes[31]! &= 0x0f;
    let scalar = 0n;
    for (let i = 31; i >= 0; i--) scalar = (scalar << 8n) | BigInt(bytes[i]!);
    bytes.fill(0);
    if (scalar !== 0n) return scalar;
  }
}

export interface CPaceInputs {
  /** Password-related string: here the whole code phrase. */
  readonly prs: Uint8Array;
  /** Channel identifier (binds the run to its purpose). */
  readonly ci: Uint8Array;
  /** Session id, fresh per run. */
  readonly sid: Uint8Array;
  /** This party's associated data (sent in clear next to Y, covered by the ISK). */
  readonly ad: Uint8Array;
}

/**
 * One party of a CPace run in the initiator/responder setting. `share` is Y (send it with `ad`);
 * `finish(peerShare, peerAd)` returns the 64-byte ISK or throws PakeError(INVALID_SHARE).
 */
export class CPace {
  readonly role: 'initiator' | 'responder';
  readonly share: Uint8Array;
  private readonly inputs: CPaceInputs;
  private scalar: bigint | null;

  constructor(role: 'initiator' | 'responder', inputs: CPaceInputs, random: RandomSource) {
    this.role = role;
    this.inputs = inputs;
    const generator = calculateGenerator(inputs.prs, inputs.ci, inputs.sid);
    this.scalar = sampleScalar(random);
    this.share = generator.multiply(this.scalar).toBytes();
  }

  /** Computes ISK from the peer's share; usable once (the scalar is dropped). */
  finish(peerShare: Uint8Array, peerAd: Uint8Array): Uint8Array {
    const scalar = this.scalar;
    if (scalar === null) throw new PakeError(PakeErrorCode.Protocol, 'CPace run already finished');
    this.scalar = null;
    const k = scalarMultVerify(scalar, peerShare);
    const transcript =
      this.role === 'initiator'
        ? transcriptIr(this.share, this.inputs.ad, peerShare, peerAd)
        : transcriptIr(peerShare, peerAd, this.share, this.inputs.ad);
    return sha512(lvCat(DSI_ISK, this.inputs.sid, k), transcript);
  }
}

/** G.scalar_mult_vfy with the abort check: a share that does not decode, or K = identity, aborts. */
export function scalarMultVerify(scalar: bigint, share: Uint8Array): Uint8Array {
  let point: Point;
  try {
    if (share.length !== CPACE_SHARE_BYTES) throw new Error('length');
    point = ristretto255.Point.fromBytes(share) as Point;
  } catch {
    throw new PakeError(PakeErrorCode.InvalidShare, 'the peer sent an invalid CPace share');
  }
  const k = point.multiply(scalar);
  if (k.is0()) throw new PakeError(PakeErrorCode.InvalidShare, 'the peer sent a CPace share of low order');
  return k.toBytes();
}
