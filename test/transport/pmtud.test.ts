import { describe, expect, it } from 'vitest';
import { BASE_PLPMTU, ETHERNET_PLPMTU, PathMtuDiscovery } from '../../src/transport/pmtud.js';

/**
 * A path that carries datagrams up to `carries` bytes with a fixed round trip: probes go out when
 * due, ACKs come back after one RTT, larger probes vanish (and time out). Returns when the search
 * completed, with the time it took.
 */
function search(p: PathMtuDiscovery, carries: () => number, rttMs: number, timeoutMs: number, untilMs = 60_000) {
  let now = 0;
  let pn = 0;
  const inFlight: { pn: number; size: number; ackAt: number }[] = [];
  while (now < untilMs) {
    const size = p.probeSizeDue(now);
    if (size > 0) {
      p.onProbeSent(pn, size, now, timeoutMs);
      if (size <= carries()) inFlight.push({ pn, size, ackAt: now + rttMs });
      pn++;
    }
    if (p.state === 'search-complete') return { now, pn };
    const next = Math.min(p.deadline, inFlight[0]?.ackAt ?? Infinity);
    if (next === Infinity) break;
    now = Math.max(now, next);
    while (inFlight.length > 0 && (inFlight[0]?.ackAt ?? Infinity) <= now) {
      const a = inFlight.shift();
      if (a) p.onAcked(a.pn, a.size, now);
    }
    if (now >= p.deadline) p.onTimeout(now);
  }
  return { now, pn };
}

describe('DPLPMTUD (RFC 8899)', () => {
  it('finds a 1500-byte Ethernet MTU with one probe round trip', () => {
    const p = new PathMtuDiscovery({ maxSize: ETHERNET_PLPMTU });
    expect(p.mtu).toBe(BASE_PLPMTU);
    expect(p.state).toBe('base');
    const { now, pn } = search(p, () => 1472, 10, 100);
    expect(p.mtu).toBe(ETHERNET_PLPMTU);
    expect(p.state).toBe('search-complete');
    expect(now).toBe(10);
    expect(pn).toBe(1);
    expect(p.deadline).toBe(Infinity); // at the maximum: nothing to raise to
  });

  it('bisects down to a 1280-byte MTU link (1252 bytes of UDP payload over IPv4) within resolution', () => {
    const p = new PathMtuDiscovery({ maxSize: ETHERNET_PLPMTU, resolution: 8 });
    const { now } = search(p, () => 1252, 10, 100);
    expect(p.state).toBe('search-complete');
    expect(p.mtu).toBeLessThanOrEqual(1252);
    expect(p.mtu).toBeGreaterThan(1252 - 8);
    // each failed size costs maxProbes timeouts: well inside 3 s at a LAN's PTO
    expect(now).toBeLessThan(3000);
    expect(p.stats().probesLost).toBeGreaterThan(0);
    expect(p.searchMs).toBe(now); // the first probe went out at 0
  });

  it('never exceeds the maximum and needs no probe when the maximum is the base', () => {
    const p = new PathMtuDiscovery({ maxSize: 1200 });
    expect(p.state).toBe('disabled');
    expect(p.probeSizeDue(0)).toBe(0);
    expect(p.deadline).toBe(Infinity);
  });

  it('repeats a lost probe maxProbes times before the size counts as too big', () => {
    const p = new PathMtuDiscovery({ maxSize: 1452, maxProbes: 3 });
    for (let i = 0; i < 3; i++) {
      expect(p.probeSizeDue(i * 100)).toBe(1452);
      p.onProbeSent(i, 1452, i * 100, 100);
      expect(p.probeSizeDue(i * 100)).toBe(0); // one probe in flight at a time
      expect(p.onLost(i, 1452, i * 100 + 50)).toBe(true); // the probe's loss is not congestion
    }
    expect(p.probeSizeDue(300)).toBe(Math.floor((1200 + 1452) / 2));
  });

  it('a probe nobody reported counts as lost at its timeout', () => {
    const p = new PathMtuDiscovery({ maxSize: 1452, maxProbes: 1 });
    p.onProbeSent(7, p.probeSizeDue(0), 0, 250);
    expect(p.deadline).toBe(250);
    p.onTimeout(249);
    expect(p.stats().probesLost).toBe(0);
    p.onTimeout(250);
    expect(p.stats().probesLost).toBe(1);
    expect(p.probeSizeDue(250)).toBe(1326);
  });

  it('black hole: losses of large packets with no larger ACK fall back to the base, then search below', () => {
    let carries = 1472;
    const p = new PathMtuDiscovery({ maxSize: 1452, blackHoleThreshold: 3 });
    const first = search(p, () => carries, 10, 100);
    expect(p.mtu).toBe(1452);
    // the route changes to a 1280 link: every full-size packet now vanishes
    carries = 1252;
    let pn = first.pn + 10;
    let now = first.now + 1000;
    p.onAcked(pn++, 1452, now); // still arrived before the change
    // a congestion loss followed by an ACK of a later large packet is no black hole
    p.onLost(pn, 1452, now);
    p.onAcked(pn + 1, 1452, now);
    pn += 2;
    expect(p.mtu).toBe(1452);
    for (let i = 0; i < 3; i++) p.onLost(pn++, 1452, now);
    expect(p.mtu).toBe(BASE_PLPMTU);
    expect(p.state).toBe('error');
    expect(p.stats().blackHoles).toBe(1);
    now += 1;
    const again = search(p, () => carries, 10, 100, now + 60_000);
    expect(p.state).toBe('search-complete');
    expect(p.mtu).toBeLessThanOrEqual(1252);
    expect(p.mtu).toBeGreaterThan(1252 - 8);
    expect(again.pn).toBeGreaterThan(0);
  });

  it('the raise timer searches again after a completed search below the maximum', () => {
    let carries = 1252;
    const p = new PathMtuDiscovery({ maxSize: 1452, raiseIntervalMs: 600_000 });
    const { now } = search(p, () => carries, 10, 100);
    expect(p.deadline).toBe(now + 600_000);
    carries = 1472;
    expect(p.probeSizeDue(now + 599_999)).toBe(0);
    expect(p.probeSizeDue(now + 600_000)).toBe(1452);
  });

  it('the peer announcing a smaller max_udp_payload_size shrinks the PLPMTU at once', () => {
    const p = new PathMtuDiscovery({ maxSize: 1452 });
    search(p, () => 1472, 10, 100);
    p.setMaxSize(1300, 1000);
    expect(p.mtu).toBe(1300);
    p.setMaxSize(1200, 1000);
    expect(p.state).toBe('disabled');
  });

  it('reset (a new path) starts over from the base', () => {
    const p = new PathMtuDiscovery({ maxSize: 1452 });
    search(p, () => 1472, 10, 100);
    p.reset(5000);
    expect(p.mtu).toBe(BASE_PLPMTU);
    expect(p.probeSizeDue(5000)).toBe(1452);
  });
});
