/**
 * STUN message header and attribute framing (RFC 8489 §5, §14). Decoding checks structure,
 * FINGERPRINT (§14.7) and the attribute-order rules of MESSAGE-INTEGRITY (§14.5); verifying
 * MESSAGE-INTEGRITY needs a key and is `verifyIntegrity` below. Encoding computes MESSAGE-INTEGRITY,
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT itself.
 *
 * A classic RFC 3489 message (no magic cookie) decodes with a 16-byte transaction ID when
 * `allowClassic` is set, so the server can still answer old clients (RFC 8489 §12).
 */
import { AttributeType, decodeUint32 } from './attributes.js';
import { StunError, StunErrorCode } from './errors.js';
import {
  constantTimeEqual,
  fingerprintOf,
  hmacOf,
  HMAC_SHA1_LENGTH,
  HMAC_SHA256_LENGTH,
  type IntegrityAlgorithm,
} from './integrity.js';

export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_LENGTH = 20;
export const TRANSACTION_ID_LENGTH = 12;
/** Attributes a decoder accepts in one message; more is hostile (bounds work per datagram). */
export const MAX_ATTRIBUTES = 64;

export const StunClass = { Request: 0, Indication: 1, SuccessResponse: 2, ErrorResponse: 3 } as const;
export type StunClass = (typeof StunClass)[keyof typeof StunClass];

export const StunMethod = { Binding: 0x001 } as const;

export interface StunAttribute {
  readonly type: number;
  readonly value: Uint8Array;
}

export interface StunMessage {
  /** 12-bit method (0x001 Binding). */
  readonly method: number;
  readonly cls: StunClass;
  /** 12 bytes; 16 bytes for a classic RFC 3489 message (no magic cookie). */
  readonly transactionId: Uint8Array;
  readonly attributes: readonly StunAttribute[];
}

export interface DecodedStunMessage extends StunMessage {
  /** The datagram this was decoded from (not copied). */
  readonly raw: Uint8Array;
  /** Offset in `raw` of each attribute's 4-byte header, parallel to `attributes`. */
  readonly offsets: readonly number[];
  /** true when the message had no magic cookie (RFC 3489). */
  readonly classic: boolean;
}

export interface EncodeOptions {
  readonly integrity?: { readonly key: Uint8Array; readonly algorithm?: IntegrityAlgorithm };
  readonly fingerprint?: boolean;
  /** Value of padding bytes after attribute values (any value is legal: RFC 8489 §14). Default 0. */
  readonly paddingByte?: number;
}

/** Message type: method bits M0–M11 interleaved with class bits C0, C1 (RFC 8489 §5, figure 3). */
export function messageType(method: number, cls: StunClass): number {
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7);
}

function splitType(type: number): { method: number; cls: StunClass } {
  const method = (type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80);
  const cls = (((type >> 4) & 1) | ((type >> 7) & 2)) as StunClass;
  return { method, cls };
}

const pad4 = (n: number): number => (n + 3) & ~3;

/**
 * Cheap test for the shared-socket demultiplexer (RFC 8489 §5, RFC 7983): top two bits zero, magic
 * cookie at bytes 4–7, length field a multiple of 4 that matches the datagram.
 */
export function isStunMessage(datagram: Uint8Array): boolean {
  if (datagram.length < HEADER_LENGTH || (datagram[0]! & 0xc0) !== 0) return false;
  const length = (datagram[2]! << 8) | datagram[3]!;
  return (
    length % 4 === 0 &&
    HEADER_LENGTH + length === datagram.length &&
    datagram[4] === 0x21 &&
    datagram[5] === 0x12 &&
    datagram[6] === 0xa4 &&
    datagram[7] === 0x42
  );
}

export function decodeStunMessage(datagram: Uint8Array, options: { allowClassic?: boolean } = {}): DecodedStunMessage {
  if (datagram.length < HEADER_LENGTH)
    throw new StunError(StunErrorCode.Truncated, `STUN message of ${datagram.length} bytes`);
  if ((datagram[0]! & 0xc0) !== 0)
    throw new StunError(StunErrorCode.NotStun, 'top two bits of a STUN message must be zero');
  const length = (datagram[2]! << 8) | datagram[3]!;
  if (length % 4 !== 0) throw new StunError(StunErrorCode.NotStun, `STUN length ${length} is not a multiple of 4`);
  if (HEADER_LENGTH + length > datagram.length)
    throw new StunError(StunErrorCode.Truncated, `STUN length ${length} beyond the datagram`);
  if (HEADER_LENGTH + length < datagram.length)
    throw new StunError(StunErrorCode.NotStun, 'bytes after the STUN message');
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const classic = view.getUint32(4) !== MAGIC_COOKIE;
  if (classic && !options.allowClassic) throw new StunError(StunErrorCode.NotStun, 'no STUN magic cookie');
  const { method, cls } = splitType(view.getUint16(0));
  const transactionId = datagram.slice(classic ? 4 : 8, HEADER_LENGTH);

  const attributes: StunAttribute[] = [];
  const offsets: number[] = [];
  let seenIntegrity = false;
  let seenIntegritySha256 = false;
  let offset = HEADER_LENGTH;
  while (offset < datagram.length) {
    if (offset + 4 > datagram.length) throw new StunError(StunErrorCode.Truncated, 'truncated attribute header');
    const type = view.getUint16(offset);
    const valueLength = view.getUint16(offset + 2);
    const end = offset + 4 + valueLength;
    if (end > datagram.length)
      throw new StunError(StunErrorCode.Truncated, `attribute 0x${type.toString(16)} runs past the message`);
    if (attributes.length >= MAX_ATTRIBUTES)
      throw new StunError(StunErrorCode.TooManyAttributes, `more than ${MAX_ATTRIBUTES} attributes`);
    const value = datagram.subarray(offset + 4, end);
    if (type === AttributeType.Fingerprint) {
      // §14.7: FINGERPRINT is last, and a wrong one means this is not a STUN message.
      if (pad4(end) !== datagram.length)
        throw new StunError(StunErrorCode.BadFingerprint, 'FINGERPRINT is not the last attribute');
      const expected = fingerprintOf(datagram.subarray(0, offset));
      if (decodeUint32(value, 'FINGERPRINT') !== expected)
        throw new StunError(StunErrorCode.BadFingerprint, 'FINGERPRINT mismatch');
    }
    // §14.5/§14.6: after MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count.
    const ignored =
      (seenIntegritySha256 && type !== AttributeType.Fingerprint) ||
      (seenIntegrity && type !== AttributeType.Fingerprint && type !== AttributeType.MessageIntegritySha256);
    if (!ignored) {
      attributes.push({ type, value });
      offsets.push(offset);
    }
    if (type === AttributeType.MessageIntegrity) seenIntegrity = true;
    if (type === AttributeType.MessageIntegritySha256) seenIntegritySha256 = true;
    offset = pad4(end);
  }
  if (offset !== datagram.length)
    throw new StunError(StunErrorCode.Truncated, 'attribute padding runs past the message');
  return { method, cls, transactionId, attributes, raw: datagram, offsets, classic };
}

