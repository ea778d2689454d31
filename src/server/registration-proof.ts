/**
 * The server's check of a `register` message (spec/rendezvous.md §Authentication): the client's
 * proof must cover this session's nonce and one of the certificate hashes the server presents (two
 * during a certificate renewal). On success, the server's own proof over the same input.
 */
import type { KeyPair } from '../crypto/keys.js';
import { clientProof, constantTimeEqual, deriveAuthKey, serverProof } from '../traversal/rendezvous/auth.js';
import type { RegisterMessage } from '../traversal/rendezvous/messages.js';

/** The server's proof when `m` proves ownership of its key for this session; null when it does not. */
export function verifyRegistration(
  m: RegisterMessage,
  sessionNonce: Uint8Array,
  keyPair: KeyPair,
  channelBindings: readonly Uint8Array[],
): Uint8Array | null {
  try {
    const authKey = deriveAuthKey(keyPair.secretKey, m.publicKey);
    // Every accepted binding is tried (at most two, during a certificate renewal).
    const input = channelBindings
      .map((channelBinding) => ({
        serverNonce: sessionNonce,
        clientNonce: m.clientNonce,
        clientKey: m.publicKey,
        serverKey: keyPair.publicKey,
        channelBinding,
      }))
      .find((candidate) => constantTimeEqual(clientProof(authKey, candidate), m.proof));
    return input === undefined ? null : serverProof(authKey, input);
  } catch {
    return null;
  }
}
