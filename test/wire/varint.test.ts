import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  readVarintBigInt,
  varintLength,
  varintLengthBigInt,
  WireError,
  WireReader,
  writeVarint,
  writeVarintBigInt,
} from '../../src/wire/index.js';
import { checkedVarintLengthAt, writeVarintAt } from '../../src/wire/varint.js';
import { varint } from './arbitraries.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof WireError) return e.code;
    throw e;
  }
  return 'no error';
}

describe('varint', () => {
  it('round-trips every safe value in the shortest encoding', () => {
    const buf = new Uint8Array(16);
    fc.assert(
      fc.property(varint(), fc.integer({ min: 0, max: 8 }), (value, at) => {
        const end = writeVarint(buf, at, value);
        expect(end - at).toBe(varintLength(value));
        expect(buf[at]! >> 6).toBe([0, 0, 1, 1, 2, 2, 2, 2, 3][end - at]);
        const r = new WireReader(buf, at, end);
        expect(r.readVarint()).toBe(value);
        expect(r.offset).toBe(end);
        expect(readVarintBigInt(buf, at)).toBe(BigInt(value));
      }),
      { numRuns: 2000 },
    );
  });

  it('bigint helpers cover the full 62-bit range and agree with the number API below 2^53', () => {
    const buf = new Uint8Array(8);
    const other = new Uint8Array(8);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 62n - 1n }), (value) => {
        const end = writeVarintBigInt(buf, 0, value);
        expect(end).toBe(varintLengthBigInt(value));
        expect(readVarintBigInt(buf, 0)).toBe(value);
        const reader = new WireReader(buf, 0, end);
        if (value <= BigInt(Number.MAX_SAFE_INTEGER)) {
          expect(writeVarint(other, 0, Number(value))).toBe(end);
          expect(other.subarray(0, end)).toEqual(buf.subarray(0, end));
          expect(reader.readVarint()).toBe(Number(value));
        } else {
          expect(codeOf(() => reader.readVarint())).toBe('ERR_PUNCHLINE_WIRE_VARINT_UNSAFE');
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects values it cannot encode', () => {
    const buf = new Uint8Array(8);
    for (const bad of [-1, 1.5, Number.NaN, Infinity, 2 ** 53]) {
      expect(codeOf(() => writeVarint(buf, 0, bad))).toBe('ERR_PUNCHLINE_WIRE_INVALID_VALUE');
    }
    expect(codeOf(() => writeVarintBigInt(buf, 0, 2n ** 62n))).toBe('ERR_PUNCHLINE_WIRE_INVALID_VALUE');
  });

  it('never writes past the buffer', () => {
    fc.assert(
      fc.property(varint(), (value) => {
        const n = varintLength(value);
        const backing = new Uint8Array(n + 1).fill(0xee);
        const buf = backing.subarray(0, n - 1);
        expect(codeOf(() => writeVarint(buf, 0, value))).toBe('ERR_PUNCHLINE_WIRE_BUFFER_TOO_SMALL');
        expect(backing[n - 1]).toBe(0xee);
      }),
      { numRuns: 300 },
    );
  });

  it('reports truncation instead of reading past the end', () => {
    const buf = Uint8Array.from([0xc0, 0, 0, 0, 0, 0, 0, 1]);
    for (let end = 0; end < 8; end++) {
      expect(codeOf(() => new WireReader(buf, 0, end).readVarint())).toBe('ERR_PUNCHLINE_WIRE_TRUNCATED');
    }
    expect(new WireReader(buf, 0, 8).readVarint()).toBe(1);
  });
});

describe('WireReader.readVarintInto (unboxed, for µs timestamps past 2^30)', () => {
  it('reads every value and length exactly as readVarint does, at any offset', () => {
    fc.assert(
      fc.property(varint(), fc.integer({ min: 0, max: 3 }), (value, at) => {
        const buf = new Uint8Array(at + 8);
        const end = writeVarint(buf, at, value);
        const out = new Float64Array(2);
        const r = new WireReader(buf, at, end);
        r.readVarintInto(out, 1);
        expect(out[1]).toBe(value);
        expect(r.offset).toBe(end);
      }),
    );
  });

  it('refuses what readVarint refuses: truncated, above 2^53 − 1', () => {
    const out = new Float64Array(1);
    const big = Uint8Array.of(0xc0, 0x20, 0, 0, 0, 0, 0, 0); // 2^53
    expect(codeOf(() => new WireReader(big).readVarintInto(out, 0))).toBe('ERR_PUNCHLINE_WIRE_VARINT_UNSAFE');
    expect(codeOf(() => new WireReader(big, 0, 7).readVarintInto(out, 0))).toBe('ERR_PUNCHLINE_WIRE_TRUNCATED');
    expect(codeOf(() => new WireReader(new Uint8Array(0)).readVarintInto(out, 0))).toBe('ERR_PUNCHLINE_WIRE_TRUNCATED');
    const ts = 7_200_000_123_456; // µs of a clock at 2 h ... a day: 8-byte varints
    const buf = new Uint8Array(8);
    writeVarint(buf, 0, ts);
    new WireReader(buf).readVarintInto(out, 0);
    expect(out[0]).toBe(ts);
  });
});

describe('writeVarintAt / checkedVarintLengthAt (unboxed, for µs timestamps past 2^30)', () => {
  it('write the same bytes and length as writeVarint, at any offset and index', () => {
    fc.assert(
      fc.property(varint(), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 1 }), (value, at, index) => {
        const ours = new Uint8Array(at + 8);
        const theirs = new Uint8Array(at + 8);
        const values = new Float64Array(2);
        values[index] = value;
        expect(writeVarintAt(ours, at, values, index)).toBe(writeVarint(theirs, at, value));
        expect(ours).toEqual(theirs);
        expect(checkedVarintLengthAt(values, index, 'x')).toBe(varintLength(value));
      }),
    );
  });

  it('refuse what writeVarint refuses: negative, fractional, above 2^53 − 1, no room', () => {
    for (const bad of [-1, 0.5, 2 ** 40 + 0.5, 2 ** 53, Number.NaN]) {
      const values = Float64Array.of(bad);
      expect(codeOf(() => writeVarintAt(new Uint8Array(8), 0, values, 0))).toBe('ERR_PUNCHLINE_WIRE_INVALID_VALUE');
      expect(codeOf(() => checkedVarintLengthAt(values, 0, 'x'))).toBe('ERR_PUNCHLINE_WIRE_INVALID_VALUE');
    }
    const ts = Float64Array.of(7_200_000_123_456);
    expect(codeOf(() => writeVarintAt(new Uint8Array(7), 0, ts, 0))).toBe('ERR_PUNCHLINE_WIRE_BUFFER_TOO_SMALL');
  });
});
