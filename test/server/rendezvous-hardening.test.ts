/**
 * Rendezvous abuse limits: relay consent, unsolicited signal/punch rate limits, sessions per source,
 * and the memory a session holds in the core (spec/rendezvous.md §Limits).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { RendezvousServerCore } from '../../src/server/rendezvous-core.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { RendezvousErrorCode } from '../../src/traversal/rendezvous/errors.js';
import { Harness, seededRandom, type TestClient } from './harness.js';

function accept(h: Harness, from: TestClient, to: TestClient): void {
  from.core.connect(to.keys.publicKey, []);
  h.step();
  const [request] = h.take(to, 'connect-request');
  to.core.answer(request!.rid, true, []);
  h.step();
  h.take(from, 'connect-answer');
}

describe('relay consent', () => {
  it('refuses relay-allocate naming a peer that never accepted a connect; the victim keeps its quota', () => {
    const h = new Harness({ relayLimits: { maxAllocationsPerPeer: 2 } });
    const victim = h.connect('victim');
    const friend = h.connect('friend');
    const attacker = h.connect('attacker');
    for (let i = 0; i < 8; i++) attacker.core.allocateRelay(victim.keys.publicKey);
    h.step();
    const errors = h.take(attacker, 'error');
    expect(errors).toHaveLength(8);
    expect(errors.every((e) => e.error.code === RendezvousErrorCode.NoConsent)).toBe(true);
    expect(h.take(victim, 'relay-allocated')).toHaveLength(0);
    expect(h.server.stats().relay.allocations).toBe(0);
    // The victim's own allocations with a friend it accepted still succeed.
    accept(h, friend, victim);
    friend.core.allocateRelay(victim.keys.publicKey);
    h.step();
    expect(h.take(friend, 'relay-allocated')).toHaveLength(1);
    expect(h.take(victim, 'relay-allocated')).toHaveLength(1);
  });

  it('a refused connect gives no consent', () => {
    const h = new Harness();
    const a = h.connect('a');
    const b = h.connect('b');
    a.core.connect(b.keys.publicKey, []);
    h.step();
    const [request] = h.take(b, 'connect-request');
    b.core.answer(request!.rid, false, [], { reason: 'no' });
    h.step();
    a.core.allocateRelay(b.keys.publicKey);
    h.step();
    expect(h.take(a, 'error')[0]?.error.code).toBe(RendezvousErrorCode.NoConsent);
  });

  it('both peers asking for a relay is explicit confirmation', () => {
    const h = new Harness();
    const a = h.connect('a');
    const b = h.connect('b');
    a.core.allocateRelay(b.keys.publicKey);
    h.step();
    expect(h.take(a, 'error')[0]?.error.code).toBe(RendezvousErrorCode.NoConsent);
    b.core.allocateRelay(a.keys.publicKey);
    h.step();
    expect(h.take(b, 'relay-allocated')).toHaveLength(1);
    expect(h.take(a, 'relay-allocated')).toHaveLength(1);
  });

  it('consent ends with the session', () => {
    const h = new Harness();
    const a = h.connect('a');
    const b = h.connect('b');
    accept(h, a, b);
    h.close(b);
    const b2 = h.connect('b2', { keys: b.keys });
    a.core.allocateRelay(b2.keys.publicKey);
    h.step();
    expect(h.take(a, 'error')[0]?.error.code).toBe(RendezvousErrorCode.NoConsent);
  });
});

describe('unsolicited signal and punch', () => {
  it('are rate-limited per pair; after an accepted connect they are not', () => {
    const h = new Harness({ limits: { messageBurst: 1000, messagesPerSecond: 1000 } });
    const victim = h.connect('victim');
    const stranger = h.connect('stranger');
    for (let i = 0; i < 20; i++) stranger.core.signal(victim.keys.publicKey, 'spam', Uint8Array.of(i));
    h.step();
    const burst = h.server.limits.unsolicitedPerPairBurst;
    expect(h.take(victim, 'signal')).toHaveLength(burst);
    expect(h.take(stranger, 'error').every((e) => e.error.code === RendezvousErrorCode.RateLimited)).toBe(true);
    for (let i = 0; i < 5; i++) stranger.core.punch(victim.keys.publicKey);
    h.step();
    expect(h.take(victim, 'punch-go')).toHaveLength(0);
    h.advance(2_000); // refills one token at 0.5/s
    stranger.core.signal(victim.keys.publicKey, 'again', Uint8Array.of(1));
    h.step();
    expect(h.take(victim, 'signal')).toHaveLength(1);

    const friend = h.connect('friend');
    accept(h, friend, victim);
    for (let i = 0; i < 30; i++) friend.core.signal(victim.keys.publicKey, 'ok', Uint8Array.of(i));
    h.step();
    expect(h.take(victim, 'signal')).toHaveLength(30);
  });

  it('one sender cannot spray every online peer', () => {
    const h = new Harness({ limits: { messageBurst: 1000, messagesPerSecond: 1000 } });
    const peers = Array.from({ length: 40 }, (_, i) => h.connect(`peer-${i}`));
    const stranger = h.connect('stranger');
    for (const p of peers) stranger.core.signal(p.keys.publicKey, 'hello', Uint8Array.of(1));
    h.step();
    const delivered = peers.reduce((n, p) => n + h.take(p, 'signal').length, 0);
    expect(delivered).toBe(h.server.limits.unsolicitedPerSenderBurst);
  });
});

describe('sessions per source', () => {
  it('caps the sessions one source IP holds; other sources and freed slots still work', () => {
    const server = new RendezvousServerCore({
      staticKeyPair: generateKeyPair(seededRandom('k')),
      random: seededRandom('r'),
      limits: { maxSessionsPerSource: 3 },
    });
    const ids = [1, 2, 3].map(() => server.openSession(0, '203.0.113.9'));
    expect(ids.every((id) => id !== null)).toBe(true);
    expect(server.openSession(0, '203.0.113.9')).toBeNull();
    expect(server.openSession(0, '203.0.113.10')).not.toBeNull();
    server.closeSession(ids[0]!);
    expect(server.openSession(0, '203.0.113.9')).not.toBeNull();
    expect(server.stats().drops['source-limit']).toBe(1);
  });

  it('unregistered sessions expire after the short registration timeout', () => {
    const server = new RendezvousServerCore({
      staticKeyPair: generateKeyPair(seededRandom('k')),
      random: seededRandom('r'),
    });
    for (let i = 0; i < 10; i++) server.openSession(0, '203.0.113.9');
    server.onTimeout(server.limits.authTimeoutMs + 1000);
    expect(server.stats().sessions).toBe(0);
    expect(server.limits.authTimeoutMs).toBeLessThanOrEqual(5_000);
  });
});

describe('memory per session', () => {
  it('a registered session costs the core a few KiB, and hostile peers cannot grow it unboundedly', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const h = new Harness({ limits: { messageBurst: 1e6, messagesPerSecond: 1e6 } });
    const stranger = h.connect('stranger');
    const peers = Array.from({ length: 100 }, (_, i) => h.connect(`m-${i}`));
    // A stranger addressing 100 peers and asking 100 relays leaves bounded tracking state.
    for (const p of peers) {
      stranger.core.signal(p.keys.publicKey, 'x', Uint8Array.of(1));
      stranger.core.allocateRelay(p.keys.publicKey);
    }
    h.step();
    expect(h.server.trackedPeers(stranger.sessionId)).toBeLessThanOrEqual(
      2 * h.server.limits.maxPeersTrackedPerSession,
    );

    const server = new RendezvousServerCore({
      staticKeyPair: generateKeyPair(seededRandom('k2')),
      random: seededRandom('r2'),
    });
    const n = 5000;
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < n; i++) server.openSession(0, `198.51.${i >> 8}.${i & 255}`);
    while (server.pollOutput() !== null);
    gc();
    const perSession = (process.memoryUsage().heapUsed - before) / n;
    console.log(`[rendezvous] core memory per unregistered session: ${Math.round(perSession)} B`);
    expect(perSession).toBeLessThan(4096);
  });
});
