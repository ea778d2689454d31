import { describe, expect, it } from 'vitest';
import type { AckSample, CongestionControllerOptions } from '../../src/transport/congestion/controller.js';
import { LedbatPlusPlus } from '../../src/transport/congestion/ledbat-plus-plus.js';
import { NewReno } from '../../src/transport/congestion/new-reno.js';
import { resolveConfig } from '../../src/transport/config.js';
import { jain, runModel } from './congestion-model.js';

const MSS = 1200;
const opts: CongestionControllerOptions = {
  maxDatagramSize: MSS,
  initialWindowPackets: 10,
  targetDelayMs: 60,
  periodicSlowdown: false,
  allowedIncrease: 32,
};

function ack(owd: number, sentTime: number, minRtt = 40): AckSample {
  return {
    ackedBytes: MSS,
    priorInFlight: 1e9,
    sentInFlight: 0,
    largestAckedSentTime: sentTime,
    latestRtt: 40,
    smoothedRtt: 40,
    minRtt,
    oneWayDelay: owd,
    appLimited: false,
  };
}

describe('LEDBAT++ controller (draft-irtf-iccrg-ledbat-plus-plus)', () => {
  it('is the default controller; plain RFC 6817 LEDBAT stays selectable; unknown names are refused', () => {
    expect(resolveConfig({}).congestionController).toBe('ledbat++');
    expect(resolveConfig({ congestionController: 'ledbat' }).congestionController).toBe('ledbat');
    expect(() => resolveConfig({ congestionController: 'cubic' as never })).toThrow(/congestionController/);
  });

  it('GAIN = 1 / min(16, ceil(2·TARGET / base RTT))', () => {
    const l = new LedbatPlusPlus(opts);
    l.onAck(1, ack(10, 0, 40)); // ⌈120 / 40⌉ = 3
    expect(l.currentGain).toBeCloseTo(1 / 3);
    l.onAck(2, ack(10, 1, 1)); // ⌈120 / 1⌉ capped at 16
    expect(l.currentGain).toBeCloseTo(1 / 16);
    l.onAck(3, ack(10, 2, 200)); // ⌈0.6⌉ = 1
    expect(l.currentGain).toBe(1);
  });

  it('slow start grows by GAIN per acknowledged byte and ends above 3/4 TARGET', () => {
    const l = new LedbatPlusPlus(opts);
    const w0 = l.window;
    l.onAck(1, ack(10, 0, 40));
    expect(l.window).toBeCloseTo(w0 + MSS / 3);
    for (let t = 2; t < 6; t++) l.onAck(t, ack(10 + 44, t - 1, 40)); // 44 ms < 45 ms
    expect(l.inSlowStart).toBe(true);
    for (let t = 6; t < 12; t++) l.onAck(t, ack(10 + 46, t - 1, 40));
    expect(l.inSlowStart).toBe(false);
  });

  it('above target the window falls once per RTT by W·(delay/TARGET − 1), at most by half', () => {
    const l = new LedbatPlusPlus(opts);
    l.onAck(0, ack(10, -1, 40));
    for (let t = 1; t < 5; t++) l.onAck(t, ack(10 + 90, t - 1, 40)); // leave slow start; round starts
    const w = l.window;
    // Same round (packets sent before the round began): no further decrease.
    l.onAck(5, ack(10 + 90, 0, 40));
    expect(l.window).toBe(w);
    // Next round: 90 ms is 1.5 × TARGET, so W − W/2 + GAIN·MSS.
    l.onAck(50, ack(10 + 90, 10, 40));
    expect(l.window).toBeCloseTo(w - w / 2 + MSS / 3);
    // 66 ms: −10 %.
    const w2 = l.window;
    for (let t = 51; t < 55; t++) l.onAck(t, ack(10 + 66, 5, 40));
    l.onAck(100, ack(10 + 66, 60, 40));
    expect(l.window).toBeCloseTo(w2 - 0.1 * w2 + MSS / 3, 0);
  });

  it('above target at the minimum window it paces below 2 packets per RTT, and grows back below target', () => {
    const l = new LedbatPlusPlus(opts);
    const min = 2 * MSS;
    l.onAck(0, ack(10, -1, 40));
    // 150 ms of queue (2.5 × TARGET): the window halves every round down to 2 packets, then the
    // pacing rate takes over, down to 1/8 of 2 packets per RTT.
    let t = 1;
    for (let round = 0; round < 12; round++, t += 50) l.onAck(t, ack(10 + 150, t - 1, 40));
    expect(l.window).toBe(min);
    expect(l.sendRateFraction).toBeCloseTo(LedbatPlusPlus.MIN_RATE_FRACTION);
    expect(l.pacingRate(40)).toBeCloseTo((min * LedbatPlusPlus.MIN_RATE_FRACTION) / 40);
    // Below target again: the virtual window grows by GAIN·MSS per RTT back to 2 packets, then the window.
    const before = l.sendRateFraction;
    l.onAck(t, ack(10 + 20, t - 1, 40));
    expect(l.sendRateFraction).toBeGreaterThan(before);
    for (let i = 0; i < 2000 && l.sendRateFraction < 1; i++) l.onAck(t + i, ack(10 + 20, t + i - 1, 40));
    expect(l.sendRateFraction).toBe(1);
    expect(l.pacingRate(40)).toBe(0); // the pacer's default, from the window
  });

  it('a slowdown while paced below 2 packets keeps that rate through the freeze and ramps from it', () => {
    const l = new LedbatPlusPlus({ ...opts, periodicSlowdown: true });
    const min = 2 * MSS;
    let t = 0;
    l.onAck(t++, ack(10, -1, 40));
    for (const end = t + 1000; l.inSlowStart && t < end; t++)
      l.onAck(t, ack(l.window > 60 * MSS ? 100 : 10, t - 1, 40));
    // Through the initial slowdown (queue drained), then 150 ms of queue: down to 1/8 of 2 packets.
    for (const end = t + 20_000; (l.slowdowns === 0 || l.slowdownPhase !== 'none') && t < end; t++)
      l.onAck(t, ack(10, t - 1, 40));
    for (let i = 0; i < 14 && l.slowdownPhase === 'none'; i++, t += 50) l.onAck(t, ack(10 + 150, t - 1, 40));
    expect(l.sendRateFraction).toBeCloseTo(LedbatPlusPlus.MIN_RATE_FRACTION);
    const virtual = l.window * l.sendRateFraction;
    for (const end = t + 20_000; l.slowdownPhase === 'none' && t < end; t++) l.onAck(t, ack(10 + 150, t - 40, 40));
    expect(l.slowdownPhase).toBe('frozen');
    expect(l.window * l.sendRateFraction).toBeLessThanOrEqual(virtual + 1); // the freeze did not speed us up
    // The queue drained through the freeze: the ramp may pass the old rate, up to 4× it (≥ 2 packets).
    for (const end = t + 20_000; l.slowdownPhase === 'frozen' && t < end; t++) l.onAck(t, ack(10, t - 1, 40));
    let most = 0;
    for (const end = t + 20_000; l.slowdownPhase === 'ramp' && t < end; t++) {
      l.onAck(t, ack(10, t - 1, 40));
      most = Math.max(most, l.window * l.sendRateFraction);
    }
    expect(most).toBeLessThanOrEqual(Math.max(LedbatPlusPlus.DRAINED_RAMP_FACTOR * virtual, min) + 1);
  });

  it('initial slowdown 2 RTTs after slow start: 2 packets for 2 RTTs, then slow start from the drained queue until it holds 3/4 TARGET', () => {
    const l = new LedbatPlusPlus({ ...opts, periodicSlowdown: true });
    let t = 0;
    for (; l.inSlowStart; t++) l.onAck(t, ack(l.window > 60 * MSS ? 100 : 10, t, 40));
    expect(l.slowdownPhase).toBe('waiting');
    let before = l.window;
    for (; l.slowdownPhase === 'waiting'; t++) {
      before = l.window;
      l.onAck(t, ack(10, t, 40));
    }
    expect(t).toBeGreaterThan(75); // 2 RTTs of 40 ms after slow start ended
    expect(l.slowdownPhase).toBe('frozen');
    expect(l.window).toBe(2 * MSS);
    const frozenAt = t;
    for (; l.slowdownPhase === 'frozen'; t++) l.onAck(t, ack(10, t, 40));
    expect(t - frozenAt).toBeGreaterThanOrEqual(80);
    expect(l.slowdownPhase).toBe('ramp');
    // The queue drained to empty through the freeze (a flow alone, or every flow froze): the ramp
    // ends on delay at 3/4 TARGET (deviation 2's exception), not TARGET. A link whose pipe holds the
    // old window (BDP = before, 40 ms): the queueing delay is the window above it at the link's rate.
    const rate = before / 40; // bytes per ms
    const queue = (): number => Math.max(0, (l.window - before) / rate);
    const end = t + 100_000;
    for (; l.slowdownPhase === 'ramp' && t < end; t++) l.onAck(t, ack(10 + queue(), t, 40));
    expect(l.slowdownPhase).toBe('none');
    // Left when the window put more than 45 ms in the queue; the delay filter (minimum of the last
    // 4 samples, RFC 6817 §3.4.2) lags 4 ACKs, each growing the window by at most one MSS.
    expect(queue()).toBeGreaterThan(45);
    expect(l.window).toBeLessThanOrEqual(before + 45 * rate + 4 * MSS);
    expect(l.slowdowns).toBe(1);
  });

  it('a drained ramp leaves slow start at 3/4 TARGET (50 ms ends it), not at TARGET as a normal ramp', () => {
    const l = new LedbatPlusPlus({ ...opts, periodicSlowdown: true });
    let t = 0;
    for (const end = t + 1000; l.inSlowStart && t < end; t++) l.onAck(t, ack(l.window > 60 * MSS ? 100 : 10, t, 40));
    for (const end = t + 1000; l.slowdownPhase === 'waiting' && t < end; t++) l.onAck(t, ack(10, t, 40));
    for (const end = t + 1000; l.slowdownPhase === 'frozen' && t < end; t++) l.onAck(t, ack(10, t, 40));
    expect(l.slowdownPhase).toBe('ramp');
    for (let i = 0; i < 8; i++, t++) l.onAck(t, ack(10 + 50, t, 40)); // 4 samples: the filtered delay reaches 50
    expect(l.inSlowStart).toBe(false);
    expect(l.slowdownPhase).toBe('none');
  });

  it('a ramp after a freeze through which others kept a queue returns to the old window, or to their share', () => {
    // others: the queueing delay through the freeze (theirs); at the freeze it was 50 ms (ours + theirs).
    const ramp = (others: number): { before: number; after: number } => {
      const l = new LedbatPlusPlus({ ...opts, periodicSlowdown: true });
      let t = 0;
      l.onAck(t++, ack(10, 0, 40));
      for (; l.inSlowStart; t++) l.onAck(t, ack(l.window > 60 * MSS ? 10 + 50 : 10 + 20, t, 40));
      let before = l.window;
      for (; l.slowdownPhase === 'waiting'; t++) {
        before = l.window;
        l.onAck(t, ack(10 + 50, t, 40));
      }
      for (; l.slowdownPhase === 'frozen'; t++) l.onAck(t, ack(10 + others, t, 40));
      const end = t + 100_000;
      for (; l.slowdownPhase === 'ramp' && t < end; t++) l.onAck(t, ack(10 + others, t, 40));
      return { before, after: l.window };
    };
    // Others hold 30 of the 50 ms: we held less than they did, back to our window.
    const small = ramp(30);
    expect(Math.abs(small.after - small.before)).toBeLessThan(MSS);
    // Others hold 10 of 50 ms: we sent 4× their rate; back to their rate, a quarter of our window.
    const big = ramp(10);
    expect(big.after).toBeGreaterThan(big.before / 4 - MSS);
    expect(big.after).toBeLessThan(big.before / 4 + MSS);
  });

  it("deviation 10's own-2-packets bound uses the RTT at the freeze, not the smaller one at thaw", () => {
    const l = new LedbatPlusPlus({ ...opts, periodicSlowdown: true });
    let t = 0;
    l.onAck(t++, ack(10, 0, 40));
    for (; l.inSlowStart; t++) l.onAck(t, ack(l.window > 30 * MSS ? 10 + 50 : 10 + 20, t, 40));
    let before = l.window;
    for (; l.slowdownPhase === 'waiting'; t++) {
      before = l.window;
      l.onAck(t, ack(10 + 50, t, 40));
    }
    // Our 2 packets at the pre-freeze rate (before / 40 ms) queue 80·MSS/before ms; the others hold
    // 1.5× that, under twice it (a flow alone: back to the old window). The RTT falls to 10 ms
    // through the freeze (the queue drained): at that RTT the bound would be 4× smaller.
    const others = (1.5 * 2 * MSS * 40) / before;
    expect(others).toBeGreaterThan(LedbatPlusPlus.SHARE_FLOOR * 60);
    const end = t + 100_000;
    for (; (l.slowdownPhase === 'frozen' || l.slowdownPhase === 'ramp') && t < end; t++)
      l.onAck(t, { ...ack(10 + others, t, 10), smoothedRtt: 10 });
    expect(Math.abs(l.window - before)).toBeLessThan(MSS);
  });

  it("joins another flow's slowdown: a queue that halves, by more than 7/12 TARGET, within two RTTs", () => {
    // A flow in congestion avoidance at queue q0 (rounds of 40 ms: ACKs 1 ms apart for packets sent
    // 40 ms before); then the queue falls to q1 within one RTT. Returns whether it froze (joined).
    const joins = (q0: number, q1: number): boolean => {
      const l = new LedbatPlusPlus({ ...opts, periodicSlowdown: true });
      let t = 0;
      l.onAck(t++, ack(10, 0, 40));
      for (; l.inSlowStart; t++) l.onAck(t, ack(10 + 50, t, 40));
      // Through the flow's own initial slowdown (a flow waiting for it does not join: §4.4's initial
      // slowdown is its own base measurement), then 45 ACKs at q0, long before the next slowdown.
      for (const end = t + 20_000; (l.slowdowns === 0 || l.slowdownPhase !== 'none') && t < end; t++)
        l.onAck(t, ack(10 + q0, t - 40, 40));
      expect(l.slowdownPhase).toBe('none');
      for (let i = 0; i < 45; i++, t++) l.onAck(t, ack(10 + q0, t - 40, 40));
      expect(l.joinedSlowdowns).toBe(0);
      for (let i = 0; i < 30 && l.slowdownPhase !== 'frozen'; i++, t++) l.onAck(t, ack(10 + q1, t - 40, 40));
      return l.joinedSlowdowns === 1 && l.slowdownPhase === 'frozen';
    };
    expect(joins(60, 15)).toBe(true); // a LEDBAT++ flow with 3/4 of the queue froze
    expect(joins(60, 35)).toBe(false); // not halved
    expect(joins(55, 25)).toBe(false); // halved, but by 30 ms: cubic's cut seen from an inflated base
    expect(joins(100, 70)).toBe(false); // cubic's 30 % cut of a full 100 ms bfifo
  });

  it("our own collapse to 2 packets (persistent congestion) drains the queue: not another flow's freeze", () => {
    const l = new LedbatPlusPlus({ ...opts, periodicSlowdown: true });
    let t = 0;
    l.onAck(t++, ack(10, 0, 40));
    for (; l.inSlowStart; t++) l.onAck(t, ack(10 + 50, t, 40));
    for (const end = t + 20_000; (l.slowdowns === 0 || l.slowdownPhase !== 'none') && t < end; t++)
      l.onAck(t, ack(10 + 60, t - 40, 40));
    expect(l.slowdownPhase).toBe('none');
    for (let i = 0; i < 45; i++, t++) l.onAck(t, ack(10 + 60, t - 40, 40));
    l.onPersistentCongestion(t);
    // The queue falls from 60 to 15 ms within an RTT, as another flow's freeze would make it; the
    // ACKs of packets sent before the collapse (the first 40 ms) are ignored, those after it count.
    for (let i = 0; i < 200; i++, t++) l.onAck(t, ack(10 + 15, t - 40, 40));
    expect(l.joinedSlowdowns).toBe(0);
    expect(l.slowdownPhase).toBe('none');
  });

  it('a loss while the queue is not building does not cut the window; one with the queue up halves it', () => {
    const l = new LedbatPlusPlus(opts);
    for (let t = 0; t < 10; t++) l.onAck(t, ack(10, t, 40));
    const w = l.window;
    l.onLoss(20, MSS, 15, 0);
    expect(l.window).toBe(w);
    expect(l.randomLosses).toBe(1);
    for (let t = 21; t < 30; t++) l.onAck(t, ack(10 + 30, t, 40)); // queueing delay 30 ms > TARGET/4
    const w2 = l.window;
    l.onLoss(40, MSS, 35, 0);
    expect(l.window).toBeCloseTo(w2 / 2);
    expect(l.inSlowStart).toBe(false);
  });

  it('a congestive loss below TARGET lowers the target to a quarter of its queueing delay (≥ TARGET/8) for 30 s', () => {
    const l = new LedbatPlusPlus(opts);
    l.onAck(0, ack(10, 0, 40));
    for (let t = 1; t < 10; t++) l.onAck(t, ack(10 + 40, t, 40)); // 40 ms: above TARGET/4, below TARGET
    expect(l.targetDelay).toBe(60);
    l.onLoss(20, MSS, 15, 0);
    expect(l.targetDelay).toBe(10);
    // 20 ms of queueing delay is now above target: a multiplicative decrease per RTT.
    const w = l.window;
    for (let t = 21; t < 30; t++) l.onAck(t, ack(10 + 20, t, 40));
    expect(l.window).toBeLessThan(w);
    expect(l.currentGain).toBe(1 / 16);
    l.onAck(30_100, ack(10 + 20, 30_099, 40));
    expect(l.targetDelay).toBe(60);
  });

  it('a loss is judged by the fullest recent sample: sparse samples whose minimum is low do not lower the target', () => {
    const l = new LedbatPlusPlus(opts);
    l.onAck(0, ack(10, 0, 40));
    // The last samples: 20, 90, 95, 95 ms of queue; the filtered (minimum) delay is 20 ms, but the
    // buffer overflowed at 95 ms, above TARGET: an ordinary congestive loss, the target stays.
    for (const [t, q] of [
      [1, 20],
      [2, 90],
      [3, 95],
      [4, 95],
    ] as const)
      l.onAck(t, ack(10 + q, t, 40));
    expect(l.queueingDelay).toBe(20);
    l.onLoss(5, MSS, 4, 0);
    expect(l.targetDelay).toBe(60);
  });

  it('a loss that lowered the target is judged again when the base falls (we started inside a queue)', () => {
    const l = new LedbatPlusPlus(opts);
    // Base learnt inside another flow's 50 ms queue (owd 60 = true 10 + 50).
    l.onAck(0, ack(60, 0, 40));
    for (let t = 1; t < 10; t++) l.onAck(t, ack(60 + 30, t, 40));
    l.onLoss(20, MSS, 15, 0); // at 30 ms by our inflated base: below TARGET
    expect(l.targetDelay).toBeLessThan(60);
    // The other flow drains: owd 10. The loss was at 80 ms above the true base: not below TARGET.
    l.onAck(30, ack(10, 29, 40));
    expect(l.targetDelay).toBe(60);
    // A base that falls less (loss at 30 + 20 = 50 ms < TARGET) keeps the lowered target.
    const m = new LedbatPlusPlus(opts);
    m.onAck(0, ack(60, 0, 40));
    for (let t = 1; t < 10; t++) m.onAck(t, ack(60 + 30, t, 40));
    m.onLoss(20, MSS, 15, 0);
    m.onAck(30, ack(40, 29, 40));
    expect(m.targetDelay).toBeLessThan(60);
  });

  it('a queue that stays at TARGET through a freeze, with no drain for 10–20 s, is not ours: it yields', () => {
    const run = (drainAt: number): LedbatPlusPlus => {
      const l = new LedbatPlusPlus({ ...opts, periodicSlowdown: true });
      let t = 0;
      l.onAck(t++, ack(10, 0, 40));
      for (; l.inSlowStart; t++) l.onAck(t, ack(10 + 50, t, 40)); // leaves slow start at 50 ms
      // A loss-based neighbour holds the queue at ~62 ms; one drain to 0 at drainAt (if any).
      for (; t < 21_000 || l.slowdownPhase !== 'frozen'; t++) l.onAck(t, ack(t === drainAt ? 10 : 10 + 62, t, 40));
      for (; l.slowdownPhase === 'frozen'; t++) l.onAck(t, ack(10 + 62, t, 40));
      return l;
    };
    const yielded = run(-1);
    expect(yielded.targetDelay).toBeLessThan(60);
    expect(yielded.slowdownPhase).not.toBe('ramp');
    expect(yielded.window).toBe(2 * MSS);
    // Another LEDBAT++ flow's slowdown drained the queue 5 s before: a neighbour that yields.
    const neighbour = run(16_000);
    expect(neighbour.targetDelay).toBe(60);
  });

  it('a spurious loss response (reordering) is undone', () => {
    const l = new LedbatPlusPlus(opts);
    l.onAck(0, ack(10, 0, 40));
    for (let t = 1; t < 10; t++) l.onAck(t, ack(10 + 30, t, 40));
    const w = l.window;
    l.onLoss(20, MSS, 15, 0);
    expect(l.window).toBeCloseTo(w / 2);
    l.onSpuriousLoss(25);
    expect(l.window).toBeCloseTo(w);
    expect(l.inSlowStart).toBe(true);
    expect(l.targetDelay).toBe(60);
  });
});

