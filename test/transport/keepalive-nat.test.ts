/**
 * Keepalives matched to the NAT (RFC 9000 §10.1.2) behind a port-preserving NAT that forgets idle
 * mappings after 5 s, with default settings: the side behind the NAT learns an interval below the
 * lifetime from the peer's keepalives that never arrived, and the public side's first write after a
 * long idle gets through at once.
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import type { Address, ConnectionHandle } from '../../src/transport/api.js';
import { TransportEndpoint } from '../../src/transport/endpoint.js';
import { type SimDatagram, SimNetwork } from '../sim/index.js';

/** Behind the NAT. */
const A: Address = { host: '10.0.0.1', port: 1000 };
/** Public. */
const B: Address = { host: '10.0.0.2', port: 2000 };

/**
 * A filter for A's mapping as Linux conntrack keeps it: every packet either way refreshes it; after
 * `lifetimeMs` without one it is gone and inbound packets are dropped until A sends again, which
 * re-creates it on the same port (so A's address never changes).
 */
function natFilter(lifetimeMs: number) {
  let lastSeen = Number.NEGATIVE_INFINITY;
  const stats = { dropped: 0, absentMs: 0 };
  const touch = (now: number): void => {
    if (now - lastSeen > lifetimeMs && lastSeen !== Number.NEGATIVE_INFINITY)
      stats.absentMs += now - lastSeen - lifetimeMs;
    lastSeen = now;
  };
  return {
    stats,
    middlebox: {
      name: `nat-${lifetimeMs}ms`,
      outbound(d: SimDatagram, now: number) {
        if (d.from.host === A.host) touch(now);
        return d;
      },
      inbound(d: SimDatagram, now: number) {
        if (d.to.host !== A.host) return d;
        if (now - lastSeen > lifetimeMs) {
          stats.dropped++;
          return null;
        }
        touch(now);
        return d;
      },
    },
  };
}

function pair(seed: number, lifetimeMs: number) {
  const net = new SimNetwork({ seed, link: { delayMs: 10 } });
  const nat = natFilter(lifetimeMs);
  net.addMiddlebox(nat.middlebox);
  const ra = net.randomSource('A');
  const rb = net.randomSource('B');
  const serverKeys = generateKeyPair(rb);
  const a = net.addEndpoint(A, new TransportEndpoint({ staticKeyPair: generateKeyPair(ra), random: ra }));
  const b = net.addEndpoint(B, new TransportEndpoint({ staticKeyPair: serverKeys, random: rb }));
  const client = a.connect(B, { remotePublicKey: serverKeys.publicKey }, net.now);
  net.runUntil(() => client.state === 'established' && b.connections.size > 0);
  const server = [...b.connections.values()][0] as ConnectionHandle;
  return { net, nat, client, server };
}

/** Writes one byte on a new stream from `w`; returns how long until `r` read it (virtual ms). */
function firstWriteMs(net: SimNetwork, w: ConnectionHandle, r: ConnectionHandle): number {
  const start = net.now;
  const id = w.openStream(false);
  w.write(id, new Uint8Array([42]));
  let got = false;
  net.runUntil(
    () => {
      try {
        const x = r.read(id);
        got = x.kind === 'data';
      } catch {
        // the reader has not seen the stream yet
      }
      return got;
    },
    { maxTimeMs: 30_000 },
  );
  expect(got).toBe(true);
  return net.now - start;
}

describe('keepalives behind a port-preserving NAT (default settings)', () => {
  for (const seed of [1, 2, 3]) {
    it(`5 s NAT: the NATed side learns < 5 s from the peer's lost keepalives; the public side's first write after 60 s idle arrives within 1 s (seed ${seed})`, () => {
      const s = pair(seed, 5_000);
      s.net.runFor(60_000);
      expect(s.client.state).toBe('established');
      const natInterval = s.client.stats().keepAliveIntervalMs;
      expect(natInterval).toBeLessThan(5_000);
      // the mapping did lapse while the interval was learned (the evidence was real)
      expect(s.nat.stats.dropped).toBeGreaterThan(0);
      const droppedBefore = s.nat.stats.dropped;
      s.net.runFor(60_000);
      expect(s.client.stats().keepAliveIntervalMs).toBeLessThan(5_000);
      expect(firstWriteMs(s.net, s.server, s.client)).toBeLessThan(1_000);
      expect(firstWriteMs(s.net, s.client, s.server)).toBeLessThan(1_000);
      // once learned, the mapping lapses rarely if ever
      expect(s.nat.stats.dropped - droppedBefore).toBeLessThanOrEqual(2);
    });
  }

  it('120 s NAT: at most one keepalive per ~25 s from either side, the mapping never lapses', () => {
    const s = pair(4, 120_000);
    s.net.runFor(60_000);
    const sentA = s.client.stats().packetsSent;
    const sentB = s.server.stats().packetsSent;
    s.net.runFor(300_000);
    expect(s.nat.stats.dropped).toBe(0);
    expect(s.client.stats().keepAliveIntervalMs).toBeGreaterThanOrEqual(20_000);
    expect(s.server.stats().keepAliveIntervalMs).toBeGreaterThanOrEqual(20_000);
    // The sides take turns (the next PING 0.7–1.0 of the interval after the last one, either side's),
    // so in 300 s there is at most one PING and its ACK per 0.7 × 25 s between them both: each side
    // sends about one keepalive per 25 s or less.
    const packets = s.client.stats().packetsSent - sentA + (s.server.stats().packetsSent - sentB);
    expect(packets).toBeLessThanOrEqual(2 * Math.ceil(300_000 / (0.7 * 25_000)));
  });
});
