import { describe, expect, it } from 'vitest';
import type { TransportConnection } from '../../src/transport/connection.js';
import { B, makePair, pattern } from './helpers.js';

describe('flow control over the simulator', () => {
  it('auto-tunes the receive window up to the bandwidth-delay product, bounded by the cap', () => {
    // 40 Mbit/s, 100 ms RTT: BDP = 500 kB; initial stream window 64 kB, cap 4 MiB.
    const cfg = {
      initialStreamWindow: 65_536,
      maxStreamWindow: 4 << 20,
      initialConnectionWindow: 98_304,
      maxConnectionWindow: 8 << 20,
      congestionController: 'newreno' as const,
    };
    const p = makePair({
      seed: 11,
      link: { delayMs: 50, bandwidthBps: 40_000_000, queueBytes: 1_000_000 },
      clientConfig: cfg,
      serverConfig: cfg,
    });
    p.net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0);
    const id = p.conn.openStream(false);
    const total = 12_000_000;
    const data = pattern(5, 0, total);
    let written = 0;
    let read = 0;
    let maxBuffered = 0;
    const t0 = p.net.now;
    p.net.runUntil(
      () => {
        if (written < total) written += p.conn.write(id, data.subarray(written, Math.min(total, written + 262_144)));
        if (p.events(B, 'stream-opened').length === 0) return false;
        const srv = p.serverConn() as TransportConnection;
        const s = srv.streams.all.get(id);
        if (s?.recv && s.recvFc) {
          expect(s.recv.highestReceived).toBeLessThanOrEqual(s.recvFc.limit);
          maxBuffered = Math.max(maxBuffered, s.recv.bufferedBytes);
        }
        for (let r = srv.read(id); r.kind === 'data'; r = srv.read(id)) read += r.data.length;
        return read >= total;
      },
      { maxTimeMs: 120_000 },
    );
    const srv = p.serverConn() as TransportConnection;
    const seconds = (p.net.now - t0) / 1000;
    const s = srv.streams.all.get(id);
    const window = s?.recvFc?.window ?? 0;
    // eslint-disable-next-line no-console
    console.log(`auto-tune: window ${window} B, goodput ${((total * 8) / seconds / 1e6).toFixed(1)} Mbit/s`);
    expect(window).toBeGreaterThanOrEqual(500_000);
    expect(window).toBeLessThanOrEqual(4 << 20);
    expect(maxBuffered).toBeLessThanOrEqual(4 << 20);
    expect((total * 8) / seconds).toBeGreaterThan(15_000_000); // far above 64 kB / 100 ms = 5 Mbit/s
  });

  it('a slow reader bounds what the sender may buffer at the receiver', () => {
    const cfg = {
      initialStreamWindow: 16_384,
      maxStreamWindow: 65_536,
      initialConnectionWindow: 32_768,
      maxConnectionWindow: 131_072,
    };
    const p = makePair({ seed: 12, link: { delayMs: 5 }, clientConfig: cfg, serverConfig: cfg });
    p.net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0);
    const id = p.conn.openStream(true);
    p.conn.write(id, pattern(1, 0, 1_000_000));
    p.net.runFor(2000);
    const srv = p.serverConn() as TransportConnection;
    const s = srv.streams.all.get(id)!;
    expect(s.recv!.highestReceived).toBe(16_384); // nothing read: exactly the initial window
    expect(p.conn.stats().streamBytesSent).toBe(16_384);
    // reading opens the window again
    let got = 0;
    for (let i = 0; i < 50; i++) {
      for (let r = srv.read(id); r.kind === 'data'; r = srv.read(id)) got += r.data.length;
      p.net.runFor(50);
    }
    expect(got).toBeGreaterThan(100_000);
  });
});
