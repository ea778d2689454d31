import { describe, expect, it } from 'vitest';
import type {
  AckSample,
  CongestionController,
  CongestionControllerOptions,
} from '../../src/transport/congestion/controller.js';
import { Ledbat } from '../../src/transport/congestion/ledbat.js';
import { NewReno } from '../../src/transport/congestion/new-reno.js';
import { Pacer } from '../../src/transport/pacer.js';
import { ReceiveFlowControl } from '../../src/transport/flow-control.js';
import { B, drain, makePair, pattern } from './helpers.js';

const MSS = 1200;
const opts: CongestionControllerOptions = {
  maxDatagramSize: MSS,
  initialWindowPackets: 10,
  targetDelayMs: 60,
  periodicSlowdown: false,
};

function ack(owd: number, bytes = MSS, rtt = 40, sentTime = 0): AckSample {
  return {
    ackedBytes: bytes,
    priorInFlight: 1e9,
    sentInFlight: 0,
    largestAckedSentTime: sentTime,
    latestRtt: rtt,
    smoothedRtt: rtt,
    minRtt: 40,
    oneWayDelay: owd,
    appLimited: false,
  };
}

describe('LEDBAT (RFC 6817 + LEDBAT++ parts)', () => {
  it('grows while the queueing delay is below target', () => {
    const l = new Ledbat(opts);
    const w0 = l.window;
    for (let i = 0; i < 200; i++) l.onAck(i, ack(20 + (i % 3)));
    expect(l.window).toBeGreaterThan(w0);
    expect(l.queueingDelay).toBeLessThan(5);
  });

  it('shrinks when the one-way delay rises above base + target', () => {
    const l = new Ledbat(opts);
    for (let i = 0; i < 300; i++) l.onAck(i, ack(20));
    const grown = l.window;
    expect(l.inSlowStart).toBe(true);
    for (let i = 300; i < 900; i++) l.onAck(i, ack(20 + 150));
    expect(l.queueingDelay).toBeCloseTo(150);
    expect(l.inSlowStart).toBe(false);
    expect(l.window).toBeLessThan(grown / 2);
    expect(l.window).toBeGreaterThanOrEqual(2 * MSS);
  });

  it('the base delay is the minimum: a constant clock offset cancels', () => {
    const a = new Ledbat(opts);
    const b = new Ledbat(opts);
    for (let i = 0; i < 400; i++) {
      const q = i < 200 ? 0 : 80;
      a.onAck(i, ack(10 + q));
      b.onAck(i, ack(-5_000_000 + 10 + q));
    }
    expect(b.queueingDelay).toBeCloseTo(a.queueingDelay);
    expect(b.window).toBeCloseTo(a.window);
  });

  it('halves once per RTT on loss', () => {
    const l = new Ledbat(opts);
    for (let i = 0; i < 100; i++) l.onAck(i, ack(20));
    const w = l.window;
    l.onLoss(200, MSS, 150, 0);
    expect(l.window).toBeCloseTo(w / 2);
    l.onLoss(201, MSS, 160, 0); // sent before the reduction: same congestion event
    expect(l.window).toBeCloseTo(w / 2);
    l.onLoss(400, MSS, 300, 0);
    expect(l.window).toBeCloseTo(w / 4);
  });

  it('periodic slowdown drops to 2 packets after slow start and ramps back', () => {
    const l = new Ledbat({ ...opts, periodicSlowdown: true });
    let t = 0;
    for (; t < 2000 && l.inSlowStart; t++) l.onAck(t, ack(20 + (l.window > 60 * MSS ? 80 : 0), MSS, 40, t));
    expect(l.inSlowStart).toBe(false);
    let minSeen = Infinity;
    for (let i = 0; i < 400; i++, t++) {
      l.onAck(t, ack(20, MSS, 40, t));
      minSeen = Math.min(minSeen, l.window);
    }
    expect(minSeen).toBe(2 * MSS);
  });
});

