import { describe, expect, it } from 'vitest';
import { systemRandom } from '../../src/crypto/sodium.js';
import {
  deriveResetKey,
  MIN_STATELESS_RESET_LENGTH,
  PREFERRED_STATELESS_RESET_LENGTH,
  RESET_TOKEN_LENGTH,
  ResetTokenTable,
  resetToken,
  StatelessResetSender,
} from '../../src/transport/stateless-reset.js';

const privateA = new Uint8Array(32).fill(7);
const privateB = new Uint8Array(32).fill(9);
const cid = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);

function shortPacket(length: number, dcid: Uint8Array = cid): Uint8Array {
  const p = new Uint8Array(length);
  systemRandom(p);
  p[0] = 0x40 | ((p[0] as number) & 0x07);
  p.set(dcid, 1);
  return p;
}

describe('stateless reset (RFC 9000 §10.3, spec/wire.md §5.3.2)', () => {
  it('the token depends on the identity and the connection ID, and survives a restart', () => {
    const t1 = resetToken(deriveResetKey(privateA), cid);
    expect(t1.length).toBe(RESET_TOKEN_LENGTH);
    // the same identity after a restart derives the same token
    expect(resetToken(deriveResetKey(privateA.slice()), cid)).toEqual(t1);
    expect(resetToken(deriveResetKey(privateB), cid)).not.toEqual(t1);
    expect(resetToken(deriveResetKey(privateA), Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 9]))).not.toEqual(t1);
  });

  it('a restarted endpoint answers a packet of an old connection with a reset the peer recognises', () => {
    const key = deriveResetKey(privateA);
    const table = new ResetTokenTable<string>();
    table.add(resetToken(key, cid), 'connection to A');
    const sender = new StatelessResetSender({ resetKey: deriveResetKey(privateA), random: systemRandom });
    const out = new Uint8Array(1500);
    const trigger = shortPacket(1200);
    const n = sender.write(trigger, trigger.length, 0, out);
    expect(n).toBeGreaterThanOrEqual(PREFERRED_STATELESS_RESET_LENGTH);
    expect(n).toBeLessThan(trigger.length);
    expect((out[0] as number) & 0xc0).toBe(0x40); // looks like a short header
    expect(table.match(out, n)).toBe('connection to A');
  });

  it('is always smaller than its trigger and never below 27 bytes', () => {
    const sender = new StatelessResetSender({ resetKey: deriveResetKey(privateA), random: systemRandom, burst: 100 });
    const out = new Uint8Array(1500);
    for (const len of [28, 30, 40, 41, 45, 100]) {
      const n = sender.write(shortPacket(len), len, 0, out);
      expect(n).toBeLessThan(len);
      expect(n).toBeGreaterThanOrEqual(MIN_STATELESS_RESET_LENGTH);
    }
    expect(sender.write(shortPacket(27), 27, 0, out)).toBe(0);
    expect(sender.write(shortPacket(9), 9, 0, out)).toBe(0);
  });

  it('is rate-limited', () => {
    const sender = new StatelessResetSender({
      resetKey: deriveResetKey(privateA),
      random: systemRandom,
      burst: 5,
      ratePerSecond: 10,
    });
    const out = new Uint8Array(1500);
    let sent = 0;
    for (let i = 0; i < 100; i++) if (sender.write(shortPacket(200), 200, 0, out) > 0) sent++;
    expect(sent).toBe(5);
    for (let i = 0; i < 100; i++) if (sender.write(shortPacket(200), 200, 1000, out) > 0) sent++;
    expect(sent).toBe(10);
    expect(sender.suppressed).toBe(190);
  });

  it('detection ignores long headers, short datagrams and unknown tokens; forgets closed connections', () => {
    const key = deriveResetKey(privateA);
    const table = new ResetTokenTable<number>();
    const token = resetToken(key, cid);
    table.add(token, 1);
    table.add(token, 1);
    expect(table.count).toBe(1);
    const reset = shortPacket(50);
    reset.set(token, 50 - RESET_TOKEN_LENGTH);
    expect(table.match(reset)).toBe(1);
    const long = reset.slice();
    long[0] = 0xc0;
    expect(table.match(long)).toBeNull();
    expect(table.match(reset.subarray(reset.length - 26))).toBeNull();
    const other = reset.slice();
    other[other.length - 1] = ((other[other.length - 1] as number) ^ 1) & 0xff;
    expect(table.match(other)).toBeNull();
    table.removeOwner(1);
    expect(table.match(reset)).toBeNull();
    expect(table.count).toBe(0);
    table.add(token, 2);
    table.remove(token, 2);
    expect(table.count).toBe(0);
  });
});

