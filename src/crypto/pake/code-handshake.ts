/**
 * The code-phrase handshake (spec/transfer.md §Handshake), sans-IO: three mailbox messages that
 * turn a shared code phrase into a Noise pre-shared key bound to both peers' static keys.
 *
 *   sender   → start   { sid, Y_a, pk_a }                     CPace initiator share, AD = pk_a
 *   receiver → reply   { Y_b, pk_b, tag_b }                   CPace responder share, AD = pk_b
 *   sender   → confirm { tag_a, box }   (or abort "wrong-code" when tag_b does not verify)
 *
 * ISK covers both shares and both static keys (the CPace transcript), so a server in the middle
 * that swaps a key or a share makes the tags fail; it learns nothing it can test a guess against
 * offline. psk = BLAKE2b(ISK, "psk") is then required by the Noise IKpsk2 handshake between
 * exactly pk_a and pk_b. `box` carries the sender's connection details (AEAD under a key from ISK).
 */
import { Packr } from 'msgpackr';
import { sodium, type RandomSource } from '../sodium.js';
import { CPace, CPACE_SHARE_BYTES, lvCat } from './cpace.js';
import type { CodePhrase } from './code-phrase.js';
import { PakeError, PakeErrorCode } from './errors.js';

const VERSION = 1;
const SID_BYTES = 16;
const KEY_BYTES = 32;
const TAG_BYTES = 32;
/** Largest sealed payload (the mailbox carries ≤ 1024 bytes per message). */
const MAX_HANDSHAKE_PAYLOAD = 768;

const encoder = new TextEncoder();
const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

export interface HandshakeResult {
  /** Noise pre-shared key for the connection between exactly these two static keys. */
  readonly psk: Uint8Array;
  readonly peerPublicKey: Uint8Array;
  /** What the sender sealed into `confirm` (receiver side); null on the sender. */
  readonly payload: Uint8Array | null;
}

function label(text: string): Uint8Array {
  return encoder.encode(`punchline transfer v${VERSION} ${text}`);
}

/** Keyed BLAKE2b-256 of a label: the key schedule from ISK (RFC 7693 §2.9 MAC/PRF mode). */
function derive(isk: Uint8Array, name: string): Uint8Array {
  const out = new Uint8Array(KEY_BYTES);
  sodium.crypto_generichash(out, label(name), isk);
  return out;
}

function channelIdentifier(code: CodePhrase): Uint8Array {
  return lvCat(label('cpace'), encoder.encode(String(code.nameplate)));
}

function protocolError(what: string): PakeError {
  return new PakeError(PakeErrorCode.Protocol, `bad handshake message: ${what}`);
}

function wrongCode(): PakeError {
  return new PakeError(
    PakeErrorCode.WrongCode,
    'the code did not match: the other side typed a different code (this code is now used up)',
  );
}

type Fields = Record<string, unknown>;

function decode(message: Uint8Array, kinds: readonly string[]): Fields {
  let value: unknown;
  try {
    value = packr.unpack(message);
  } catch {
    throw protocolError('not msgpack');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw protocolError('not a map');
  const fields = value as Fields;
  if (fields['v'] !== VERSION) throw protocolError(`unsupported version ${String(fields['v'])}`);
  if (typeof fields['k'] !== 'string' || !kinds.includes(fields['k'])) {
    throw protocolError(`unexpected kind ${String(fields['k'])}`);
  }
  return fields;
}

function bytes(fields: Fields, key: string, length: number | [number, number]): Uint8Array {
  const value = fields[key];
  const [min, max] = typeof length === 'number' ? [length, length] : length;
  if (!(value instanceof Uint8Array) || value.length < min || value.length > max) throw protocolError(key);
  return new Uint8Array(value);
}

function sealPayload(isk: Uint8Array, payload: Uint8Array): Uint8Array {
  const key = derive(isk, 'payload');
  const sealed = new Uint8Array(payload.length + 16);
  // A key used for one message only: the zero nonce never repeats under it.
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(
    sealed.subarray(0, payload.length),
    sealed.subarray(payload.length),
    payload,
    null,
    null,
    new Uint8Array(12),
    key,
  );
  return sealed;
}

function openPayload(isk: Uint8Array, sealed: Uint8Array): Uint8Array {
  const key = derive(isk, 'payload');
  const payload = new Uint8Array(sealed.length - 16);
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached(
      payload,
      null,
      sealed.subarray(0, payload.length),
      sealed.subarray(payload.length),
      null,
      new Uint8Array(12),
      key,
    );
  } catch {
    throw protocolError('sealed payload does not open');
  }
  return payload;
}