describe('NewReno (pluggability)', () => {
  it('slow start doubles, loss halves', () => {
    const r = new NewReno(opts);
    const w0 = r.window;
    r.onAck(1, ack(NaN, w0));
    expect(r.window).toBe(2 * w0);
    r.onLoss(2, MSS, 1, 0);
    expect(r.window).toBe(w0);
  });

  it('a custom controller plugs in through config without touching recovery', () => {
    const calls: string[] = [];
    const factory = (o: CongestionControllerOptions): CongestionController => {
      const inner = new NewReno(o);
      return {
        name: 'custom',
        get window() {
          return inner.window;
        },
        queueingDelay: 0,
        onPacketSent: (..._a) => (calls.push('sent'), inner.onPacketSent()),
        onAck: (now, s) => (calls.push('ack'), inner.onAck(now, s)),
        onLoss: (now, b, t) => (calls.push('loss'), inner.onLoss(now, b, t)),
        onPersistentCongestion: (now) => inner.onPersistentCongestion(now),
        pacingRate: () => 0,
      };
    };
    for (const cc of ['newreno', factory] as const) {
      calls.length = 0;
      const p = makePair({ link: { delayMs: 10, lossRate: 0.05 }, clientConfig: { congestionController: cc } });
      p.net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0);
      const id = p.conn.openStream(false);
      const data = pattern(3, 0, 100_000);
      p.conn.write(id, data);
      p.conn.finish(id);
      const got: number[] = [];
      p.net.runUntil(() => p.events(B, 'stream-opened').length > 0 && drain(p.serverConn(), id, got).fin);
      expect(got.length).toBe(data.length);
      if (typeof cc === 'function') {
        expect(calls).toContain('ack');
        expect(calls).toContain('sent');
      }
    }
  });
});

describe('Pacer', () => {
  it('spreads a window over the RTT after the initial burst', () => {
    const p = new Pacer(MSS);
    p.update({ window: 100 * MSS, pacingRate: () => 0 }, { smoothedRtt: 100 }); // 1.25 · 120 kB / 100 ms = 1500 B/ms
    let now = 0;
    let sent = 0;
    while (now < 100) {
      const at = p.nextSendTime(now, MSS);
      if (at > now) {
        now = at;
        continue;
      }
      p.onSent(now, MSS);
      sent++;
    }
    // burst (10 packets) + ~1500 B/ms · 100 ms / 1200 B ≈ 135 packets, never the whole window at t=0
    expect(sent).toBeGreaterThan(100);
    expect(sent).toBeLessThan(160);
    expect(new Pacer(MSS).nextSendTime(0, MSS)).toBe(0);
  });
});

describe('Flow-control window auto-tuning', () => {
  it('doubles the window when updates come faster than 2 RTT, up to the cap', () => {
    const f = new ReceiveFlowControl(1000, 8000);
    let now = 0;
    let limits = 0;
    for (let i = 0; i < 100; i++) {
      now += 1; // consuming fast relative to RTT 50
      f.onReceived(100);
      if (f.onConsumed(100, now, 50)) limits++;
    }
    expect(f.window).toBe(8000);
    expect(f.limit).toBeGreaterThanOrEqual(f.consumed + 4000);
    expect(limits).toBeGreaterThan(0);
  });

  it('keeps the window when updates are slow (application-limited reader)', () => {
    const f = new ReceiveFlowControl(1000, 8000);
    let now = 0;
    for (let i = 0; i < 100; i++) {
      now += 1000;
      f.onReceived(100);
      f.onConsumed(100, now, 50);
    }
    expect(f.window).toBe(1000);
  });

  it('rejects data beyond the advertised limit', () => {
    const f = new ReceiveFlowControl(1000, 8000);
    expect(f.onReceived(1000)).toBe(true);
    expect(f.onReceived(1)).toBe(false);
  });
});