describe('stateless reset between endpoints (simulator)', () => {
  it('a peer that restarted with the same identity ends the old connection at once', async () => {
    const { SimNetwork } = await import('../sim/index.js');
    const { TransportEndpoint } = await import('../../src/transport/endpoint.js');
    const { generateKeyPair } = await import('../../src/crypto/keys.js');
    const { TransportErrorCode } = await import('../../src/transport/errors.js');
    const A = { host: '10.0.0.1', port: 1000 };
    const B = { host: '10.0.0.2', port: 2000 };
    const net = new SimNetwork({ seed: 5, link: { delayMs: 10 } });
    const ra = net.randomSource('A');
    const rb = net.randomSource('B');
    const keysB = generateKeyPair(rb);
    const a = net.addEndpoint(A, new TransportEndpoint({ staticKeyPair: generateKeyPair(ra), random: ra }));
    net.addEndpoint(B, new TransportEndpoint({ staticKeyPair: keysB, random: rb }));
    const conn = a.connect(B, { remotePublicKey: keysB.publicKey }, net.now);
    net.runUntil(() => conn.state === 'established');
    net.runFor(200); // NEW_CONNECTION_ID exchanged, the handshake ID retired
    // B restarts: same identity, no state
    net.removeNode(B);
    net.addEndpoint(B, new TransportEndpoint({ staticKeyPair: keysB, random: net.randomSource('B2') }));
    const t0 = net.now;
    const id = conn.openStream(false);
    conn.write(id, new Uint8Array(1000));
    net.runUntil(() => conn.state === 'closed', { maxTimeMs: 5_000 });
    expect(net.now - t0).toBeLessThan(100); // one round trip, not the idle timeout
    const closed = net.events(A).find((e) => e.type === 'closed');
    expect(closed?.type === 'closed' && closed.reason.errorCode).toBe(TransportErrorCode.STATELESS_RESET);
  });

  it('an endpoint with another identity cannot end it (its reset carries no known token)', async () => {
    const { SimNetwork } = await import('../sim/index.js');
    const { TransportEndpoint } = await import('../../src/transport/endpoint.js');
    const { generateKeyPair } = await import('../../src/crypto/keys.js');
    const A = { host: '10.0.0.1', port: 1000 };
    const B = { host: '10.0.0.2', port: 2000 };
    const net = new SimNetwork({ seed: 6, link: { delayMs: 10 } });
    const ra = net.randomSource('A');
    const rb = net.randomSource('B');
    const keysB = generateKeyPair(rb);
    const a = net.addEndpoint(
      A,
      new TransportEndpoint({ staticKeyPair: generateKeyPair(ra), random: ra, config: { idleTimeoutMs: 3000 } }),
    );
    net.addEndpoint(B, new TransportEndpoint({ staticKeyPair: keysB, random: rb }));
    const conn = a.connect(B, { remotePublicKey: keysB.publicKey }, net.now);
    net.runUntil(() => conn.state === 'established');
    net.runFor(200);
    net.removeNode(B);
    const other = net.randomSource('C');
    net.addEndpoint(B, new TransportEndpoint({ staticKeyPair: generateKeyPair(other), random: other }));
    const id = conn.openStream(false);
    conn.write(id, new Uint8Array(1000));
    net.runFor(1_000);
    expect(conn.state).toBe('established');
  });
});

