import { describe, expect, it } from 'vitest';
import type { TransportConnection } from '../../src/transport/connection.js';
import { A, B, drain, makePair, pattern } from './helpers.js';

describe('LEDBAT over a simulated bottleneck', () => {
  it('fills the link and keeps the queueing delay near the target', () => {
    const bandwidthBps = 8_000_000; // 1 MB/s
    const link = { delayMs: 20, bandwidthBps, queueBytes: 400_000 }; // queue of 400 ms
    const p = makePair({ seed: 7, link });
    p.net.setLink(B, A, { delayMs: 20 });
    p.net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0);
    const id = p.conn.openStream(false);
    const total = 6_000_000;
    const data = pattern(1, 0, total);
    let written = 0;
    const got: number[] = [];
    const samples: number[] = [];
    const t0 = p.net.now;
    let next = t0 + 1000;
    p.net.runUntil(
      () => {
        if (written < total) written += p.conn.write(id, data.subarray(written, Math.min(total, written + 65536)));
        if (p.net.now >= next) {
          next += 250;
          samples.push((p.conn as TransportConnection).stats().queueingDelayMs);
        }
        return p.events(B, 'stream-opened').length > 0 && (drain(p.serverConn(), id, got), got.length >= total);
      },
      { maxTimeMs: 60_000 },
    );
    const seconds = (p.net.now - t0) / 1000;
    const goodput = (total * 8) / seconds;
    const stats = p.net.linkStats(A, B);
    const late = samples.slice(Math.floor(samples.length / 2));
    const avgQ = late.reduce((a, b) => a + b, 0) / late.length;
    // eslint-disable-next-line no-console
    console.log(
      `goodput ${(goodput / 1e6).toFixed(2)} Mbit/s of ${bandwidthBps / 1e6}; avg queueing delay ${avgQ.toFixed(1)} ms; max queue delay ${stats.maxQueueDelayMs.toFixed(0)} ms; drops ${JSON.stringify(stats.dropped)}`,
    );
    expect(goodput).toBeGreaterThan(0.7 * bandwidthBps);
    expect(avgQ).toBeLessThan(100);
  });
});
