/**
 * Authenticated punch probes (spec/wire.md §4.1, keys and values in spec/traversal.md §Probes).
 *
 * Each direction has its own key, so a probe reflected back at its sender does not verify:
 *
 *   S      = X25519(our static secret, peer's static public)          (same on both sides)
 *   K_send = BLAKE2b-256(key = S, "punchline punch v1" ‖ session ID ‖ sender's public key)
 *
 * and a probe's MAC is BLAKE2b-128(key = K_sender, bytes 0–19) (keyed BLAKE2b is the MAC mode of
 * RFC 7693 §2.9). Only the two static key holders can compute S, so the rendezvous server, which
 * relays the session ID, can neither forge a probe nor answer one: an address is validated only by
 * the peer itself answering from it.
 */
import { dh } from '../../crypto/keys.js';
import { sodium } from '../../crypto/sodium.js';
import {
  PUNCH_MAC_LENGTH,
  PUNCH_NONCE_LENGTH,
  PUNCH_PROBE_AUTHENTICATED_LENGTH,
  PUNCH_PROBE_LENGTH,
  PUNCH_SESSION_ID_LENGTH,
  readPunchProbe,
  writePunchProbeHeader,
} from '../../wire/probe.js';
import { mac } from '../rendezvous/auth.js';

const LABEL = new TextEncoder().encode('punchline punch v1');

export interface ProbeKeys {
  readonly send: Uint8Array;
  readonly receive: Uint8Array;
}

/** The two direction keys for one punch session between two static keys. */
export function deriveProbeKeys(
  localSecret: Uint8Array,
  localPublic: Uint8Array,
  remotePublic: Uint8Array,
  sessionId: Uint8Array,
): ProbeKeys {
  const shared = dh(localSecret, remotePublic);
  const send = mac(shared, [LABEL, sessionId, localPublic]);
  const receive = mac(shared, [LABEL, sessionId, remotePublic]);
  sodium.sodium_memzero(shared);
  return { send, receive };
}

/** A probe or reply datagram of `length` bytes (≥ 36; the rest is zero padding). */
export function encodeProbe(
  key: Uint8Array,
  reply: boolean,
  sessionId: Uint8Array,
  nonce: Uint8Array,
  length = PUNCH_PROBE_LENGTH,
): Uint8Array {
  const out = new Uint8Array(length);
  const macAt = writePunchProbeHeader(out, 0, reply, sessionId, nonce, length);
  const tag = new Uint8Array(PUNCH_MAC_LENGTH);
  sodium.crypto_generichash(tag, out.subarray(0, PUNCH_PROBE_AUTHENTICATED_LENGTH), key);
  out.set(tag, macAt);
  return out;
}

export interface VerifiedProbe {
  readonly reply: boolean;
  readonly nonce: Uint8Array;
}

/** The session ID of a datagram that classifies as a punch probe (a view), or null when too short. */
export function probeSessionId(datagram: Uint8Array): Uint8Array | null {
  return datagram.length >= PUNCH_PROBE_LENGTH ? datagram.subarray(4, 4 + PUNCH_SESSION_ID_LENGTH) : null;
}

/** Verifies a probe of this session with the peer's key; null when malformed, foreign or forged. */
export function verifyProbe(key: Uint8Array, sessionId: Uint8Array, datagram: Uint8Array): VerifiedProbe | null {
  let probe: ReturnType<typeof readPunchProbe>;
  try {
    probe = readPunchProbe(datagram);
  } catch {
    return null;
  }
  if (!sodium.sodium_memcmp(probe.sessionId, sessionId)) return null;
  const tag = new Uint8Array(PUNCH_MAC_LENGTH);
  sodium.crypto_generichash(tag, probe.authenticated, key);
  if (!sodium.sodium_memcmp(tag, probe.mac)) return null;
  return { reply: probe.reply, nonce: probe.nonce.slice(0, PUNCH_NONCE_LENGTH) };
}