/**
 * Scenarios of bench:bottleneck in the packet-level model (congestion-model.ts): 20 Mbit/s, 100 ms of
 * drop-tail queue, 1 ms base RTT. They check the controller's logic; bench:bottleneck measures the
 * real stack at a real (htb + bfifo) bottleneck.
 */
describe('LEDBAT++ at a modelled 20 Mbit/s bottleneck', () => {
  const link = { rateMbps: 20, queueBytes: 250_000, baseDelayMs: 0.5 };
  const ledbat = (): LedbatPlusPlus => new LedbatPlusPlus({ ...opts, periodicSlowdown: true });

  it('alone: fills the link with the queue near the 60 ms target', () => {
    const r = runModel({ ...link, durationMs: 30_000 }, [{ controller: ledbat(), startMs: 0, clockOffsetMs: 123 }]);
    expect(r.mbps(0, 10_000, 30_000)).toBeGreaterThan(0.95 * 20);
    const late = r.queueDelayMs.slice(20).sort((a, b) => a - b);
    expect(late[Math.floor(late.length * 0.95)]).toBeLessThan(66);
    expect(r.drops).toBe(0);
  });

  it('yields to a loss-based flow whichever starts first', () => {
    for (const [renoStart, ledbatStart] of [
      [0, 3000],
      [3000, 0],
    ] as const) {
      const r = runModel({ ...link, durationMs: 30_000 }, [
        { controller: new NewReno(opts), startMs: renoStart },
        { controller: ledbat(), startMs: ledbatStart, clockOffsetMs: -5000 },
      ]);
      expect(r.mbps(0, 10_000, 30_000)).toBeGreaterThan(0.9 * 20);
    }
  });

  it('two flows started together share the link', () => {
    const r = runModel({ ...link, durationMs: 30_000 }, [
      { controller: ledbat(), startMs: 0, clockOffsetMs: 10 },
      { controller: ledbat(), startMs: 0, clockOffsetMs: 999 },
    ]);
    const shares = [r.mbps(0, 10_000, 30_000), r.mbps(1, 10_000, 30_000)];
    expect(jain(shares)).toBeGreaterThan(0.95);
  });

  it('5 % random loss with no queue growth keeps most of the link', () => {
    const r = runModel({ ...link, durationMs: 20_000, randomLoss: 0.05, seed: 5 }, [
      { controller: ledbat(), startMs: 0 },
    ]);
    expect(r.mbps(0, 5_000, 20_000)).toBeGreaterThan(0.5 * 20);
  });
});

