import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { Harness, seededRandom } from './harness.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { clientProof, deriveAuthKey } from '../../src/traversal/rendezvous/auth.js';
import {
  encodeMessage,
  decodeServerMessage,
  MAX_MESSAGE_BYTES,
  type Candidate,
} from '../../src/traversal/rendezvous/messages.js';
import { RendezvousErrorCode } from '../../src/traversal/rendezvous/errors.js';

const candidates: Candidate[] = [
  { type: 'host', host: '192.0.2.10', port: 5000 },
  { type: 'srflx', host: '203.0.113.7', port: 61000, priority: 100 },
  { type: 'relay', host: '2001:db8::1', port: 3478 },
];

describe('RendezvousServerCore: authentication', () => {
  it('registers a client that proves its key, and the client verifies the server', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    expect(alice.core.state).toBe('registered');
    expect(h.take(alice, 'registered')).toHaveLength(1);
    expect(h.server.isOnline(alice.keys.publicKey)).toBe(true);
    expect(h.server.stats().registrations).toBe(1);
  });

  it('rejects a proof made with the wrong private key and closes the session', () => {
    const h = new Harness();
    const sessionId = h.server.openSession(h.now)!;
    drain(h);
    const victim = generateKeyPair(seededRandom('victim'));
    const attacker = generateKeyPair(seededRandom('attacker'));
    const nonce = new Uint8Array(32);
    // Claims the victim's key, proves with the attacker's own DH.
    const authKey = deriveAuthKey(attacker.secretKey, h.server.serverPublicKey);
    const proof = clientProof(authKey, {
      serverNonce: nonce,
      clientNonce: nonce,
      clientKey: victim.publicKey,
      serverKey: h.server.serverPublicKey,
      channelBinding: new Uint8Array(0),
    });
    h.server.receive(
      sessionId,
      encodeMessage({ t: 'register', publicKey: victim.publicKey, clientNonce: nonce, proof }),
      h.now,
    );
    const outs = drain(h);
    const error = outs
      .filter((o) => o.kind === 'send')
      .map((o) => decodeServerMessage((o as { data: Uint8Array }).data))
      .find((m) => m.t === 'error');
    expect(error).toMatchObject({ t: 'error', code: RendezvousErrorCode.AuthFailed });
    expect(outs.some((o) => o.kind === 'close')).toBe(true);
    expect(h.server.isOnline(victim.publicKey)).toBe(false);
    expect(h.server.stats().drops['auth-failed']).toBe(1);
  });

  it('rejects a replayed registration on another session (nonce is per session)', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    // Capture alice's register message by re-running her exchange on a recording session.
    const s1 = h.server.openSession(h.now)!;
    const challenge1 = decodeServerMessage(lastSend(h)!);
    if (challenge1.t !== 'challenge') throw new Error('expected challenge');
    const authKey = deriveAuthKey(alice.keys.secretKey, h.server.serverPublicKey);
    const clientNonce = new Uint8Array(32).fill(7);
    const proof = clientProof(authKey, {
      serverNonce: challenge1.nonce,
      clientNonce,
      clientKey: alice.keys.publicKey,
      serverKey: h.server.serverPublicKey,
      channelBinding: new Uint8Array(0),
    });
    const register = encodeMessage({ t: 'register', publicKey: alice.keys.publicKey, clientNonce, proof });
    h.server.receive(s1, register, h.now);
    expect(drain(h).some((o) => o.kind === 'send' && decodeServerMessage(o.data).t === 'registered')).toBe(true);
    // Replay on the same session: already registered → REPLAY error.
    h.server.receive(s1, register, h.now);
    expect(errors(drain(h))).toContain(RendezvousErrorCode.Replay);
    // Replay on a fresh session: different nonce → AUTH_FAILED.
    const s2 = h.server.openSession(h.now)!;
    drain(h);
    h.server.receive(s2, register, h.now);
    const outs = drain(h);
    expect(errors(outs)).toContain(RendezvousErrorCode.AuthFailed);
    expect(outs.some((o) => o.kind === 'close' && o.sessionId === s2)).toBe(true);
  });

  it('client refuses a server whose key is not the pinned one', () => {
    const h = new Harness();
    const wrongPin = generateKeyPair(seededRandom('other-server')).publicKey;
    const alice = h.connect('alice', { pin: wrongPin });
    expect(alice.core.state).toBe('failed');
    expect(h.take(alice, 'fatal')[0]?.error.code).toBe(RendezvousErrorCode.ServerIdentity);
  });

  it('channel binding: a proof over another TLS certificate (relay-in-the-middle) fails; a renewal window accepts both', () => {
    const serverCert = new Uint8Array(32).fill(1);
    const attackerCert = new Uint8Array(32).fill(2);
    const renewedCert = new Uint8Array(32).fill(3);
    const h = new Harness({ channelBindings: [serverCert] });
    // The client saw the attacker's certificate: its proof binds that hash, which the server never presented.
    const victim = h.connect('victim', { channelBinding: attackerCert });
    expect(victim.core.state).toBe('failed');
    expect(h.server.isOnline(victim.keys.publicKey)).toBe(false);
    expect(h.server.stats().drops['auth-failed']).toBe(1);
    // No binding at all (a client that skipped it) fails too.
    expect(h.connect('unbound').core.state).toBe('failed');
    expect(h.connect('direct', { channelBinding: serverCert }).core.state).toBe('registered');
    h.server.setChannelBindings([renewedCert, serverCert]);
    expect(h.connect('old-cert', { channelBinding: serverCert }).core.state).toBe('registered');
    expect(h.connect('new-cert', { channelBinding: renewedCert }).core.state).toBe('registered');
    h.server.setChannelBindings([renewedCert]);
    expect(h.connect('expired-cert', { channelBinding: serverCert }).core.state).toBe('failed');
  });

  it('messages before register get NOT_REGISTERED and are counted', () => {
    const h = new Harness();
    const s = h.server.openSession(h.now)!;
    drain(h);
    h.server.receive(s, encodeMessage({ t: 'lookup', id: 5, peer: new Uint8Array(32) }), h.now);
    const outs = drain(h);
    expect(errors(outs)).toContain(RendezvousErrorCode.NotRegistered);
    expect(h.server.stats().drops.unauthenticated).toBe(1);
  });

  it('expires sessions that never register', () => {
    const h = new Harness();
    const s = h.server.openSession(h.now)!;
    drain(h);
    h.advance(h.server.limits.authTimeoutMs + 1500);
    expect(h.server.stats().sessions).toBe(0);
    void s;
  });
});

