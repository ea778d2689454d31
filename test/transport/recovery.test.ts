import { describe, expect, it } from 'vitest';
import type { AckSample, CongestionController } from '../../src/transport/congestion/controller.js';
import { AckTracker } from '../../src/transport/recovery/ack-tracker.js';
import { LossDetection, type SentFrameHandler } from '../../src/transport/recovery/loss-detection.js';
import { RttEstimator } from '../../src/transport/recovery/rtt-estimator.js';
import { SentFrame } from '../../src/transport/recovery/sent-packets.js';

describe('RttEstimator (RFC 9002 §5)', () => {
  it('first sample initialises, later samples smooth with ack delay subtracted', () => {
    const r = new RttEstimator(333);
    expect(r.smoothedRtt).toBe(333);
    r.update(100, 0);
    expect(r.smoothedRtt).toBe(100);
    expect(r.rttVar).toBe(50);
    expect(r.minRtt).toBe(100);
    r.update(130, 20); // adjusted 110
    expect(r.smoothedRtt).toBeCloseTo(0.875 * 100 + 0.125 * 110);
    expect(r.rttVar).toBeCloseTo(0.75 * 50 + 0.25 * 10);
    r.update(105, 20); // 105 < min + delay: not adjusted
    expect(r.minRtt).toBe(100);
    expect(r.pto(25)).toBeCloseTo(r.smoothedRtt + 4 * r.rttVar + 25);
  });

  it('updateFrom (the sample in an object, hot path) matches update', () => {
    const a = new RttEstimator(333);
    const b = new RttEstimator(333);
    for (const [latestRtt, ackDelay] of [
      [100.25, 0],
      [130.5, 20.125],
      [105.75, 20],
      [90.0625, 3.5],
    ] as const) {
      a.update(latestRtt, ackDelay);
      b.updateFrom({ latestRtt, ackDelay });
      expect([b.latestRtt, b.minRtt, b.smoothedRtt, b.rttVar]).toEqual([
        a.latestRtt,
        a.minRtt,
        a.smoothedRtt,
        a.rttVar,
      ]);
    }
  });
});

describe('AckTracker (RFC 9000 §13.2)', () => {
  it('acks every second ack-eliciting packet, otherwise after max_ack_delay', () => {
    const t = new AckTracker(2, 25);
    t.onPacket(0, true, 1000);
    expect(t.wantsAck(1000)).toBe(false);
    expect(t.nextDeadline()).toBe(1025);
    expect(t.wantsAck(1025)).toBe(true);
    t.onPacket(1, true, 1001);
    expect(t.wantsAck(1001)).toBe(true);
    t.onAckSent();
    expect(t.wantsAck(5000)).toBe(false);
  });

  it('acks immediately on a gap or reordering, and detects duplicates', () => {
    const t = new AckTracker(10, 25);
    t.onPacket(0, true, 0);
    expect(t.immediate).toBe(false);
    t.onPacket(2, true, 0);
    expect(t.immediate).toBe(true);
    t.onAckSent();
    t.onPacket(1, true, 0);
    expect(t.immediate).toBe(true);
    expect(t.isDuplicate(1)).toBe(true);
    expect(t.isDuplicate(3)).toBe(false);
    expect(t.ranges.toArray()).toEqual([[0, 3]]);
  });

  it('non-ack-eliciting packets never arm the timer', () => {
    const t = new AckTracker(2, 25);
    t.onPacket(0, false, 0);
    t.onPacket(1, false, 0);
    expect(t.nextDeadline()).toBe(Infinity);
    expect(t.pending).toBe(true);
  });

  it('stops repeating ranges the peer has seen acknowledged', () => {
    const t = new AckTracker(2, 25);
    for (const pn of [0, 1, 2, 5, 6, 9]) t.onPacket(pn, true, 0);
    t.onAckOfAck(6);
    expect(t.ranges.toArray()).toEqual([
      [5, 7],
      [9, 10],
    ]);
    expect(t.isDuplicate(3)).toBe(true); // below what we remember
  });
});

