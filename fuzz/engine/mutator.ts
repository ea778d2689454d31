/**
 * Byte-level havoc mutations in the style of AFL/libFuzzer: a stack of 1–8 random edits drawn from
 * bit flips, "interesting" integers, arithmetic, block deletion/duplication/insertion, dictionary
 * tokens, QUIC varints at boundary values (every punchline wire format is varint-heavy) and splicing
 * with another corpus entry. Output never exceeds `maxLength`.
 */
import type { FuzzRandom } from './random.js';

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x3f, 0x40, 0xc0, 16, 32, 64, 100, 127, 0x10, 0x11, 0x12];
const INTERESTING_16 = [0, 1, 0x7fff, 0x8000, 0xffff, 0x3fff, 0x4000, 255, 256, 512, 1000, 1024, 1200, 1500, 4096];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x2112a442, 0x3fffffff, 65535, 65536, 1 << 24];
/** Varint boundary values (RFC 9000 §16): each length's maximum and the next one up. */
const VARINT_VALUES = [0, 63, 64, 16383, 16384, 1073741823, 1073741824, 2 ** 53 - 1, 2 ** 53, 2 ** 62 - 1];

export class Mutator {
  private readonly scratch: Uint8Array;

  constructor(
    private readonly random: FuzzRandom,
    private readonly maxLength: number,
    private readonly dictionary: readonly Uint8Array[],
  ) {
    this.scratch = new Uint8Array(maxLength * 2 + 64);
  }

  /** A mutated copy of `input` (a fresh array: the caller may keep it in the corpus). */
  mutate(input: Uint8Array, corpus: readonly Uint8Array[]): Uint8Array {
    const r = this.random;
    let buf = this.scratch;
    buf.set(input.subarray(0, Math.min(input.length, this.maxLength)));
    let length = Math.min(input.length, this.maxLength);
    const edits = 1 << r.below(4);
    for (let e = 0; e < edits; e++) {
      length = this.edit(buf, length, corpus);
      if (length > this.maxLength) length = this.maxLength;
    }
    buf = buf.slice(0, length);
    return buf;
  }

  private edit(buf: Uint8Array, length: number, corpus: readonly Uint8Array[]): number {
    const r = this.random;
    const room = buf.length - length;
    switch (r.below(16)) {
      case 0:
        if (length > 0) buf[r.below(length)]! ^= 1 << r.below(8);
        return length;
      case 1:
        if (length > 0) buf[r.below(length)] = r.next() & 0xff;
        return length;
      case 2:
        if (length > 0) buf[r.below(length)] = r.pick(INTERESTING_8);
        return length;
      case 3:
        return this.writeInt(buf, length, r.pick(INTERESTING_16), 2);
      case 4:
        return this.writeInt(buf, length, r.pick(INTERESTING_32), 4);
      case 5: {
        if (length === 0) return length;
        const at = r.below(length);
        buf[at] = (buf[at]! + (r.below(35) - 17)) & 0xff;
        return length;
      }
      case 6: {
        if (length === 0) return length;
        const at = r.below(length);
        const n = 1 + r.below(Math.min(length - at, 1 + r.below(64)));
        buf.copyWithin(at, at + n, length);
        return length - n;
      }
      case 7: {
        if (length === 0 || room <= 0) return length;
        const from = r.below(length);
        const n = Math.min(1 + r.below(Math.min(length - from, 64)), room);
        const to = r.below(length + 1);
        const block = buf.slice(from, from + n);
        buf.copyWithin(to + n, to, length);
        buf.set(block, to);
        return length + n;
      }
      case 8: {
        const n = Math.min(1 + r.below(r.chance(8) ? 512 : 16), room);
        const to = r.below(length + 1);
        buf.copyWithin(to + n, to, length);
        const fill = r.chance(2) ? r.next() & 0xff : -1;
        for (let i = 0; i < n; i++) buf[to + i] = fill >= 0 ? fill : r.next() & 0xff;
        return length + n;
      }
      case 9:
      case 10: {
        if (this.dictionary.length === 0) return length;
        const token = r.pick(this.dictionary);
        if (r.chance(2) && length >= token.length) {
          buf.set(token, r.below(length - token.length + 1));
          return length;
        }
        if (token.length > room) return length;
        const to = r.below(length + 1);
        buf.copyWithin(to + token.length, to, length);
        buf.set(token, to);
        return length + token.length;
      }
      case 11:
        return this.writeVarint(buf, length);
      case 12: {
        if (corpus.length === 0) return length;
        const other = r.pick(corpus);
        const cut = r.below(length + 1);
        const from = r.below(other.length + 1);
        const n = Math.min(other.length - from, buf.length - cut);
        buf.set(other.subarray(from, from + n), cut);
        return cut + n;
      }
      case 13:
        return length === 0 ? 0 : r.below(length);
      case 14: {
        if (length < 2) return length;
        const from = r.below(length);
        const to = r.below(length);
        const n = 1 + r.below(Math.min(length - Math.max(from, to), 32));
        buf.copyWithin(to, from, from + n);
        return length;
      }
      default: {
        // Random byte run at a random place: most parsers branch on the first few bytes.
        if (length === 0) return length;
        const at = r.chance(2) ? r.below(Math.min(length, 8)) : r.below(length);
        buf[at] = r.next() & 0xff;
        return length;
      }
    }
  }

  private writeInt(buf: Uint8Array, length: number, value: number, width: 2 | 4): number {
    if (length < width) return length;
    const at = this.random.below(length - width + 1);
    const little = this.random.chance(4);
    for (let i = 0; i < width; i++) {
      const shift = 8 * (little ? i : width - 1 - i);
      buf[at + i] = Math.floor(value / 2 ** shift) & 0xff;
    }
    return length;
  }

  private writeVarint(buf: Uint8Array, length: number): number {
    const r = this.random;
    let value = r.pick(VARINT_VALUES);
    if (r.chance(2) && value > 0) value -= r.below(3);
    const prefix = value < 64 ? 0 : value < 16384 ? 1 : value < 1073741824 ? 2 : 3;
    // Sometimes a non-minimal encoding: parsers must accept it (RFC 9000 §16) or refuse it cleanly.
    const lengthCode = r.chance(4) ? Math.max(prefix, r.below(4)) : prefix;
    const width = 1 << lengthCode;
    if (length < width) return length;
    const at = r.below(length - width + 1);
    let v = value;
    for (let i = width - 1; i >= 0; i--) {
      buf[at + i] = v % 256;
      v = Math.floor(v / 256);
    }
    buf[at] = (buf[at]! & 0x3f) | (lengthCode << 6);
    return length;
  }
}