describe('RendezvousServerCore: presence, lookup, connect, punch', () => {
  it('looks up peers and routes a connect request and its answer', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    const lookupId = alice.core.lookup(bob.keys.publicKey);
    const missingId = alice.core.lookup(generateKeyPair(seededRandom('nobody')).publicKey);
    h.step();
    const results = h.take(alice, 'lookup-result');
    expect(results.find((r) => r.id === lookupId)?.online).toBe(true);
    expect(results.find((r) => r.id === missingId)?.online).toBe(false);

    const payload = new Uint8Array([1, 2, 3]);
    const id = alice.core.connect(bob.keys.publicKey, candidates, payload);
    h.step();
    const [request] = h.take(bob, 'connect-request');
    expect(request).toBeDefined();
    expect(Buffer.from(request!.from)).toEqual(Buffer.from(alice.keys.publicKey));
    expect(request!.candidates).toEqual(candidates);
    expect(Buffer.from(request!.payload!)).toEqual(Buffer.from(payload));

    const bobCandidates: Candidate[] = [{ type: 'host', host: '192.0.2.20', port: 6000 }];
    bob.core.answer(request!.rid, true, bobCandidates);
    h.step();
    const [answer] = h.take(alice, 'connect-answer');
    expect(answer).toMatchObject({ id, accept: true, candidates: bobCandidates });
    expect(Buffer.from(answer!.from)).toEqual(Buffer.from(bob.keys.publicKey));

    // Answering the same request twice is an unknown request now.
    bob.core.answer(request!.rid, true, bobCandidates);
    h.step();
    expect(h.take(bob, 'error')[0]?.error.code).toBe(RendezvousErrorCode.UnknownRequest);
  });

  it('connect to an offline peer fails with PEER_OFFLINE; unanswered requests time out', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    const ghost = generateKeyPair(seededRandom('ghost')).publicKey;
    const id1 = alice.core.connect(ghost, candidates);
    h.step();
    expect(h.take(alice, 'error')).toMatchObject([{ id: id1, error: { code: RendezvousErrorCode.PeerOffline } }]);
    const id2 = alice.core.connect(bob.keys.publicKey, candidates);
    h.step();
    h.advance(h.server.limits.requestTimeoutMs + 1500);
    expect(h.take(alice, 'error')).toMatchObject([{ id: id2, error: { code: RendezvousErrorCode.Timeout } }]);
  });

  it('presence expires when the session drops or idles; a new session replaces the old one', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    h.close(bob);
    expect(h.server.isOnline(bob.keys.publicKey)).toBe(false);
    const lookupId = alice.core.lookup(bob.keys.publicKey);
    h.step();
    expect(h.take(alice, 'lookup-result').find((r) => r.id === lookupId)?.online).toBe(false);

    // Same key on a second session: the newer wins, the older is closed.
    const alice2 = h.connect('alice2', { keys: alice.keys });
    expect(alice.closed).toBe(true);
    expect(alice.closeReason).toBe('replaced');
    expect(h.server.isOnline(alice.keys.publicKey)).toBe(true);

    // Idle expiry: a session whose client stops pinging goes offline after idleTimeoutMs.
    alice2.closed = true; // stop driving alice2 (no pings) without telling the server
    h.advance(h.server.limits.idleTimeoutMs + 2000);
    expect(h.server.isOnline(alice.keys.publicKey)).toBe(false);
  });

  it('pings keep a live session online across the idle timeout', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    h.advance(h.server.limits.idleTimeoutMs * 3);
    expect(h.server.isOnline(alice.keys.publicKey)).toBe(true);
    expect(h.take(alice, 'pong').length).toBeGreaterThan(2);
  });

  it('coordinates a simultaneous punch: both get punch-go timed to the same instant', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    alice.core.rttMs = 100;
    bob.core.rttMs = 20;
    bob.core.punch(alice.keys.publicKey); // tells the server bob's RTT
    h.step();
    h.take(alice, 'punch-go');
    h.take(bob, 'punch-go');
    const id = alice.core.punch(bob.keys.publicKey);
    h.step();
    const [a] = h.take(alice, 'punch-go');
    const [b] = h.take(bob, 'punch-go');
    expect(a).toMatchObject({ id, delayMs: 20 }); // max(50,10) − 50 + 20
    expect(b).toMatchObject({ id: 0, delayMs: 60 }); // max(50,10) − 10 + 20
    // Arrival + delay coincide: 50 + 20 == 10 + 60.
    expect(50 + a!.delayMs).toBe(10 + b!.delayMs);
  });

  it('forwards short signals between peers', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    alice.core.signal(bob.keys.publicKey, 'punch-ready', new Uint8Array([9]));
    h.step();
    expect(h.take(bob, 'signal')).toMatchObject([{ kind: 'punch-ready', data: new Uint8Array([9]) }]);
  });
});

