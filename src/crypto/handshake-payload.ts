/**
 * Framing of a handshake message inside a long-header payload (spec/crypto.md §3.3):
 *   payload = pattern id (1 byte) ‖ Noise handshake message
 */
import { CryptoError, CryptoErrorCode } from './errors.js';
import { MAX_NOISE_MESSAGE } from './noise/handshake-state.js';
import { patternById, type PatternDefinition } from './noise/patterns.js';

export function encodeHandshakePayload(pattern: PatternDefinition, message: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + message.length);
  out[0] = pattern.id;
  out.set(message, 1);
  return out;
}

/** Splits a long-header payload; throws CryptoError for an empty payload or an unknown pattern id. */
export function decodeHandshakePayload(payload: Uint8Array): { pattern: PatternDefinition; message: Uint8Array } {
  if (payload.length < 1) throw new CryptoError(CryptoErrorCode.Truncated, 'empty handshake payload');
  if (payload.length > 1 + MAX_NOISE_MESSAGE)
    throw new CryptoError(CryptoErrorCode.MessageTooLong, 'handshake payload too long');
  const pattern = patternById(payload[0]!);
  if (pattern === undefined) {
    throw new CryptoError(CryptoErrorCode.UnknownPattern, `unknown handshake pattern id 0x${payload[0]!.toString(16)}`);
  }
  return { pattern, message: payload.subarray(1) };
}
