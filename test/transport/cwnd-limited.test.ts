/**
 * RFC 9002 §7.8 (don't grow an under-used window) and RFC 6817 §2.4.2 (LEDBAT's ALLOWED_INCREASE
 * cap), through the controller interface: recovery marks each in-flight packet cwnd-limited or not
 * at send time, and controllers grow only on ACKs of cwnd-limited packets.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type {
  AckSample,
  CongestionController,
  CongestionControllerOptions,
} from '../../src/transport/congestion/controller.js';
import { Ledbat } from '../../src/transport/congestion/ledbat.js';
import { NewReno } from '../../src/transport/congestion/new-reno.js';
import { resolveConfig } from '../../src/transport/config.js';
import type { TransportConnection } from '../../src/transport/connection.js';
import { LossDetection } from '../../src/transport/recovery/loss-detection.js';
import { RttEstimator } from '../../src/transport/recovery/rtt-estimator.js';
import { B, drain, makePair, pattern } from './helpers.js';

const MSS = 1200;
const opts: CongestionControllerOptions = {
  maxDatagramSize: MSS,
  initialWindowPackets: 10,
  targetDelayMs: 60,
  periodicSlowdown: false,
};
const controllers: Array<[string, () => CongestionController]> = [
  ['ledbat', () => new Ledbat(opts)],
  ['newreno', () => new NewReno(opts)],
];

/**
 * A sender over LossDetection with a fixed 40 ms RTT and 20 ms one-way delay (no queueing). It keeps
 * at most `appLimitPackets` in flight (the application, CPU or flow control limit) and never more than
 * the window allows; the peer acknowledges every second packet. Returns the largest window seen.
 */
function run(cc: CongestionController, appLimitPackets: number, acks: number, pacingLimited = false): number {
  const ld = new LossDetection(new RttEstimator(40), cc, { onFrameAcked() {}, onFrameLost() {} }, MSS);
  const queue: Array<{ pn: number; t: number }> = [];
  let now = 0;
  let maxWindow = cc.window;
  for (let i = 0; i < acks; i++) {
    while (queue.length < appLimitPackets && ld.bytesInFlight + MSS <= cc.window) {
      if (pacingLimited) ld.onPacingHeld(true);
      const p = ld.sent.acquire();
      p.pn = ld.nextPn;
      p.timeSent = now;
      p.size = MSS;
      p.ackEliciting = true;
      p.inFlight = true;
      ld.onPacketSent(p);
      queue.push({ pn: p.pn, t: now });
    }
    const a = queue.shift();
    const b = queue.shift();
    const last = b ?? a;
    if (a === undefined || last === undefined) throw new Error('nothing in flight');
    now = Math.max(now, last.t + 40);
    expect(
      ld.onAck(
        {
          ranges: [{ smallest: a.pn, largest: last.pn }],
          ackDelayMicros: 0,
          receiveTimestampMicros: (last.t + 20) * 1000,
        },
        now,
        true,
      ),
    ).toBe(true);
    maxWindow = Math.max(maxWindow, cc.window);
  }
  return maxWindow;
}

