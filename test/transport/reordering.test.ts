import { describe, expect, it } from 'vitest';
import type { AckSample, CongestionController } from '../../src/transport/congestion/controller.js';
import { LossDetection, PACKET_THRESHOLD, type SentFrameHandler } from '../../src/transport/recovery/loss-detection.js';
import { RttEstimator } from '../../src/transport/recovery/rtt-estimator.js';
import { SentFrame } from '../../src/transport/recovery/sent-packets.js';
import { B, drain, makePair, pattern } from './helpers.js';

/** Records loss responses and undos. */
class UndoSpy implements CongestionController {
  name = 'undo-spy';
  window = 1e6;
  queueingDelay = 0;
  losses = 0;
  undos = 0;
  onPacketSent(): void {}
  onAck(_now: number, _s: AckSample): void {}
  onLoss(): void {
    this.losses++;
  }
  onSpuriousLoss(): void {
    this.undos++;
  }
  onPersistentCongestion(): void {}
  pacingRate(): number {
    return 0;
  }
}

const ignoreFrames: SentFrameHandler = { onFrameAcked() {}, onFrameLost() {} };

function setup(): { ld: LossDetection; cc: UndoSpy; send: (time: number) => number } {
  const cc = new UndoSpy();
  const ld = new LossDetection(new RttEstimator(100), cc, ignoreFrames);
  const send = (time: number): number => {
    const p = ld.sent.acquire();
    p.pn = ld.nextPn;
    p.timeSent = time;
    p.size = 1000;
    p.ackEliciting = true;
    p.inFlight = true;
    p.addFrame(SentFrame.Ping, 0, 0, 0);
    ld.onPacketSent(p);
    return p.pn;
  };
  return { ld, cc, send };
}

const ackOf = (smallest: number, largest: number) => ({
  ranges: [{ smallest, largest }],
  ackDelayMicros: 0,
  receiveTimestampMicros: 0,
});

describe('Loss detection tolerant to reordering (RFC 9002 §6.1 adaptive thresholds, undo)', () => {
  it('a packet declared lost and then acknowledged undoes the congestion response and widens the packet threshold', () => {
    const { ld, cc, send } = setup();
    for (let i = 0; i < 10; i++) send(i);
    // pn 0 arrives 5 packets late: declared lost by the packet threshold when 1..5 are acknowledged.
    ld.onAck(ackOf(1, 5), 20, true);
    expect(cc.losses).toBe(1);
    expect(ld.packetsLost).toBe(1);
    ld.onAck(ackOf(0, 5), 21, true);
    expect(ld.spuriousLosses).toBe(1);
    expect(cc.undos).toBe(1);
    expect(ld.packetThreshold).toBe(6); // reordering distance 5, + 1
    // The same reordering again is now tolerated: no loss declared.
    ld.onAck(ackOf(7, 9), 22, true);
    expect(cc.losses).toBe(1);
  });

  it('an episode with a real loss among the spurious ones is not undone', () => {
    const { ld, cc, send } = setup();
    for (let i = 0; i < 10; i++) send(i);
    ld.onAck(ackOf(2, 9), 20, true); // 0 and 1 declared lost
    expect(cc.losses).toBe(1);
    ld.onAck(ackOf(0, 0), 21, true); // 0 was only late; 1 stays lost
    expect(ld.spuriousLosses).toBe(1);
    expect(cc.undos).toBe(0);
  });

  it('a spurious loss declared by the time threshold stretches it', () => {
    const { ld, send } = setup();
    send(0);
    send(1);
    ld.onAck(ackOf(1, 1), 100, true); // RTT 99; pn 0 waits for 9/8 · RTT
    expect(ld.packetThreshold).toBe(PACKET_THRESHOLD);
    const before = ld.lossTime;
    ld.onTimeout(before);
    expect(ld.packetsLost).toBe(1);
    ld.onAck(ackOf(0, 0), before + 1, true);
    expect(ld.timeThresholdFactor).toBeCloseTo(9 / 8);
  });

  it('over a reordering link a transfer completes intact', () => {
    const p = makePair({ seed: 11, link: { delayMs: 10, reorderRate: 0.05, reorderDelayMs: 8 } });
    p.net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0);
    const id = p.conn.openStream(false);
    const data = pattern(9, 0, 1_500_000);
    let written = 0;
    const got: number[] = [];
    p.net.runUntil(
      () => {
        if (written < data.length) {
          written += p.conn.write(id, data.subarray(written, Math.min(data.length, written + 65536)));
          if (written === data.length) p.conn.finish(id);
        }
        return p.events(B, 'stream-opened').length > 0 && drain(p.serverConn(), id, got).fin;
      },
      { maxTimeMs: 120_000 },
    );
    expect(got.length).toBe(data.length);
  });
});
