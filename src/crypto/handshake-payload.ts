/**
 * Framing of a handshake message inside a long-header payload (spec/crypto.md §3.3):
 *   payload = pattern id (1 byte) ‖ Noise handshake message
 * and the header fields each message authenticates (its associated data, headerBinding).
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

/** Bytes of a header binding: packet type (1) ‖ version (4, big-endian) ‖ DCID ‖ SCID. */
const HEADER_BINDING_LENGTH = 1 + 4 + 8 + 8;

/**
 * The long-header fields a handshake message authenticates (spec/crypto.md §3.3): packet type ‖
 * version ‖ DCID ‖ SCID, mixed into the Noise hash before the message. A header altered on the way (a
 * corrupted or forged connection ID the receiver would adopt) makes the message, or the next one the
 * peer sends, fail to decrypt: it is dropped and retransmission recovers. The Initial's token is left
 * out (a Retry adds it after the message was written) and so is the Length (the AEAD covers the payload).
 */
export function headerBinding(packetType: number, version: number, dcid: Uint8Array, scid: Uint8Array): Uint8Array {
  if (dcid.length !== 8 || scid.length !== 8)
    throw new CryptoError(CryptoErrorCode.InvalidArgument, 'connection IDs of a header binding must be 8 bytes');
  const out = new Uint8Array(HEADER_BINDING_LENGTH);
  out[0] = packetType & 0xff;
  out[1] = (version >>> 24) & 0xff;
  out[2] = (version >>> 16) & 0xff;
  out[3] = (version >>> 8) & 0xff;
  out[4] = version & 0xff;
  out.set(dcid, 5);
  out.set(scid, 13);
  return out;
}