describe('cwnd-limited growth (RFC 9002 §7.8)', () => {
  for (const [name, make] of controllers) {
    it(`${name}: an application/CPU-limited flow (few bytes in flight, many ACKs) does not grow the window`, () => {
      const cc = make();
      const w0 = cc.window;
      const max = run(cc, 3, 2000); // 3 packets in flight against a 10-packet window
      expect(max).toBeLessThanOrEqual(w0);
      expect(cc.window).toBeLessThanOrEqual(w0);
    });

    it(`${name}: a cwnd-limited flow still grows`, () => {
      const cc = make();
      const w0 = cc.window;
      run(cc, Infinity, 200);
      expect(cc.window).toBeGreaterThan(2 * w0);
    });
  }

  it('newreno: a pacing-limited flow still grows (RFC 9002 §7.8), up to twice what it has in flight', () => {
    // (LEDBAT is left out: RFC 6817's ALLOWED_INCREASE cap binds whatever limited the sender.)
    const cc = new NewReno(opts);
    const w0 = cc.window;
    run(cc, 6, 400, true); // 6 packets in flight, the pacer holding the rest of the data
    expect(cc.window).toBeGreaterThan(w0);
    // Bounded: growth stops once the window passes twice the flight (plus the ACKs of packets
    // already marked, about one flight more), however long the flow runs.
    expect(cc.window).toBeLessThanOrEqual(3 * 6 * MSS);
    const longer = new NewReno(opts);
    run(longer, 6, 2000, true);
    expect(longer.window).toBe(cc.window);
    const app = new NewReno(opts);
    run(app, 6, 400, false); // same, limited by the application instead: no growth
    expect(app.window).toBe(w0);
  });

  it('recovery marks a packet cwnd-limited only when in flight reaches window − one datagram', () => {
    const cc = new NewReno(opts); // window 12000
    const ld = new LossDetection(new RttEstimator(40), cc, { onFrameAcked() {}, onFrameLost() {} }, MSS);
    const flags: boolean[] = [];
    for (let i = 0; i < 10; i++) {
      const p = ld.sent.acquire();
      p.pn = ld.nextPn;
      p.size = MSS;
      p.ackEliciting = true;
      p.inFlight = true;
      ld.onPacketSent(p);
      flags.push(p.cwndLimited);
    }
    // in flight after packet k is (k+1)·1200: ≥ 12000 − 1200 from the 9th packet on
    expect(flags).toEqual([false, false, false, false, false, false, false, false, true, true]);
    // pacing-limited: the next packet counts (once) when at least half the window is in flight
    ld.discardAll();
    const marks: boolean[] = [];
    for (let i = 0; i < 7; i++) {
      if (i === 2 || i === 4) ld.onPacingHeld(true);
      const p = ld.sent.acquire();
      p.pn = ld.nextPn;
      p.size = MSS;
      p.ackEliciting = true;
      p.inFlight = true;
      ld.onPacketSent(p);
      marks.push(p.cwndLimited);
    }
    // i = 2: 3600 in flight < 6000, not counted; i = 4: 6000 ≥ 12000 / 2, counted; then cleared
    expect(marks).toEqual([false, false, false, false, true, false, false]);
  });

  for (const cc of ['ledbat', 'newreno'] as const) {
    it(`${cc}: a flow-control-limited connection keeps its window near what it can use`, () => {
      const win = 32 * 1024;
      const p = makePair({
        link: { delayMs: 10 },
        clientConfig: { congestionController: cc },
        serverConfig: {
          initialStreamWindow: win,
          maxStreamWindow: win,
          initialConnectionWindow: 4 * win,
          maxConnectionWindow: 4 * win,
        },
      });
      p.net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0);
      const id = p.conn.openStream(false);
      const total = 2_000_000;
      const data = pattern(1, 0, total);
      let written = 0;
      let maxWindow = 0;
      const got: number[] = [];
      p.net.runUntil(
        () => {
          if (written < total) written += p.conn.write(id, data.subarray(written, Math.min(total, written + 65536)));
          maxWindow = Math.max(maxWindow, (p.conn as TransportConnection).stats().congestionWindowBytes);
          return p.events(B, 'stream-opened').length > 0 && (drain(p.serverConn(), id, got), got.length >= total);
        },
        { maxTimeMs: 60_000 },
      );
      expect(got.length).toBe(total);
      // In flight never exceeds the 32 KiB stream window (plus packet overhead): the congestion window
      // may reach it and a little beyond, never grow without bound.
      expect(maxWindow).toBeLessThan(2.5 * win);
    });
  }
});

