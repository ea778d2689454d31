/**
 * fast-check arbitraries for property tests over the simulator: a seed and an impaired link.
 *
 *   fc.assert(fc.property(simSeed(), impairedLink(), (seed, link) => {
 *     const net = new SimNetwork({ seed, link });
 *     ... set up, run ...
 *     withReproduction(net, () => expect(received).toEqual(sent));
 *   }));
 */
import fc from 'fast-check';
import type { LinkConfig } from '../../src/sim/link.js';

export interface ImpairmentLimits {
  /** Upper bound of the mean loss rate, random or bursty (default 0.3). */
  readonly maxLossRate?: number;
  /** Upper bound of reorderRate (default 0.2). */
  readonly maxReorderRate?: number;
  /** Upper bound of duplicateRate (default 0.1). */
  readonly maxDuplicateRate?: number;
  /** Upper bound of corruptRate (default 0.02; corrupted datagrams should be rejected, i.e. extra loss). */
  readonly maxCorruptRate?: number;
  /** Also draw a bottleneck (bandwidth 0.5–20 Mbit/s, queue 16–256 KiB); default false. */
  readonly bottleneck?: boolean;
}

export const simSeed = (): fc.Arbitrary<number> => fc.integer({ min: 0, max: 0x7fffffff });

const rate = (max: number) => fc.double({ min: 0, max, noNaN: true });

/**
 * A link with delay 1–150 ms, jitter 0–20 ms and loss either independent or Gilbert–Elliott bursts
 * (mean burst 2–10 datagrams) whose mean stays ≤ maxLossRate, plus reordering, duplication, corruption.
 */
export function impairedLink(limits: ImpairmentLimits = {}): fc.Arbitrary<LinkConfig> {
  const maxLoss = limits.maxLossRate ?? 0.3;
  const loss = fc.oneof(
    rate(maxLoss).map((lossRate): LinkConfig => ({ lossRate })),
    fc.tuple(rate(maxLoss), fc.double({ min: 0.1, max: 0.5, noNaN: true })).map(
      ([mean, pBadToGood]): LinkConfig => ({
        // Stationary P(bad) = p / (p + r) = mean.
        burstLoss: { pGoodToBad: mean >= 1 ? 1 : Math.min(1, (mean * pBadToGood) / (1 - mean)), pBadToGood },
      }),
    ),
  );
  const bottleneck: fc.Arbitrary<LinkConfig> = limits.bottleneck
    ? fc.record({
        bandwidthBps: fc.integer({ min: 500_000, max: 20_000_000 }),
        queueBytes: fc.integer({ min: 16 * 1024, max: 256 * 1024 }),
      })
    : fc.constant({});
  return fc
    .tuple(
      fc.record({
        delayMs: fc.integer({ min: 1, max: 150 }),
        jitterMs: fc.integer({ min: 0, max: 20 }),
        reorderRate: rate(limits.maxReorderRate ?? 0.2),
        duplicateRate: rate(limits.maxDuplicateRate ?? 0.1),
        corruptRate: rate(limits.maxCorruptRate ?? 0.02),
      }),
      loss,
      bottleneck,
    )
    .map(([base, lossPart, bottleneckPart]): LinkConfig => ({ ...base, ...lossPart, ...bottleneckPart }));
}