/**
 * Issue #16's "second flow 10 s after the first" in the model: 40 s runs, Jain's index over the
 * last 20 s. The latecomer starts into the incumbent's standing queue (~60 ms), so its first base
 * delay contains that queue; the start time and the receivers' clock offsets vary (a fixed set
 * drawn from a seeded generator) so the test is not tuned to one phase of the incumbent's slowdowns.
 */
describe('LEDBAT++ latecomer at a modelled 20 Mbit/s bottleneck (issue #16)', () => {
  const ledbat = (): LedbatPlusPlus => new LedbatPlusPlus({ ...opts, periodicSlowdown: true });
  const cases = (seed: number, n: number): Array<{ lateMs: number; offsets: [number, number] }> => {
    let x = seed;
    const next = (): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 2 ** 32;
    };
    return Array.from({ length: n }, () => ({
      lateMs: Math.round(8000 + 4000 * next()),
      offsets: [Math.round(2000 * next() - 1000), Math.round(2000 * next() - 1000)],
    }));
  };
  const shares = (baseDelayMs: number, lateMs: number, offsets: [number, number]): number[] => {
    const r = runModel({ rateMbps: 20, queueBytes: 250_000, baseDelayMs, durationMs: 40_000 }, [
      { controller: ledbat(), startMs: 0, clockOffsetMs: offsets[0] },
      { controller: ledbat(), startMs: lateMs, clockOffsetMs: offsets[1] },
    ]);
    return [r.mbps(0, 20_000, 40_000), r.mbps(1, 20_000, 40_000)];
  };
  /**
   * Runs the cases (10 s late, and 8 drawn from `seed`); returns those with Jain below `minEach` or
   * the link below `busy`, and the median Jain.
   */
  const run = (baseDelayMs: number, seed: number, minEach: number, busy: number): { bad: string[]; median: number } => {
    const bad: string[] = [];
    const all: number[] = [];
    for (const { lateMs, offsets } of [
      { lateMs: 10_000, offsets: [10, -777] as [number, number] },
      ...cases(seed, 8),
    ]) {
      const s = shares(baseDelayMs, lateMs, offsets);
      const j = jain(s);
      all.push(j);
      if (j < minEach || (s[0] as number) + (s[1] as number) < busy * 20)
        bad.push(`late ${lateMs} ms: ${s.map((v) => v.toFixed(2)).join(' / ')} Mbit/s, Jain ${j.toFixed(3)}`);
    }
    all.sort((a, b) => a - b);
    return { bad, median: all[Math.floor(all.length / 2)] as number };
  };

  // Seeds 1, 2, 3 and 7 (the 10 s case and 8 drawn per seed): the median is held to issue #16's
  // 0.95, every case to 0.9 and a busy link (≥ 95 %), as for the 20–40 ms RTTs below.
  for (const baseDelayMs of [0.25, 0.5]) {
    it(`sub-ms base RTT (${2 * baseDelayMs} ms): a flow 8–12 s late shares the link (median Jain ≥ 0.95, each ≥ 0.9)`, () => {
      for (const seed of [1, 2, 3, 7]) {
        const { bad, median } = run(baseDelayMs, seed, 0.9, 0.95);
        expect(bad).toEqual([]);
        expect(median).toBeGreaterThanOrEqual(0.95);
      }
    });
  }

  // With a 20–40 ms base RTT the ramps of two flows that freeze together start up to an RTT apart
  // and slow start keeps that lead (GAIN 1/3–1/4 per RTT), so one drawn case in 9 ends at 0.91:
  // the median is held to issue #16's 0.95 (its targets are medians), every case to 0.9.
  for (const baseDelayMs of [10, 20]) {
    it(`${2 * baseDelayMs} ms base RTT: a flow 8–12 s late shares the link (median Jain ≥ 0.95, each ≥ 0.9)`, () => {
      const { bad, median } = run(baseDelayMs, 11, 0.9, 0.9);
      expect(bad).toEqual([]);
      expect(median).toBeGreaterThanOrEqual(0.95);
    });
  }
});