export function encodeStunMessage(message: StunMessage, options: EncodeOptions = {}): Uint8Array {
  const { transactionId } = message;
  if (transactionId.length !== TRANSACTION_ID_LENGTH && transactionId.length !== 16) {
    throw new StunError(StunErrorCode.InvalidArgument, `transaction ID of ${transactionId.length} bytes`);
  }
  const macLength = options.integrity
    ? options.integrity.algorithm === 'sha256'
      ? HMAC_SHA256_LENGTH
      : HMAC_SHA1_LENGTH
    : 0;
  let total = HEADER_LENGTH;
  for (const a of message.attributes) total += 4 + pad4(a.value.length);
  const integrityOffset = total;
  if (options.integrity) total += 4 + macLength;
  const fingerprintOffset = total;
  if (options.fingerprint) total += 8;
  if (total - HEADER_LENGTH > 0xffff)
    throw new StunError(StunErrorCode.InvalidArgument, `STUN message of ${total} bytes`);

  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint16(0, messageType(message.method, message.cls));
  if (transactionId.length === TRANSACTION_ID_LENGTH) {
    view.setUint32(4, MAGIC_COOKIE);
    out.set(transactionId, 8);
  } else {
    out.set(transactionId, 4);
  }
  let offset = HEADER_LENGTH;
  const paddingByte = options.paddingByte ?? 0;
  for (const a of message.attributes) {
    view.setUint16(offset, a.type);
    view.setUint16(offset + 2, a.value.length);
    out.set(a.value, offset + 4);
    out.fill(paddingByte, offset + 4 + a.value.length, offset + 4 + pad4(a.value.length));
    offset += 4 + pad4(a.value.length);
  }
  if (options.integrity) {
    // §14.5: the HMAC covers the header, with the length field counting up to this attribute's end.
    view.setUint16(2, integrityOffset + 4 + macLength - HEADER_LENGTH);
    const algorithm = options.integrity.algorithm ?? 'sha1';
    const mac = hmacOf(algorithm, options.integrity.key, out.subarray(0, integrityOffset));
    view.setUint16(
      integrityOffset,
      algorithm === 'sha256' ? AttributeType.MessageIntegritySha256 : AttributeType.MessageIntegrity,
    );
    view.setUint16(integrityOffset + 2, macLength);
    out.set(mac, integrityOffset + 4);
  }
  view.setUint16(2, total - HEADER_LENGTH);
  if (options.fingerprint) {
    view.setUint16(fingerprintOffset, AttributeType.Fingerprint);
    view.setUint16(fingerprintOffset + 2, 4);
    view.setUint32(fingerprintOffset + 4, fingerprintOf(out.subarray(0, fingerprintOffset)));
  }
  return out;
}

/**
 * Verifies MESSAGE-INTEGRITY (sha1) or MESSAGE-INTEGRITY-SHA256 of a decoded message with `key`.
 * Returns false when the attribute is absent or wrong; MI-SHA256 may be truncated to ≥ 16 bytes (§14.6).
 */
export function verifyIntegrity(
  message: DecodedStunMessage,
  key: Uint8Array,
  algorithm: IntegrityAlgorithm = 'sha1',
): boolean {
  const type = algorithm === 'sha256' ? AttributeType.MessageIntegritySha256 : AttributeType.MessageIntegrity;
  const index = message.attributes.findIndex((a) => a.type === type);
  if (index < 0) return false;
  const received = message.attributes[index]!.value;
  const offset = message.offsets[index]!;
  if (
    algorithm === 'sha1'
      ? received.length !== HMAC_SHA1_LENGTH
      : received.length < 16 || received.length > 32 || received.length % 4 !== 0
  ) {
    return false;
  }
  const covered = message.raw.slice(0, offset);
  new DataView(covered.buffer).setUint16(2, offset + 4 + received.length - HEADER_LENGTH);
  const mac = hmacOf(algorithm, key, covered).subarray(0, received.length);
  return constantTimeEqual(mac, received);
}

export function transactionKey(transactionId: Uint8Array): string {
  return Buffer.from(transactionId.buffer, transactionId.byteOffset, transactionId.byteLength).toString('hex');
}