class Recorder implements SentFrameHandler {
  acked: number[][] = [];
  lost: number[][] = [];
  onFrameAcked(k: number, a: number, b: number, c: number) {
    this.acked.push([k, a, b, c]);
  }
  onFrameLost(k: number, a: number, b: number, c: number) {
    this.lost.push([k, a, b, c]);
  }
}

class CcSpy implements CongestionController {
  name = 'spy';
  window = 100_000;
  queueingDelay = 0;
  acks: AckSample[] = [];
  losses: number[] = [];
  persistent = 0;
  onPacketSent() {}
  onAck(_now: number, s: AckSample) {
    this.acks.push({ ...s });
  }
  onLoss(_now: number, bytes: number) {
    this.losses.push(bytes);
  }
  onPersistentCongestion() {
    this.persistent++;
  }
  pacingRate() {
    return 0;
  }
}

function setup() {
  const rtt = new RttEstimator(100);
  const cc = new CcSpy();
  const h = new Recorder();
  const ld = new LossDetection(rtt, cc, h);
  const send = (time: number, streamOffset = 0) => {
    const p = ld.sent.acquire();
    p.pn = ld.nextPn;
    p.timeSent = time;
    p.size = 1000;
    p.ackEliciting = true;
    p.inFlight = true;
    p.addFrame(SentFrame.Stream, 0, streamOffset, 1000);
    ld.onPacketSent(p);
    return p.pn;
  };
  return { rtt, cc, h, ld, send };
}

describe('LossDetection (RFC 9002 §6)', () => {
  it('declares packets lost by the packet threshold and reports acked frames', () => {
    const { ld, h, cc, send } = setup();
    for (let i = 0; i < 5; i++) send(0, i * 1000);
    expect(ld.bytesInFlight).toBe(5000);
    ld.onAck({ ranges: [{ smallest: 3, largest: 4 }], ackDelayMicros: 0, receiveTimestampMicros: 50_000 }, 50, true);
    expect(h.acked.map((f) => f[2])).toEqual([3000, 4000]);
    // pn 0 and 1 are ≥ 3 below 4: lost; pn 2 is only 2 below: waits for the time threshold
    expect(h.lost.map((f) => f[2])).toEqual([0, 1000]);
    expect(ld.lossTime).toBeLessThan(Infinity);
    expect(cc.losses).toEqual([2000]);
    expect(cc.acks[0]!.ackedBytes).toBe(2000);
    expect(cc.acks[0]!.latestRtt).toBe(50);
    expect(cc.acks[0]!.oneWayDelay).toBe(50_000 / 1000 - 0);
    // time threshold: 9/8 · max(srtt, latest) after the send
    ld.onTimeout(ld.lossTime);
    expect(h.lost.map((f) => f[2])).toEqual([0, 1000, 2000]);
    expect(ld.bytesInFlight).toBe(0);
  });

  it('rejects an ACK for a packet never sent', () => {
    const { ld, send } = setup();
    send(0);
    expect(
      ld.onAck({ ranges: [{ smallest: 0, largest: 5 }], ackDelayMicros: 0, receiveTimestampMicros: 0 }, 10, true),
    ).toBe(false);
  });

  it('probe timeout backs off exponentially and requeues the oldest data', () => {
    const { ld, h, send } = setup();
    send(0);
    const first = ld.deadline();
    expect(first).toBeCloseTo(100 + 4 * 50 + 25);
    expect(ld.onTimeout(first)).toBe(2);
    expect(h.lost.length).toBe(1); // requeued for the probe
    expect(ld.deadline()).toBeCloseTo(2 * first);
  });

  it('signals persistent congestion after a long run of losses', () => {
    const { ld, cc, send } = setup();
    send(0);
    ld.onAck({ ranges: [{ smallest: 0, largest: 0 }], ackDelayMicros: 0, receiveTimestampMicros: 0 }, 100, true); // RTT sample 100
    for (let t = 0; t < 20; t++) send(200 + t * 100);
    const last = send(5000);
    ld.onAck({ ranges: [{ smallest: last, largest: last }], ackDelayMicros: 0, receiveTimestampMicros: 0 }, 5100, true);
    expect(cc.persistent).toBe(1);
  });
});
