/**
 * A bounds-checked cursor over untrusted bytes. Every read checks against `end` first and throws
 * WireError Truncated instead of reading past it, so no decoder can run off a buffer or trust a
 * length field before it has been compared with what is actually there.
 *
 * Hot path: one reader is reset per packet (no allocation); readBytes returns subarray views.
 */
import { WireError, WireErrorCode } from './errors.js';

const EMPTY = new Uint8Array(0);
const TWO_POW_32 = 4294967296;
/** readVarint's scratch for the 8-byte form (readVarintInto writes it). */
const EIGHT_BYTE_VALUE = new Float64Array(1);
/** Largest high 32-bit word of an 8-byte varint whose value is ≤ 2^53 − 1. */
const MAX_SAFE_HIGH_WORD = 0x1fffff;

export class WireReader {
  buf: Uint8Array;
  offset: number;
  end: number;

  constructor(buf: Uint8Array = EMPTY, offset = 0, end: number = buf.length) {
    this.buf = buf;
    this.offset = 0;
    this.end = 0;
    this.reset(buf, offset, end);
  }

  /** Points the reader at buf[offset, end). `end` is clamped to buf.length. */
  reset(buf: Uint8Array, offset = 0, end: number = buf.length): this {
    this.buf = buf;
    this.end = Math.min(end, buf.length);
    this.offset = Math.min(Math.max(offset, 0), this.end);
    return this;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  /** Throws Truncated unless `n` more bytes are available. */
  need(n: number, what: string): void {
    if (n > this.end - this.offset) {
      throw new WireError(WireErrorCode.Truncated, `${what}: need ${n} bytes, ${this.end - this.offset} left`);
    }
  }

  peekUint8(): number {
    this.need(1, 'uint8');
    return this.buf[this.offset] as number;
  }

  readUint8(): number {
    this.need(1, 'uint8');
    return this.buf[this.offset++] as number;
  }

  readUint16(): number {
    this.need(2, 'uint16');
    const b = this.buf;
    const o = this.offset;
    this.offset = o + 2;
    return ((b[o] as number) << 8) | (b[o + 1] as number);
  }

  readUint32(): number {
    this.need(4, 'uint32');
    const b = this.buf;
    const o = this.offset;
    this.offset = o + 4;
    return (
      (((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number)) >>>
      0
    );
  }

  /** Reads a big-endian unsigned integer of 1–4 bytes (truncated packet numbers). */
  readUintN(n: 1 | 2 | 3 | 4): number {
    this.need(n, 'uintN');
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + (this.buf[this.offset + i] as number);
    this.offset += n;
    return v;
  }

  /**
   * readVarint into out[at]. A value beyond the small-integer range (an ACK's receive timestamp in µs
   * passes 2^30 after 18 minutes of clock) returned from a function is a heap number: one allocation
   * per call. Stored into a Float64Array it stays unboxed. Hot path: the ACK decoder.
   */
  readVarintInto(out: Float64Array, at: number): void {
    const o = this.offset;
    if (o >= this.end || (this.buf[o] as number) >> 6 !== 3) {
      out[at] = this.readVarint();
      return;
    }
    this.need(8, 'varint');
    const b = this.buf;
    const hi =
      ((((b[o] as number) & 0x3f) << 24) |
        ((b[o + 1] as number) << 16) |
        ((b[o + 2] as number) << 8) |
        (b[o + 3] as number)) >>>
      0;
    if (hi > MAX_SAFE_HIGH_WORD)
      throw new WireError(WireErrorCode.VarintUnsafe, 'varint above 2^53-1 is not supported');
    const lo =
      (((b[o + 4] as number) << 24) |
        ((b[o + 5] as number) << 16) |
        ((b[o + 6] as number) << 8) |
        (b[o + 7] as number)) >>>
      0;
    this.offset = o + 8;
    out[at] = hi * TWO_POW_32 + lo;
  }

  /**
   * Reads a varint (RFC 9000 §16). Values above 2^53 − 1 throw VarintUnsafe (never rounded).
   * Non-minimal encodings are accepted, as RFC 9000 §16 allows, except where a field says otherwise.
   */
  readVarint(): number {
    if (this.offset >= this.end) throw new WireError(WireErrorCode.Truncated, 'varint: past end of input');
    const b = this.buf;
    const o = this.offset;
    const first = b[o] as number;
    switch (first >> 6) {
      case 0:
        this.offset = o + 1;
        return first;
      case 1:
        this.need(2, 'varint');
        this.offset = o + 2;
        return ((first & 0x3f) << 8) | (b[o + 1] as number);
      case 2:
        this.need(4, 'varint');
        this.offset = o + 4;
        return (
          (((first & 0x3f) << 24) |
            ((b[o + 1] as number) << 16) |
            ((b[o + 2] as number) << 8) |
            (b[o + 3] as number)) >>>
          0
        );
      default:
        // The 8-byte form, read once in readVarintInto.
        this.readVarintInto(EIGHT_BYTE_VALUE, 0);
        return EIGHT_BYTE_VALUE[0] as number;
    }
  }

  /** A view (not a copy) of the next `n` bytes; `n` is checked against what is left first. */
  readBytes(n: number): Uint8Array {
    this.need(n, 'bytes');
    const o = this.offset;
    this.offset = o + n;
    return this.buf.subarray(o, o + n);
  }

  skip(n: number): void {
    this.need(n, 'skip');
    this.offset += n;
  }
}