describe('stateless reset detection rules (RFC 9000 §10.3.1)', () => {
  /** A connected pair after the ID exchange; B's reset key, to forge B's resets. */
  async function connected(seed: number) {
    const { SimNetwork } = await import('../sim/index.js');
    const { TransportEndpoint } = await import('../../src/transport/endpoint.js');
    const { generateKeyPair } = await import('../../src/crypto/keys.js');
    const A = { host: '10.0.0.1', port: 1000 };
    const B = { host: '10.0.0.2', port: 2000 };
    const net = new SimNetwork({ seed, link: { delayMs: 10 } });
    const ra = net.randomSource('A');
    const rb = net.randomSource('B');
    const keysB = generateKeyPair(rb);
    const a = net.addEndpoint(A, new TransportEndpoint({ staticKeyPair: generateKeyPair(ra), random: ra }));
    const b = net.addEndpoint(B, new TransportEndpoint({ staticKeyPair: keysB, random: rb }));
    const conn = a.connect(B, { remotePublicKey: keysB.publicKey }, net.now);
    net.runUntil(() => conn.state === 'established');
    net.runFor(200); // NEW_CONNECTION_ID exchanged, the handshake ID retired
    const ids = conn.connectionIds;
    if (ids === null) throw new Error('no connection IDs');
    const keyB = deriveResetKey(keysB.secretKey);
    /** A reset from B ending with the token of B's ID `peerCid`, sent to A's ID `dcid`. */
    const reset = (peerCid: Uint8Array, dcid: Uint8Array | null): Uint8Array => {
      const p = shortPacket(60, dcid ?? Uint8Array.from([0xee, 1, 2, 3, 4, 5, 6, 7]));
      p.set(resetToken(keyB, peerCid), 60 - RESET_TOKEN_LENGTH);
      return p;
    };
    return { net, a, b, B, conn, ids, reset };
  }

  it('a reset that routes to the connection (fails to authenticate there) ends it at once', async () => {
    const { net, a, B, conn, ids, reset } = await connected(11);
    const ours = ids.local.active[0] as Uint8Array; // routes to conn: it is decrypted there and fails
    a.receive(reset(ids.remote.active, ours), B, net.now);
    expect(conn.state).toBe('closed');
    net.runFor(1); // the network collects the endpoint's events
    const closed = net.events({ host: '10.0.0.1', port: 1000 }).find((e) => e.type === 'closed');
    expect(closed?.type === 'closed' && closed.reason.errorCode).toBe(0x10003);
  });

  it('a datagram that routes to the connection and ends with no token of the peer leaves it open', async () => {
    const { net, a, B, conn, ids } = await connected(12);
    a.receive(shortPacket(60, ids.local.active[0] as Uint8Array), B, net.now);
    expect(conn.state).toBe('established');
  });

  it('the token of a peer ID never used (a spare) does not match', async () => {
    const { net, a, b, B, conn, ids, reset } = await connected(13);
    const peer = [...b.connections.values()][0];
    const issued = peer?.connectionIds?.local.active ?? [];
    const unused = issued.filter((c) => c.some((x, i) => x !== ids.remote.active[i]));
    expect(unused.length).toBeGreaterThanOrEqual(3); // B's spares, announced to A with their tokens
    for (const cid of unused) {
      a.receive(reset(cid, null), B, net.now);
      a.receive(reset(cid, ids.local.active[0] as Uint8Array), B, net.now);
    }
    expect(conn.state).toBe('established');
  });

  it('the token of a retired peer ID stops matching at once, the new one matches at once', async () => {
    const { net, a, B, conn, ids, reset } = await connected(15);
    const old = ids.remote.active.slice();
    conn.localAddressChanged(net.now); // moves to an unused peer ID and retires the old one (RFC 9000 §9.5)
    expect(ids.remote.active).not.toEqual(old);
    // no datagram received, no timer run since: the retired token must not match already
    a.receive(reset(old, null), B, net.now);
    a.receive(reset(old, ids.local.active[0] as Uint8Array), B, net.now);
    expect(conn.state).toBe('established');
    a.receive(reset(ids.remote.active, null), B, net.now);
    expect(conn.state).toBe('closed');
  });
});
