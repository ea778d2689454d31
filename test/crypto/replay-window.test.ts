import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayCheck, ReplayWindow } from '../../src/crypto/replay-window.js';

describe('ReplayWindow (RFC 6479)', () => {
  it('covers at least the requested size', () => {
    expect(new ReplayWindow().size).toBeGreaterThanOrEqual(2048);
    expect(new ReplayWindow(100).size).toBeGreaterThanOrEqual(100);
    expect(() => new ReplayWindow(3)).toThrow(
      expect.objectContaining({ code: 'ERR_PUNCHLINE_CRYPTO_INVALID_ARGUMENT' }),
    );
  });

  it('agrees with a reference model (set of seen numbers + window bound)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 2 ** 53 - 1 })), {
          maxLength: 400,
        }),
        (numbers) => {
          const w = new ReplayWindow(256);
          const seen = new Set<number>();
          let largest = -1;
          for (const n of numbers) {
            const expected =
              n > largest
                ? ReplayCheck.Ok
                : largest - n >= w.size
                  ? ReplayCheck.TooOld
                  : seen.has(n)
                    ? ReplayCheck.Replayed
                    : ReplayCheck.Ok;
            expect(w.checkAndUpdate(n)).toBe(expected);
            if (expected === ReplayCheck.Ok) {
              seen.add(n);
              largest = Math.max(largest, n);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('accepts everything in order and everything within the window out of order', () => {
    const w = new ReplayWindow(2048);
    for (let i = 2047; i >= 0; i--) expect(w.checkAndUpdate(i)).toBe(ReplayCheck.Ok);
    for (let i = 0; i < 2048; i++) expect(w.check(i)).toBe(ReplayCheck.Replayed);
    expect(w.checkAndUpdate(2 ** 40)).toBe(ReplayCheck.Ok);
    expect(w.check(2047)).toBe(ReplayCheck.TooOld);
    expect(w.check(2 ** 40 - 1)).toBe(ReplayCheck.Ok);
    expect(w.check(2 ** 40)).toBe(ReplayCheck.Replayed);
  });
});
