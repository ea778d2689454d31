import { describe, expect, it } from 'vitest';
import { randomBytes as rawRandomBytes } from 'node:crypto';
import { Harness, type TestClient } from './harness.js';
import { encapsulate, encodeBind, parseRelayDatagram } from '../../src/traversal/relay/udp-control.js';
import { RendezvousErrorCode } from '../../src/traversal/rendezvous/errors.js';
import type { Address } from '../../src/transport/api.js';

/**
 * Opaque stand-ins for encrypted transport packets: random bytes whose first byte is in the short-header
 * range (0x40–0x7f, spec/wire.md §Demultiplexing) — the wire forbids a relayed inner datagram starting
 * with 0x12 (nesting), and real transport packets never do.
 */
function randomBytes(n: number): Buffer {
  const b = rawRandomBytes(n);
  b[0] = 0x40 | (b[0]! & 0x3f);
  return b;
}

/** Relay consent (spec/relay.md §Allocation): a's connect accepted by b. */
function consent(h: Harness, a: TestClient, b: TestClient) {
  a.core.connect(b.keys.publicKey, []);
  h.step();
  const [request] = h.take(b, 'connect-request');
  b.core.answer(request!.rid, true, []);
  h.step();
  h.take(a, 'connect-answer');
}

function allocate(h: Harness, a: TestClient, b: TestClient) {
  consent(h, a, b);
  const id = a.core.allocateRelay(b.keys.publicKey);
  h.step();
  const [mine] = h.take(a, 'relay-allocated');
  const [theirs] = h.take(b, 'relay-allocated');
  if (!mine || !theirs) throw new Error('allocation failed: ' + JSON.stringify(h.take(a, 'error')));
  expect(mine.id).toBe(id);
  expect(theirs.id).toBe(0);
  return { a: mine, b: theirs };
}

function bindUdp(h: Harness, c: TestClient, leg: { channel: Uint8Array; bindKey: Uint8Array }) {
  c.core.bindRelayUdp(leg.channel, leg.bindKey, h.now);
  h.step();
  const [bound] = h.take(c, 'relay-bound');
  expect(bound?.observed).toEqual(c.address);
}