describe('LEDBAT ALLOWED_INCREASE cap (RFC 6817 §2.4.2)', () => {
  const step = fc.record({
    priorInFlight: fc.integer({ min: 0, max: 400 * MSS }),
    sentInFlight: fc.integer({ min: 0, max: 400 * MSS }),
    ackedPackets: fc.integer({ min: 1, max: 8 }),
    queueing: fc.integer({ min: 0, max: 200 }),
    appLimited: fc.boolean(),
    gap: fc.integer({ min: 0, max: 50 }),
  });

  for (const allowedIncrease of [1, 3]) {
    it(`window ≤ max(flightsize + ${allowedIncrease}·MSS, minimum window) after every ACK (flightsize = largest max(prior, at-send) of this and the last round trip)`, () => {
      fc.assert(
        fc.property(fc.array(step, { minLength: 1, maxLength: 300 }), fc.boolean(), (steps, periodicSlowdown) => {
          const l = new Ledbat({ ...opts, periodicSlowdown, allowedIncrease });
          let now = 0;
          // Reference rounds: a round is one smoothed RTT (40 ms) from the first ACK after the last ended.
          let roundEnd = -Infinity;
          let current = 0;
          let previous = 0;
          for (const s of steps) {
            now += s.gap;
            const ackedBytes = Math.min(s.ackedPackets * MSS, Math.max(s.priorInFlight, MSS));
            const sample: AckSample = {
              ackedBytes,
              priorInFlight: Math.max(s.priorInFlight, ackedBytes),
              sentInFlight: s.sentInFlight,
              largestAckedSentTime: now - 40,
              latestRtt: 40,
              smoothedRtt: 40,
              minRtt: 40,
              oneWayDelay: 20 + s.queueing,
              appLimited: s.appLimited,
            };
            l.onAck(now, sample);
            if (now >= roundEnd) {
              previous = current;
              current = 0;
              roundEnd = now + 40;
            }
            current = Math.max(current, sample.priorInFlight, sample.sentInFlight);
            const flightsize = Math.max(current, previous);
            expect(l.window).toBeLessThanOrEqual(Math.max(flightsize + allowedIncrease * MSS, 2 * MSS) + 1e-9);
            expect(l.window).toBeGreaterThanOrEqual(2 * MSS);
          }
        }),
        { numRuns: 200 },
      );
    });
  }

  it('a batch of ACKs handled with no sends in between does not collapse the window', () => {
    // The sender filled its window; the ACKs then arrive (or are read) back to back. RFC 6817's
    // literal flightsize falls ACK by ACK here; the flight at send time does not.
    const l = new Ledbat(opts);
    const ld = new LossDetection(new RttEstimator(40), l, { onFrameAcked() {}, onFrameLost() {} }, MSS);
    const fill = (): void => {
      while (ld.bytesInFlight + MSS <= l.window) {
        const p = ld.sent.acquire();
        p.pn = ld.nextPn;
        p.size = MSS;
        p.ackEliciting = true;
        p.inFlight = true;
        ld.onPacketSent(p);
      }
    };
    let acked = 0;
    const ackTwo = (): void => {
      ld.onAck(
        {
          ranges: [{ smallest: acked, largest: Math.min(acked + 1, ld.nextPn - 1) }],
          ackDelayMicros: 0,
          receiveTimestampMicros: 20_000,
        },
        40,
        true,
      );
      acked += 2;
    };
    // Steady, cwnd-limited: refill after every ACK until everything in flight went out at a full window.
    fill();
    for (let i = 0; i < 40; i++) {
      ackTwo();
      fill();
    }
    const w = l.window;
    expect(w).toBeGreaterThan(opts.initialWindowPackets * MSS);
    // Now a whole window of ACKs back to back.
    while (acked < ld.nextPn) ackTwo();
    expect(ld.bytesInFlight).toBe(0);
    expect(l.window).toBeGreaterThanOrEqual(w - MSS);
  });

  it('rejects ALLOWED_INCREASE ≤ 0; TransportConfig.ledbatAllowedIncrease defaults to 32 (half an adapter send batch)', () => {
    expect(() => new Ledbat({ ...opts, allowedIncrease: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_PUNCHLINE_TRANSPORT_CONFIG' }),
    );
    expect(() => resolveConfig({ ledbatAllowedIncrease: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_PUNCHLINE_TRANSPORT_CONFIG' }),
    );
    expect(resolveConfig({}).ledbatAllowedIncrease).toBe(32);
  });
});
