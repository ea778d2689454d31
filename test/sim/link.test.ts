import { describe, expect, it } from 'vitest';
import { Link, type LinkConfig, type LinkDelivery } from '../../src/sim/link.js';
import { SimRandom } from '../../src/sim/random.js';

const SEEDS = [1, 2, 3];

interface Arrival extends LinkDelivery {
  readonly seq: number;
  readonly sentAt: number;
}

/** Sends `count` numbered datagrams of `size` bytes, one every `gapMs`, and collects every arrival. */
function drive(
  config: LinkConfig,
  seed: number,
  count: number,
  opts: { gapMs?: number; size?: (i: number) => number } = {},
) {
  const link = new Link(config, new SimRandom(seed, 'link-test'));
  const arrivals: Arrival[] = [];
  const fates: (string | null)[] = [];
  for (let seq = 0; seq < count; seq++) {
    const size = opts.size?.(seq) ?? 100;
    const data = new Uint8Array(size);
    if (size >= 4) new DataView(data.buffer).setUint32(0, seq);
    const sentAt = 1000 + seq * (opts.gapMs ?? 1);
    const outcome = link.send(data, sentAt);
    fates.push(outcome.dropped);
    for (const d of outcome.deliveries) arrivals.push({ ...d, seq, sentAt });
  }
  // Arrival order; ties in send order, as the network's event queue does.
  const ordered = arrivals
    .map((a, i) => ({ a, i }))
    .sort((x, y) => x.a.at - y.a.at || x.i - y.i)
    .map((x) => x.a);
  return { link, arrivals, ordered, fates };
}