/** The side that printed the code: starts the handshake and seals `payload` for the receiver. */
export class SenderHandshake {
  private readonly cpace: CPace;
  private readonly sid = new Uint8Array(SID_BYTES);
  private done = false;

  private isk: Uint8Array | null = null;

  constructor(
    private readonly code: CodePhrase,
    private readonly publicKey: Uint8Array,
    random: RandomSource,
  ) {
    random(this.sid);
    this.cpace = new CPace(
      'initiator',
      { prs: encoder.encode(code.text), ci: channelIdentifier(code), sid: this.sid, ad: publicKey },
      random,
    );
  }

  start(): Uint8Array {
    return packr.pack({ v: VERSION, k: 'start', sid: this.sid, y: this.cpace.share, pk: this.publicKey });
  }

  /**
   * The receiver's reply: the result (psk, receiver's key) when its tag verifies; on a wrong code
   * throws PakeError(WRONG_CODE) — send `abortMessage()` so the receiver learns why.
   */
  receive(message: Uint8Array): HandshakeResult {
    if (this.done) throw new PakeError(PakeErrorCode.Protocol, 'handshake already finished');
    this.done = true;
    const fields = decode(message, ['reply']);
    const share = bytes(fields, 'y', CPACE_SHARE_BYTES);
    const peerPublicKey = bytes(fields, 'pk', KEY_BYTES);
    const tag = bytes(fields, 'tag', TAG_BYTES);
    const isk = this.cpace.finish(share, peerPublicKey);
    if (!sodium.sodium_memcmp(derive(isk, 'confirm receiver'), tag)) throw wrongCode();
    this.isk = isk;
    return { psk: derive(isk, 'psk'), peerPublicKey, payload: null };
  }

  /** The `confirm` message, sealing `payload` (how to reach us) for the receiver. After receive(). */
  confirm(payload: Uint8Array): Uint8Array {
    if (!this.isk) throw new PakeError(PakeErrorCode.Protocol, 'confirm before a verified reply');
    if (payload.length > MAX_HANDSHAKE_PAYLOAD) throw protocolError('payload too large');
    return packr.pack({
      v: VERSION,
      k: 'confirm',
      tag: derive(this.isk, 'confirm sender'),
      box: sealPayload(this.isk, payload),
    });
  }

  /** Tells the receiver the code did not match (unauthenticated: it only ends a run that failed anyway). */
  static abortMessage(): Uint8Array {
    return packr.pack({ v: VERSION, k: 'abort', reason: 'wrong-code' });
  }
}

/** The side that typed the code. */
export class ReceiverHandshake {
  private readonly random: RandomSource;
  private isk: Uint8Array | null = null;
  private senderKey: Uint8Array | null = null;

  constructor(
    private readonly code: CodePhrase,
    private readonly publicKey: Uint8Array,
    random: RandomSource,
  ) {
    this.random = random;
  }

  /** The sender's `start`; returns the `reply` to send. */
  receive(message: Uint8Array): Uint8Array {
    if (this.isk) throw new PakeError(PakeErrorCode.Protocol, 'start received twice');
    const fields = decode(message, ['start']);
    const sid = bytes(fields, 'sid', SID_BYTES);
    const share = bytes(fields, 'y', CPACE_SHARE_BYTES);
    const senderKey = bytes(fields, 'pk', KEY_BYTES);
    const cpace = new CPace(
      'responder',
      { prs: encoder.encode(this.code.text), ci: channelIdentifier(this.code), sid, ad: this.publicKey },
      this.random,
    );
    this.isk = cpace.finish(share, senderKey);
    this.senderKey = senderKey;
    return packr.pack({
      v: VERSION,
      k: 'reply',
      y: cpace.share,
      pk: this.publicKey,
      tag: derive(this.isk, 'confirm receiver'),
    });
  }

  /** The sender's `confirm` (or `abort`): the result, or PakeError(WRONG_CODE). */
  finish(message: Uint8Array): HandshakeResult {
    const isk = this.isk;
    if (!isk || !this.senderKey) throw new PakeError(PakeErrorCode.Protocol, 'confirm before start');
    const fields = decode(message, ['confirm', 'abort']);
    if (fields['k'] === 'abort') throw wrongCode();
    const tag = bytes(fields, 'tag', TAG_BYTES);
    if (!sodium.sodium_memcmp(derive(isk, 'confirm sender'), tag)) throw wrongCode();
    const payload = openPayload(isk, bytes(fields, 'box', [16, MAX_HANDSHAKE_PAYLOAD + 16]));
    return { psk: derive(isk, 'psk'), peerPublicKey: this.senderKey, payload };
  }
}