describe('UDP relay', () => {
  it('forwards opaque datagrams both ways between validated legs, unchanged', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    const legs = allocate(h, alice, bob);
    bindUdp(h, alice, legs.a);
    bindUdp(h, bob, legs.b);
    const payloads = Array.from({ length: 20 }, (_, i) => randomBytes(40 + i * 50));
    for (const p of payloads) h.server.receiveDatagram(encapsulate(legs.a.channel, p), alice.address, h.now);
    h.step();
    expect(bob.udpReceived).toHaveLength(payloads.length);
    bob.udpReceived.forEach((d, i) => {
      const parsed = parseRelayDatagram(d)!;
      expect(Buffer.from(parsed.channel)).toEqual(Buffer.from(legs.b.channel)); // receiver's own leg ID
      expect(Buffer.from(parsed.inner)).toEqual(payloads[i]);
    });
    h.server.receiveDatagram(encapsulate(legs.b.channel, payloads[0]!), bob.address, h.now);
    h.step();
    expect(alice.udpReceived).toHaveLength(1);
    expect(h.server.stats().relay.relayedPackets).toBe(21);
  });

  it('drops data from unvalidated addresses and never sends more to an unvalidated address than it received', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    const legs = allocate(h, alice, bob);
    bindUdp(h, alice, legs.a);
    bindUdp(h, bob, legs.b);
    const victim: Address = { host: '192.0.2.99', port: 9999 };
    // 1. An attacker who knows a channel ID injects data from another address: dropped.
    h.server.receiveDatagram(encapsulate(legs.a.channel, randomBytes(100)), victim, h.now);
    // 2. Alice (malicious) spoofs the victim's address with a valid BIND: only a CHALLENGE goes there.
    const bind = encodeBind(legs.a.channel, legs.a.bindKey, 1000);
    h.server.receiveDatagram(bind, victim, h.now);
    h.step();
    expect(bob.udpReceived).toHaveLength(0);
    expect(h.strayUdp).toHaveLength(1);
    const traffic = h.server.relay.unvalidatedTraffic(victim);
    expect(traffic.sent).toBeLessThanOrEqual(traffic.received);
    expect(h.strayUdp[0]!.data.length).toBeLessThan(bind.length);
    // 3. Bob's traffic still goes to alice's real address, not to the victim.
    h.server.receiveDatagram(encapsulate(legs.b.channel, randomBytes(1000)), bob.address, h.now);
    h.step();
    expect(alice.udpReceived).toHaveLength(1);
    expect(h.strayUdp).toHaveLength(1);
    // 4. Nested encapsulation and empty inner datagrams are malformed.
    h.server.receiveDatagram(
      encapsulate(legs.a.channel, encapsulate(legs.b.channel, randomBytes(10))),
      alice.address,
      h.now,
    );
    h.server.receiveDatagram(encapsulate(legs.a.channel, new Uint8Array(0)), alice.address, h.now);
    h.step();
    expect(bob.udpReceived).toHaveLength(0);
    expect(h.server.stats().relay.drops.malformed).toBe(2);
    // 5. A flood of BINDs with bad MACs or replayed counters from the victim's address gets nothing back.
    for (let i = 0; i < 50; i++)
      h.server.receiveDatagram(encodeBind(legs.a.channel, randomBytes(32), 2000 + i), victim, h.now);
    for (let i = 0; i < 50; i++) h.server.receiveDatagram(bind, victim, h.now);
    h.step();
    expect(h.strayUdp).toHaveLength(1);
    const stats = h.server.stats().relay;
    expect(stats.drops['bad-mac']).toBe(50);
    expect(stats.drops.replay).toBe(50);
    expect(stats.drops.unvalidated).toBe(1);
    expect(stats.unvalidatedBytesSent).toBeLessThanOrEqual(stats.unvalidatedBytesReceived);
  });

  it('re-validates after a NAT rebinding via keepalive', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    const legs = allocate(h, alice, bob);
    bindUdp(h, alice, legs.a);
    bindUdp(h, bob, legs.b);
    // Alice's NAT gives her a new port; her next keepalive is challenged and re-binds the leg.
    h.byAddress.delete(`${alice.address.host}|${alice.address.port}`);
    (alice as { address: Address }).address = { host: alice.address.host, port: 55555 };
    h.byAddress.set(`${alice.address.host}|${alice.address.port}`, alice);
    h.advance(16_000);
    h.server.receiveDatagram(encapsulate(legs.b.channel, new Uint8Array([1, 2, 3])), bob.address, h.now);
    h.step();
    expect(alice.udpReceived.length).toBe(1);
  });

  it('enforces concurrent-allocation, bandwidth and byte quotas per peer', () => {
    const h = new Harness({
      relayLimits: {
        maxAllocationsPerPeer: 2,
        bandwidthBytesPerSecond: 10_000,
        burstBytes: 10_000,
        maxBytesPerPeer: 25_000,
      },
    });
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    const carol = h.connect('carol');
    const legs = allocate(h, alice, bob);
    allocate(h, alice, carol);
    alice.core.allocateRelay(bob.keys.publicKey);
    h.step();
    expect(h.take(alice, 'error')[0]?.error.code).toBe(RendezvousErrorCode.Quota);
    bindUdp(h, alice, legs.a);
    bindUdp(h, bob, legs.b);
    // Burst 10 000 bytes: 10 × 1000 pass, the 11th is dropped.
    for (let i = 0; i < 11; i++)
      h.server.receiveDatagram(encapsulate(legs.a.channel, randomBytes(1000)), alice.address, h.now);
    h.step();
    expect(bob.udpReceived).toHaveLength(10);
    expect(h.server.stats().relay.drops['quota-bandwidth']).toBe(1);
    // After 1 s the bucket refilled: 10 more pass, then the 25 000-byte window quota stops at 25.
    h.advance(1000);
    for (let i = 0; i < 10; i++)
      h.server.receiveDatagram(encapsulate(legs.a.channel, randomBytes(1000)), alice.address, h.now);
    h.advance(1000);
    for (let i = 0; i < 10; i++)
      h.server.receiveDatagram(encapsulate(legs.a.channel, randomBytes(1000)), alice.address, h.now);
    h.step();
    expect(bob.udpReceived).toHaveLength(25);
    expect(h.server.stats().relay.drops['quota-bytes']).toBe(5);
    // Bob's direction has its own quota.
    h.server.receiveDatagram(encapsulate(legs.b.channel, randomBytes(1000)), bob.address, h.now);
    h.step();
    expect(alice.udpReceived).toHaveLength(1);
  });

  it('releases idle allocations and tells both peers; releasing frees the quota', () => {
    const h = new Harness({ relayLimits: { idleTimeoutMs: 5000, maxAllocationsPerPeer: 1 } });
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    const legs = allocate(h, alice, bob);
    h.advance(7000);
    expect(h.take(alice, 'relay-closed')).toMatchObject([{ reason: 'idle' }]);
    expect(h.take(bob, 'relay-closed')).toMatchObject([{ reason: 'idle' }]);
    expect(h.server.stats().relay.allocations).toBe(0);
    h.server.receiveDatagram(encapsulate(legs.a.channel, randomBytes(10)), alice.address, h.now);
    expect(h.server.stats().relay.drops['unknown-leg']).toBe(1);
    const again = allocate(h, alice, bob);
    alice.core.releaseRelay(again.a.channel);
    h.step();
    expect(h.take(bob, 'relay-closed')).toMatchObject([{ reason: 'released' }]);
    allocate(h, alice, bob);
  });

  it('closes the allocation when a peer session drops', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    allocate(h, alice, bob);
    h.close(bob);
    expect(h.take(alice, 'relay-closed')).toMatchObject([{ reason: 'peer-gone' }]);
  });
});

