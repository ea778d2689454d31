import { describe, expect, it } from 'vitest';
import type { AckSample } from '../../src/transport/congestion/controller.js';
import { RecentFlightsize } from '../../src/transport/congestion/flightsize.js';
import { Ledbat } from '../../src/transport/congestion/ledbat.js';
import { LedbatPlusPlus } from '../../src/transport/congestion/ledbat-plus-plus.js';

const MSS = 1200;

describe('ALLOWED_INCREASE cap over the recent flightsize (RFC 6817 §2.4.2)', () => {
  it('is the largest in-flight figure of the current and the previous round trip', () => {
    const f = new RecentFlightsize();
    expect(f.update(0, 100, 10)).toBe(100); // round [0, 10)
    expect(f.update(5, 40, 10)).toBe(100);
    expect(f.update(10, 30, 10)).toBe(100); // round [10, 20): the previous one still counts
    expect(f.update(20, 20, 10)).toBe(30); // round [20, 30): the first one is forgotten
    expect(f.update(30, 10, 10)).toBe(20);
  });

  for (const [name, make] of [
    ['LEDBAT++', () => new LedbatPlusPlus(options())],
    ['LEDBAT', () => new Ledbat(options())],
  ] as const) {
    it(`${name}: an ACK at a batch boundary (little in flight) does not pull the window down to it`, () => {
      const cc = make();
      // One round trip with 100 packets in flight, window 100 packets.
      (cc as { window: number }).window = 100 * MSS;
      cc.onAck(0, sample(100 * MSS));
      // Later in the same round trip, an ACK sent when a batch had only 20 packets out.
      cc.onAck(0.2, sample(20 * MSS));
      expect(cc.window).toBeGreaterThanOrEqual(100 * MSS);
      // Two round trips with only 20 packets in flight: the window the flow does not use is capped.
      cc.onAck(1.1, sample(20 * MSS));
      cc.onAck(2.2, sample(20 * MSS));
      expect(cc.window).toBeLessThanOrEqual(20 * MSS + 2 * MSS + 1e-6);
    });
  }
});

function options() {
  return {
    maxDatagramSize: MSS,
    initialWindowPackets: 10,
    targetDelayMs: 60,
    periodicSlowdown: false,
    allowedIncrease: 2,
  };
}

function sample(inFlight: number): AckSample {
  return {
    ackedBytes: MSS,
    priorInFlight: inFlight,
    sentInFlight: inFlight,
    largestAckedSentTime: 0,
    latestRtt: 1,
    smoothedRtt: 1,
    minRtt: 1,
    oneWayDelay: 0,
    appLimited: false,
  };
}
