import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodePacketNumber,
  decodePacketNumberBigInt,
  packetNumberLength,
  packetNumberLengthBigInt,
  truncatePacketNumber,
  WireError,
} from '../../src/wire/index.js';

const MAX_PN = 2n ** 62n - 1n;
const MAX_UNACKED = 2n ** 31n;

describe('packet number truncation and recovery (RFC 9000 §A.2, §A.3)', () => {
  it('matches the RFC 9000 examples', () => {
    expect(packetNumberLength(0xac5c02, 0xabe8bc)).toBe(2);
    expect(packetNumberLength(0xace8fe, 0xabe8bc)).toBe(3);
    expect(decodePacketNumber(0xa82f30ea, 0x9b32, 2)).toBe(0xa82f9b32);
    expect(decodePacketNumberBigInt(0xa82f30ean, 0x9b32n, 2)).toBe(0xa82f9b32n);
  });

  it('recovers every packet number in the 62-bit range, whatever the receiver saw since the last ACK', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -1n, max: MAX_PN - 1n }), // largest acknowledged by the receiver (-1: none)
        fc.bigInt({ min: 1n, max: MAX_UNACKED }), // distance of the new packet (≤ 2^31 unacked)
        fc.bigInt({ min: 0n, max: 2n ** 32n }), // how far the receiver's largest moved (scaled below)
        (largestAcked, distance, drift) => {
          const pn = largestAcked + distance;
          fc.pre(pn <= MAX_PN);
          const len = packetNumberLengthBigInt(pn, largestAcked < 0n ? null : largestAcked);
          const truncated = pn & ((1n << BigInt(8 * len)) - 1n);
          // The receiver's largest processed packet may be anywhere in [largestAcked, pn + distance − 2]
          // (packets sent after pn arrived first); RFC 9000 §17.1 guarantees recovery in that window.
          const span = pn + distance - 2n - largestAcked;
          const receiverLargest = span <= 0n ? largestAcked : largestAcked + (drift % (span + 1n));
          expect(decodePacketNumberBigInt(receiverLargest, truncated, len)).toBe(pn);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('number functions agree with the bigint twins below 2^53', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: -1, max: 2 ** 30 })
          .chain((small) =>
            fc.oneof(fc.constant(small), fc.bigInt({ min: 0n, max: 2n ** 53n - 2n ** 33n }).map(Number)),
          ),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const),
        (largest, distance, truncatedRaw, len) => {
          const pn = largest + distance;
          const acked = largest < 0 ? null : largest;
          expect(packetNumberLength(pn, acked)).toBe(
            packetNumberLengthBigInt(BigInt(pn), acked === null ? null : BigInt(acked)),
          );
          const truncated = truncatedRaw % 2 ** (8 * len);
          expect(decodePacketNumber(largest, truncated, len)).toBe(
            Number(decodePacketNumberBigInt(BigInt(largest), BigInt(truncated), len)),
          );
          expect(truncatePacketNumber(pn, len)).toBe(Number(BigInt(pn) & ((1n << BigInt(8 * len)) - 1n)));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('chooses the shortest length that is still unambiguous', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.oneof(
          fc.integer({ min: 1, max: 2 ** 31 }),
          fc.constantFrom(1, 128, 129, 2 ** 15, 2 ** 15 + 1, 2 ** 23, 2 ** 23 + 1, 2 ** 31),
        ),
        (acked, distance) => {
          const len = packetNumberLength(acked + distance, acked);
          expect(distance).toBeLessThanOrEqual(2 ** (8 * len - 1));
          if (len > 1) expect(distance).toBeGreaterThan(2 ** (8 * (len - 1) - 1));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('switches length exactly at the §A.2 boundaries', () => {
    const cases: [number, number][] = [
      [128, 1],
      [129, 2],
      [32_768, 2],
      [32_769, 3],
      [8_388_608, 3],
      [8_388_609, 4],
    ];
    for (const [distance, len] of cases) {
      expect(packetNumberLength(1000 + distance, 1000)).toBe(len);
      expect(packetNumberLengthBigInt(1000n + BigInt(distance), 1000n)).toBe(len);
    }
    expect(packetNumberLength(127, null)).toBe(1);
    expect(packetNumberLength(128, null)).toBe(2);
  });

  it('refuses to truncate when it cannot be recovered', () => {
    expect(() => packetNumberLength(5, 5)).toThrow(WireError);
    expect(() => packetNumberLength(2 ** 31 + 1, 0)).toThrow(WireError);
    expect(packetNumberLength(2 ** 31, 0)).toBe(4);
  });
});