describe('RendezvousServerCore: hostile input', () => {
  it('counts malformed, oversized and rate-limited messages, closes abusers, keeps serving others', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    const mallory = h.connect('mallory');
    const packr = new Packr({ useRecords: false });
    const hostile: Uint8Array[] = [
      new Uint8Array([0xc1]), // never-used byte
      new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff]), // array claiming 4 billion items
      new Uint8Array([0xd4, 0x72, 0x01]), // msgpackr record extension
      packr.pack({ t: 'connect', id: 1, peer: new Uint8Array(31), candidates: [] }),
      packr.pack({
        t: 'connect',
        id: 1,
        peer: bob.keys.publicKey,
        candidates: Array.from({ length: 17 }, () => candidates[0]),
      }),
      packr.pack({
        t: 'connect',
        id: 1,
        peer: bob.keys.publicKey,
        candidates: [{ type: 'host', host: 'example.com', port: 1 }],
      }),
      packr.pack({ t: '__proto__', id: 1 }),
      packr.pack([1, 2, 3]),
      new Uint8Array(MAX_MESSAGE_BYTES + 1),
    ];
    for (const bytes of hostile) h.server.receive(mallory.sessionId, bytes, h.now);
    h.step();
    const stats = h.server.stats();
    expect(stats.drops.malformed).toBe(hostile.length - 1);
    expect(stats.drops.oversize).toBe(1);
    expect(h.take(mallory, 'error').map((e) => e.error.code)).toContain(RendezvousErrorCode.Oversize);
    // Others are unaffected.
    const id = alice.core.lookup(bob.keys.publicKey);
    h.step();
    expect(h.take(alice, 'lookup-result').find((r) => r.id === id)?.online).toBe(true);

    // A flood: more violations than tolerated closes mallory's session only.
    for (let i = 0; i < 200; i++) h.server.receive(mallory.sessionId, new Uint8Array([0xc1]), h.now);
    h.step();
    expect(mallory.closed).toBe(true);
    expect(mallory.closeReason).toBe('violations');
    expect(h.server.isOnline(alice.keys.publicKey)).toBe(true);
    const id2 = bob.core.lookup(alice.keys.publicKey);
    h.step();
    expect(h.take(bob, 'lookup-result').find((r) => r.id === id2)?.online).toBe(true);
  });

  it('rate-limits a chatty but well-formed session', () => {
    const h = new Harness();
    const alice = h.connect('alice');
    const bob = h.connect('bob');
    for (let i = 0; i < 110; i++) h.server.receive(alice.sessionId, encodeMessage({ t: 'ping', id: 1000 + i }), h.now);
    h.step();
    expect(h.server.stats().drops['rate-limited']).toBeGreaterThan(0);
    expect(h.take(alice, 'error').filter((e) => e.error.code === RendezvousErrorCode.RateLimited)).toHaveLength(1);
    expect(alice.closed).toBe(false);
    // After a second the bucket refilled and the session is served again.
    h.advance(1000);
    const id = alice.core.lookup(bob.keys.publicKey);
    h.step();
    expect(h.take(alice, 'lookup-result').find((r) => r.id === id)?.online).toBe(true);
  });
});

// ---- helpers ---------------------------------------------------------------------------------------

type Out = NonNullable<ReturnType<Harness['server']['pollOutput']>>;
function drain(h: Harness): Out[] {
  const outs: Out[] = [];
  for (let o = h.server.pollOutput(); o !== null; o = h.server.pollOutput()) outs.push(o);
  return outs;
}
function lastSend(h: Harness): Uint8Array | undefined {
  let data: Uint8Array | undefined;
  for (const o of drain(h)) if (o.kind === 'send') data = o.data;
  return data;
}
function errors(outs: Out[]): string[] {
  return outs
    .flatMap((o) => (o.kind === 'send' ? [decodeServerMessage(o.data)] : []))
    .flatMap((m) => (m.t === 'error' ? [m.code] : []));
}
