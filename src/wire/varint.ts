/**
 * QUIC variable-length integers (RFC 9000 §16): the two most significant bits of the first byte give
 * the length (00→1, 01→2, 10→4, 11→8 bytes), the remaining 6/14/30/62 bits the value, big-endian.
 *
 * The `number` API covers 0..2^53−1 (Number.MAX_SAFE_INTEGER). Reading is done by WireReader
 * (reader.ts); this file writes. The bigint helpers exist for tests that need the full 62-bit range.
 *
 * Hot path: writeVarint allocates nothing.
 */
import { WireError, WireErrorCode } from './errors.js';

/** Largest value a varint can carry (2^62 − 1). */
export const MAX_VARINT_BIGINT = (1n << 62n) - 1n;
/** Largest varint value the `number` API accepts. */
export const MAX_SAFE_VARINT = Number.MAX_SAFE_INTEGER;

const TWO_POW_32 = 4294967296;

/** Bytes needed to encode `value` in the shortest form (1, 2, 4 or 8). */
export function varintLength(value: number): 1 | 2 | 4 | 8 {
  if (value < 0x40) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x40000000) return 4;
  return 8;
}

/** Throws InvalidValue unless `value` is an integer in 0..2^53−1. */
export function checkVarintValue(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new WireError(WireErrorCode.InvalidValue, `${field} must be an integer in 0..2^53-1, got ${value}`);
  }
}

/**
 * Writes `value` at `offset` in the shortest encoding and returns the offset after it.
 * Throws WireError InvalidValue / BufferTooSmall (typed arrays would otherwise drop writes silently).
 */
export function writeVarint(buf: Uint8Array, offset: number, value: number): number {
  checkVarintValue(value, 'varint');
  if (value < 0x40) {
    if (offset + 1 > buf.length) throw tooSmall(offset + 1, buf.length);
    buf[offset] = value;
    return offset + 1;
  }
  if (value < 0x4000) {
    if (offset + 2 > buf.length) throw tooSmall(offset + 2, buf.length);
    buf[offset] = 0x40 | (value >>> 8);
    buf[offset + 1] = value & 0xff;
    return offset + 2;
  }
  if (value < 0x40000000) {
    if (offset + 4 > buf.length) throw tooSmall(offset + 4, buf.length);
    buf[offset] = 0x80 | (value >>> 24);
    buf[offset + 1] = (value >>> 16) & 0xff;
    buf[offset + 2] = (value >>> 8) & 0xff;
    buf[offset + 3] = value & 0xff;
    return offset + 4;
  }
  if (offset + 8 > buf.length) throw tooSmall(offset + 8, buf.length);
  // Bitwise operators work on 32 bits: split into high and low words (both exact for safe integers).
  return writeEightBytes(buf, offset, Math.floor(value / TWO_POW_32), value | 0);
}

/**
 * writeVarint of values[index], for values that may pass 2^30 (µs timestamps after ~18 min of clock):
 * a double above the small-integer range passed as an argument to a call that is not inlined becomes
 * a heap number per call; read out of a Float64Array here it stays an unboxed float64. Same bytes and
 * refusals as writeVarint.
 */
export function writeVarintAt(buf: Uint8Array, offset: number, values: Float64Array, index: number): number {
  const value = values[index] as number;
  if (value < 0x40000000) return writeVarint(buf, offset, value);
  if (!Number.isSafeInteger(value)) checkVarintValue(value, 'varint');
  if (offset + 8 > buf.length) throw tooSmall(offset + 8, buf.length);
  return writeEightBytes(buf, offset, Math.floor(value / TWO_POW_32), value | 0);
}

/** varintLength of values[index] after checkVarintValue (throws InvalidValue), without boxing it (see writeVarintAt). */
export function checkedVarintLengthAt(values: Float64Array, index: number, field: string): 1 | 2 | 4 | 8 {
  const value = values[index] as number;
  if (!Number.isSafeInteger(value) || value < 0) checkVarintValue(value, field);
  if (value < 0x40) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x40000000) return 4;
  return 8;
}

/** Shortest encoding length of a bigint varint value (0..2^62−1). */
export function varintLengthBigInt(value: bigint): 1 | 2 | 4 | 8 {
  if (value < 0n || value > MAX_VARINT_BIGINT) {
    throw new WireError(WireErrorCode.InvalidValue, `varint must be in 0..2^62-1, got ${value}`);
  }
  if (value < 0x40n) return 1;
  if (value < 0x4000n) return 2;
  if (value < 0x40000000n) return 4;
  return 8;
}

/** bigint twin of writeVarint over the full 62-bit range (tests, not the packet path). */
export function writeVarintBigInt(buf: Uint8Array, offset: number, value: bigint): number {
  const length = varintLengthBigInt(value);
  if (offset + length > buf.length) throw tooSmall(offset + length, buf.length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    buf[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[offset] = (buf[offset] ?? 0) | ([0, 0x40, 0, 0x80, 0, 0, 0, 0xc0][length - 1] ?? 0);
  return offset + length;
}

/**
 * Reads a varint at `offset` as a bigint (full 62-bit range). Returns the value; the encoded length
 * is `1 << (buf[offset] >> 6)`. Throws WireError Truncated when it would read past `end`.
 */
export function readVarintBigInt(buf: Uint8Array, offset: number, end: number = buf.length): bigint {
  if (offset >= end) throw new WireError(WireErrorCode.Truncated, 'varint past end of input');
  const first = buf[offset] ?? 0;
  const length = 1 << (first >> 6);
  if (offset + length > end) throw new WireError(WireErrorCode.Truncated, 'varint past end of input');
  let v = BigInt(first & 0x3f);
  for (let i = 1; i < length; i++) v = (v << 8n) | BigInt(buf[offset + i] ?? 0);
  return v;
}

export function tooSmall(needed: number, available: number): WireError {
  return new WireError(WireErrorCode.BufferTooSmall, `buffer too small: need ${needed} bytes, have ${available}`);
}

/**
 * The 8-byte form (RFC 9000 §16) from the high word (< 2^21 for safe integers) and the low word as a
 * signed 32-bit integer (ToInt32 of the value): both small integers, so no heap number is made even
 * where this call is not inlined.
 */
function writeEightBytes(buf: Uint8Array, offset: number, hi: number, lo: number): number {
  buf[offset] = 0xc0 | (hi >>> 24);
  buf[offset + 1] = (hi >>> 16) & 0xff;
  buf[offset + 2] = (hi >>> 8) & 0xff;
  buf[offset + 3] = hi & 0xff;
  buf[offset + 4] = lo >>> 24;
  buf[offset + 5] = (lo >>> 16) & 0xff;
  buf[offset + 6] = (lo >>> 8) & 0xff;
  buf[offset + 7] = lo & 0xff;
  return offset + 8;
}