/** Lengths of the runs of consecutive lost datagrams. */
function lossRuns(fates: readonly (string | null)[]): number[] {
  const runs: number[] = [];
  let run = 0;
  for (const fate of fates) {
    if (fate !== null) run++;
    else if (run > 0) {
      runs.push(run);
      run = 0;
    }
  }
  if (run > 0) runs.push(run);
  return runs;
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('Link', () => {
  it('a default link delivers every datagram intact, in order, after exactly delayMs', () => {
    const { arrivals, link } = drive({ delayMs: 25 }, 1, 1000);
    expect(arrivals).toHaveLength(1000);
    const bad = arrivals.filter(
      (a, i) =>
        a.seq !== i ||
        a.at - a.sentAt !== 25 ||
        a.duplicate ||
        a.corrupted ||
        new DataView(a.data.buffer).getUint32(0) !== i,
    );
    expect(bad).toEqual([]);
    expect(link.stats).toMatchObject({ sent: 1000, delivered: 1000, bytesSent: 100_000, bytesDelivered: 100_000 });
  });

  it('delivers a copy: mutating the sent buffer afterwards does not change what arrives', () => {
    const link = new Link({}, new SimRandom(1));
    const data = new Uint8Array([1, 2, 3]);
    const { deliveries } = link.send(data, 0);
    data[0] = 9;
    expect([...deliveries[0]!.data]).toEqual([1, 2, 3]);
  });

  it.each(SEEDS)('random loss matches lossRate (seed %i)', (seed) => {
    const n = 10_000;
    for (const rate of [0.01, 0.1, 0.3]) {
      const { link, arrivals } = drive({ lossRate: rate }, seed, n);
      // σ = sqrt(p(1-p)/n) ≤ 0.0046; allow > 4σ.
      expect(Math.abs(link.stats.dropped.random / n - rate)).toBeLessThan(0.02);
      expect(arrivals).toHaveLength(n - link.stats.dropped.random);
    }
  });

  it.each(SEEDS)('Gilbert–Elliott loss comes in bursts of mean length 1/pBadToGood (seed %i)', (seed) => {
    const n = 30_000;
    const burstLoss = { pGoodToBad: 0.01, pBadToGood: 0.1 };
    const { link, fates } = drive({ burstLoss }, seed, n);
    const stationaryBad = 0.01 / (0.01 + 0.1); // ≈ 0.091
    expect(Math.abs(link.stats.dropped.burst / n - stationaryBad)).toBeLessThan(0.025);
    const runs = lossRuns(fates);
    expect(mean(runs)).toBeGreaterThan(8);
    expect(mean(runs)).toBeLessThan(12);
    // The same average loss rate drawn independently has runs of ≈ 1/(1-p) ≈ 1.1.
    const bernoulli = drive({ lossRate: link.stats.dropped.burst / n }, seed, n);
    expect(mean(lossRuns(bernoulli.fates))).toBeLessThan(1.3);
  });

  it('Gilbert–Elliott honours lossInBad and lossInGood', () => {
    const n = 20_000;
    const { link } = drive(
      { burstLoss: { pGoodToBad: 0.05, pBadToGood: 0.05, lossInBad: 0.5, lossInGood: 0.1 } },
      4,
      n,
    );
    // Half the time in each state: 0.5·0.5 + 0.5·0.1 = 0.3.
    expect(Math.abs(link.stats.dropped.burst / n - 0.3)).toBeLessThan(0.04);
  });

  it.each(SEEDS)('duplicates match duplicateRate and arrive as identical copies (seed %i)', (seed) => {
    const n = 10_000;
    const { link, arrivals } = drive({ delayMs: 5, duplicateRate: 0.1 }, seed, n);
    expect(Math.abs(link.stats.duplicated / n - 0.1)).toBeLessThan(0.015);
    const dups = arrivals.filter((a) => a.duplicate);
    expect(dups).toHaveLength(link.stats.duplicated);
    expect(arrivals).toHaveLength(n + dups.length);
    const originals = new Map(arrivals.filter((a) => !a.duplicate).map((a) => [a.seq, a]));
    const same = (x: Uint8Array, y: Uint8Array) => x !== y && x.length === y.length && x.every((b, i) => b === y[i]);
    const bad = dups.filter((dup) => {
      const original = originals.get(dup.seq)!;
      return dup.at !== original.at || !same(dup.data, original.data);
    });
    expect(bad).toEqual([]);
  });

  it.each(SEEDS)('corruption flips exactly one bit in corruptRate of the copies (seed %i)', (seed) => {
    const n = 10_000;
    const { link, arrivals } = drive({ corruptRate: 0.2 }, seed, n, { size: () => 64 });
    expect(Math.abs(link.stats.corrupted / n - 0.2)).toBeLessThan(0.02);
    const flippedPositions = new Set<number>();
    let corrupted = 0;
    let wrong = 0;
    for (const a of arrivals) {
      const expected = new Uint8Array(64);
      new DataView(expected.buffer).setUint32(0, a.seq);
      let bits = 0;
      for (let i = 0; i < 64; i++) {
        let x = a.data[i]! ^ expected[i]!;
        if (x) flippedPositions.add(i);
        for (; x; x &= x - 1) bits++;
      }
      if (bits !== (a.corrupted ? 1 : 0)) wrong++;
      if (a.corrupted) corrupted++;
    }
    expect(wrong).toBe(0);
    expect(corrupted).toBe(link.stats.corrupted);
    expect(flippedPositions.size).toBe(64); // flips land all over the datagram
  });

  it('corrupting an empty datagram is a no-op', () => {
    const { arrivals } = drive({ corruptRate: 1 }, 1, 10, { size: () => 0 });
    expect(arrivals.every((a) => a.data.length === 0 && !a.corrupted)).toBe(true);
  });

  it.each(SEEDS)('reorderRate holds datagrams back so later ones overtake them (seed %i)', (seed) => {
    const n = 10_000;
    const { link, ordered } = drive({ delayMs: 20, reorderRate: 0.1 }, seed, n, { gapMs: 1 });
    expect(Math.abs(link.stats.reordered / n - 0.1)).toBeLessThan(0.015);
    let maxSeen = -1;
    let late = 0;
    for (const a of ordered) {
      if (a.seq < maxSeen) late++;
      maxSeen = Math.max(maxSeen, a.seq);
    }
    // Held for 10..20 ms with a datagram every 1 ms: every held datagram is overtaken.
    expect(late).toBe(link.stats.reordered);
    expect(Math.max(...ordered.map((a) => a.at - a.sentAt))).toBeLessThanOrEqual(40);
  });

  it('jitter alone delays within [delay, delay + jitter] and never reorders', () => {
    const { ordered } = drive({ delayMs: 20, jitterMs: 30 }, 7, 5000, { gapMs: 1 });
    const delays = ordered.map((a) => a.at - a.sentAt);
    expect(ordered.map((a) => a.seq)).toEqual([...Array(5000).keys()]);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(20);
    expect(Math.max(...delays)).toBeLessThanOrEqual(50);
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(25); // it does vary
  });

  it('bandwidth limits the delivery rate and a finite queue drops at capacity (drop-tail)', () => {
    // 1 Mbit/s bottleneck, 1000-byte datagrams (8 ms each) offered every 4 ms (2 Mbit/s) for 40 s.
    const n = 10_000;
    const config: LinkConfig = { delayMs: 10, bandwidthBps: 1_000_000, queueBytes: 20_000 };
    const { link, ordered } = drive(config, 1, n, { gapMs: 4, size: () => 1000 });
    const first = ordered[0]!;
    const last = ordered[ordered.length - 1]!;
    const rateBps = ((ordered.length - 1) * 1000 * 8 * 1000) / (last.at - first.at);
    expect(Math.abs(rateBps / 1_000_000 - 1)).toBeLessThan(0.01);
    expect(Math.abs(link.stats.dropped.queue / n - 0.5)).toBeLessThan(0.01);
    expect(link.stats.queueHighWaterBytes).toBeLessThanOrEqual(20_000 + 1e-6);
    expect(link.stats.queueHighWaterBytes).toBeGreaterThan(19_000);
    // Queueing delay is observable: up to queueBytes·8/bps = 160 ms on top of 8 ms + 10 ms.
    const delays = ordered.map((a) => a.at - a.sentAt);
    expect(delays[0]).toBe(18);
    expect(Math.max(...delays)).toBeGreaterThan(160);
    expect(Math.max(...delays)).toBeLessThanOrEqual(178 + 1e-6);
    expect(link.stats.maxQueueDelayMs).toBeGreaterThan(150);
    expect(ordered.map((a) => a.seq)).toEqual([...ordered.map((a) => a.seq)].sort((x, y) => x - y));
  });

  it('an unbounded bottleneck queue never drops; delay grows with the backlog, then drains', () => {
    const link = new Link({ delayMs: 0, bandwidthBps: 8_000 }, new SimRandom(1)); // 1 byte per ms
    const at = (now: number) => link.send(new Uint8Array(100), now).deliveries[0]!.at;
    expect(at(0)).toBe(100);
    expect(at(0)).toBe(200);
    expect(at(0)).toBe(300);
    expect(link.backlogBytes(150)).toBeCloseTo(150);
    expect(at(1000)).toBe(1100); // drained while idle
    expect(link.stats.dropped.queue).toBe(0);
  });

  it('MTU drops exactly the datagrams larger than mtu', () => {
    const { link, arrivals } = drive({ mtu: 1200 }, 1, 201, { size: (i) => 1100 + i });
    expect(link.stats.dropped.mtu).toBe(100);
    expect(Math.max(...arrivals.map((a) => a.data.length))).toBe(1200);
  });

  it('impairments draw from separate streams: enabling duplication does not change which are lost', () => {
    const base = drive({ lossRate: 0.2, delayMs: 5, jitterMs: 5 }, 9, 2000);
    const more = drive({ lossRate: 0.2, delayMs: 5, jitterMs: 5, duplicateRate: 0.3, corruptRate: 0.1 }, 9, 2000);
    expect(more.fates).toEqual(base.fates);
  });

  it('configure() changes behaviour mid-run (an outage) and keeps the stats', () => {
    const link = new Link({ delayMs: 1 }, new SimRandom(1));
    link.send(new Uint8Array(1), 0);
    link.configure({ delayMs: 1, lossRate: 1 });
    expect(link.send(new Uint8Array(1), 1).dropped).toBe('random');
    expect(link.stats).toMatchObject({ sent: 2, delivered: 1 });
  });

  it('rejects nonsense configs', () => {
    const r = new SimRandom(1);
    expect(() => new Link({ lossRate: 1.5 }, r)).toThrow(RangeError);
    expect(() => new Link({ delayMs: -1 }, r)).toThrow(RangeError);
    expect(() => new Link({ bandwidthBps: 0 }, r)).toThrow(RangeError);
    expect(() => new Link({ burstLoss: { pGoodToBad: 2, pBadToGood: 0.1 } }, r)).toThrow(RangeError);
  });
});
