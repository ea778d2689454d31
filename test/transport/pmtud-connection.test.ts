/**
 * DPLPMTUD in a connection (RFC 8899, RFC 9000 §14.4) over the simulator: the size found on a path
 * that carries 1452, 1252 (a 1280-byte MTU link) or only what a later route change leaves (a black
 * hole), with every byte of a transfer intact.
 */
import { describe, expect, it } from 'vitest';
import type { ConnectionHandle } from '../../src/transport/api.js';
import { A, B, drain, makePair, pattern } from './helpers.js';

/** Drops every datagram larger than `limit()` bytes, both directions (no ICMP: a silent black hole). */
function mtuLimit(p: ReturnType<typeof makePair>, limit: () => number): void {
  p.net.addMiddlebox({
    name: 'mtu',
    outbound: (d) => (d.data.length > limit() ? null : d),
  });
}

function established(p: ReturnType<typeof makePair>): ConnectionHandle {
  p.net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0);
  return p.serverConn();
}

function send(p: ReturnType<typeof makePair>, srv: ConnectionHandle, length: number, during: () => void = () => {}) {
  const id = p.conn.openStream(false);
  const data = pattern(3, 0, length);
  let written = 0;
  const got: number[] = [];
  let fin = false;
  p.net.runUntil(
    () => {
      during();
      if (written < length) {
        written += p.conn.write(id, data.subarray(written));
        if (written === length) p.conn.finish(id);
      }
      if (!fin && p.events(B, 'stream-opened').length > 0) fin = drain(srv, id, got).fin;
      return fin;
    },
    { maxTimeMs: 120_000 },
  );
  expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
}

describe('path MTU discovery in a connection', () => {
  it('a 1500-byte path: 1452 within one round trip of the handshake', () => {
    const p = makePair({ link: { delayMs: 10 } });
    mtuLimit(p, () => 1472);
    established(p);
    const t0 = p.net.now;
    p.net.runUntil(() => p.conn.stats().pathMtu === 1452, { maxTimeMs: 3000 });
    expect(p.net.now - t0).toBeLessThan(100);
  });

  it('a 1280-byte MTU link (1252 bytes of UDP payload): found within 3 s and respected', () => {
    const p = makePair({ link: { delayMs: 10 } });
    mtuLimit(p, () => 1252);
    const srv = established(p);
    const t0 = p.net.now;
    p.net.runUntil(() => (p.conn as unknown as { pmtud: { state: string } }).pmtud.state === 'search-complete', {
      maxTimeMs: 10_000,
    });
    expect(p.net.now - t0).toBeLessThan(3000);
    const mtu = p.conn.stats().pathMtu ?? 0;
    expect(mtu).toBeLessThanOrEqual(1252);
    expect(mtu).toBeGreaterThan(1252 - 16);
    send(p, srv, 2 << 20);
  });

  it('a route change to a smaller MTU mid-transfer: black hole detected, back to 1200, transfer intact', () => {
    const p = makePair({ link: { delayMs: 10 } });
    let limit = 1472;
    mtuLimit(p, () => limit);
    const srv = established(p);
    p.net.runUntil(() => p.conn.stats().pathMtu === 1452);
    const start = p.net.now;
    send(p, srv, 8 << 20, () => {
      if (p.net.now - start > 300) limit = 1252;
    });
    expect(p.conn.stats().pathMtu ?? 0).toBeLessThanOrEqual(1252);
  });

  it('off (pathMtuDiscovery false): every packet may be maxUdpPayloadSize at once', () => {
    const p = makePair({ clientConfig: { pathMtuDiscovery: false, maxUdpPayloadSize: 1300 } });
    established(p);
    expect(p.conn.stats().pathMtu).toBe(1300);
  });
});