describe('stream relay', () => {
  it('forwards between a stream leg and a UDP leg (udp-blocked peer)', () => {
    const h = new Harness();
    const alice = h.connect('alice'); // UDP blocked: uses the stream relay
    const bob = h.connect('bob');
    const legs = allocate(h, alice, bob);
    expect(h.server.openRelayStream(alice.sessionId, legs.a.channel)).toBe(true);
    // Mallory cannot attach to alice's leg from her own session.
    const mallory = h.connect('mallory');
    expect(h.server.openRelayStream(mallory.sessionId, legs.a.channel)).toBe(false);
    bindUdp(h, bob, legs.b);
    const fromAlice = randomBytes(700);
    h.server.receiveRelayFrame(alice.sessionId, legs.a.channel, fromAlice, h.now);
    h.step();
    expect(Buffer.from(parseRelayDatagram(bob.udpReceived[0]!)!.inner)).toEqual(fromAlice);
    const fromBob = randomBytes(1200);
    h.server.receiveDatagram(encapsulate(legs.b.channel, fromBob), bob.address, h.now);
    h.step();
    expect(alice.streamReceived.map((d) => Buffer.from(d))).toEqual([fromBob]);
  });

  it('forwards between two stream legs', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    const legs = allocate(h, alice, bob);
    expect(h.server.openRelayStream(alice.sessionId, legs.a.channel)).toBe(true);
    expect(h.server.openRelayStream(bob.sessionId, legs.b.channel)).toBe(true);
    const data = Array.from({ length: 5 }, () => randomBytes(500));
    for (const d of data) h.server.receiveRelayFrame(alice.sessionId, legs.a.channel, d, h.now);
    h.step();
    expect(bob.streamReceived.map((d) => Buffer.from(d))).toEqual(data);
  });
});

describe('UDP presence', () => {
  it('binds a presence leg, reports it in lookups, and delivers punch-go over UDP too (deduplicated)', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    bob.core.startUdpPresence(h.now);
    h.step();
    expect(h.take(bob, 'udp-bound')[0]?.observed).toEqual(bob.address);
    const id = alice.core.lookup(bob.keys.publicKey);
    h.step();
    expect(h.take(alice, 'lookup-result').find((r) => r.id === id)?.udp).toEqual(bob.address);
    const before = bob.udpControlReceived;
    alice.core.punch(bob.keys.publicKey);
    h.step();
    expect(bob.udpControlReceived).toBe(before + 1); // the NOTIFY copy
    // The event came over the control stream and over UDP; the client reports it once.
    expect(h.take(bob, 'punch-go')).toHaveLength(1);
  });
});

describe('relay limits', () => {
  it('rejects a non-positive cookie period with a typed config error', async () => {
    const { RelayCore } = await import('../../src/server/relay-core.js');
    const random = (b: Uint8Array): void => void b.fill(7);
    for (const cookiePeriodMs of [0, -1, Number.NaN, Infinity]) {
      expect(() => new RelayCore({ random, limits: { cookiePeriodMs } })).toThrow(
        expect.objectContaining({ code: 'ERR_PUNCHLINE_SERVER_CONFIG' }),
      );
    }
    expect(() => new RelayCore({ random, limits: { cookiePeriodMs: 1 } })).not.toThrow();
  });
});
