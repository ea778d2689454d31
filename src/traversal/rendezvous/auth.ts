/**
 * Proof of ownership of a static X25519 key for rendezvous registration (spec/rendezvous.md §Authentication).
 *
 * X25519 keys cannot sign, so ownership is proven the way Noise's static-static DH authenticates
 * (Noise spec §7.7, token "ss"): client and server derive
 *   K = BLAKE2b-256(key = DH(client_static, server_static), "punchline rendezvous v1 auth")
 * which only the holder of one of the two private keys can compute, and the client returns
 *   proof = BLAKE2b-256(key = K, "client" ‖ server nonce ‖ client nonce ‖ client key ‖ server key ‖ binding).
 * The server nonce is fresh per session and single-use, so a recorded proof is useless on any other
 * session. `binding` is the SHA-256 of the TLS certificate the client saw (tls-server-end-point
 * channel binding, RFC 5929 §4.1): a relay-in-the-middle terminating TLS with its own certificate
 * makes the client prove over a hash the server does not hold, so the proof fails
 * (spec/rendezvous.md §Authentication). The server answers with the same MAC labelled "server",
 * proving it holds the pinned server key (mutual authentication without a certificate pin).
 * All primitives come from libsodium through src/crypto (X25519, keyed BLAKE2b = RFC 7693 MAC mode).
 */
import { dh } from '../../crypto/keys.js';
import { sodium } from '../../crypto/sodium.js';
import { RendezvousError, RendezvousErrorCode } from './errors.js';

const AUTH_LABEL = new TextEncoder().encode('punchline rendezvous v1 auth');
const CLIENT_LABEL = new TextEncoder().encode('client');
const SERVER_LABEL = new TextEncoder().encode('server');

/** BLAKE2b-256 keyed MAC over the concatenation of `parts` (RFC 7693 §2.9 keyed mode). */
export function mac(key: Uint8Array, parts: readonly Uint8Array[], length = 32): Uint8Array {
  const out = new Uint8Array(length);
  sodium.crypto_generichash_batch(out, parts, key);
  return out;
}

/**
 * K for a (local secret, remote public) pair. Throws AUTH_FAILED for public keys whose DH output is
 * all zeros (low-order points, RFC 7748 §6.1): such a "key" proves nothing.
 */
export function deriveAuthKey(localSecret: Uint8Array, remotePublic: Uint8Array): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = dh(localSecret, remotePublic);
  } catch (cause) {
    throw new RendezvousError(RendezvousErrorCode.AuthFailed, 'X25519 key agreement failed', { cause });
  }
  const key = mac(shared, [AUTH_LABEL]);
  sodium.sodium_memzero(shared);
  return key;
}

export interface ProofInput {
  readonly serverNonce: Uint8Array;
  readonly clientNonce: Uint8Array;
  readonly clientKey: Uint8Array;
  readonly serverKey: Uint8Array;
  /** SHA-256 of the server's TLS certificate as the client saw it; empty when there is no TLS channel. */
  readonly channelBinding: Uint8Array;
}

export function clientProof(authKey: Uint8Array, input: ProofInput): Uint8Array {
  return mac(authKey, [
    CLIENT_LABEL,
    input.serverNonce,
    input.clientNonce,
    input.clientKey,
    input.serverKey,
    input.channelBinding,
  ]);
}

export function serverProof(authKey: Uint8Array, input: ProofInput): Uint8Array {
  return mac(authKey, [
    SERVER_LABEL,
    input.serverNonce,
    input.clientNonce,
    input.clientKey,
    input.serverKey,
    input.channelBinding,
  ]);
}

/** Constant-time comparison (sodium_memcmp) of two byte strings; false for different lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && sodium.sodium_memcmp(a, b);
}
