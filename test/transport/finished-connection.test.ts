/**
 * A finished connection leaves the endpoint's tables for good (RFC 9000 §10.3: a datagram for a
 * connection we no longer have is answered with a stateless reset). The application may still call
 * methods on its handle (read the rest of a stream, close again): each wakes the connection, and a
 * wake must not bring its connection IDs or the peer's reset tokens back into the routing tables.
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import type { Address } from '../../src/transport/api.js';
import type { TransportConnection } from '../../src/transport/connection.js';
import { TransportEndpoint } from '../../src/transport/endpoint.js';
import { deriveResetKey, RESET_TOKEN_LENGTH, resetToken } from '../../src/transport/stateless-reset.js';
import { CONNECTION_ID_LENGTH } from '../../src/wire/types.js';
import { SimNetwork } from '../sim/index.js';

const A: Address = { host: '10.0.0.1', port: 1000 };
const B: Address = { host: '10.0.0.2', port: 2000 };
const LEN = 60;

/** A connected pair after the connection ID exchange (the handshake's IDs retired). */
function connected(seed: number) {
  const net = new SimNetwork({ seed, link: { delayMs: 10 } });
  const ra = net.randomSource('A');
  const rb = net.randomSource('B');
  const keysB = generateKeyPair(rb);
  const a = net.addEndpoint(A, new TransportEndpoint({ staticKeyPair: generateKeyPair(ra), random: ra }));
  net.addEndpoint(B, new TransportEndpoint({ staticKeyPair: keysB, random: rb }));
  const conn = a.connect(B, { remotePublicKey: keysB.publicKey }, net.now) as TransportConnection;
  net.runUntil(() => conn.state === 'established');
  net.runFor(200);
  const ids = conn.connectionIds;
  if (ids === null) throw new Error('no connection IDs');
  const stream = conn.openStream(true);
  conn.write(stream, new Uint8Array(100));
  net.runFor(200);
  // From here on the test drives `a` by hand: nothing else wakes the connection.
  net.removeNode(B);
  return { net, a, conn, ids, stream, resetKeyB: deriveResetKey(keysB.secretKey) };
}

/** A short-header datagram to connection ID `dcid`, ending with `tail` (random when null). */
function shortPacket(net: SimNetwork, dcid: Uint8Array, tail: Uint8Array | null = null): Uint8Array {
  const p = new Uint8Array(LEN);
  net.randomSource('trigger')(p);
  p[0] = 0x40 | ((p[0] as number) & 0x07);
  p.set(dcid.subarray(0, CONNECTION_ID_LENGTH), 1);
  if (tail !== null) p.set(tail, LEN - RESET_TOKEN_LENGTH);
  return p;
}

/** Delivers `datagram` to `e` and reports what it did: dropped it as unroutable, and answered with a reset. */
function deliver(e: TransportEndpoint, datagram: Uint8Array, now: number): { dropped: boolean; reset: boolean } {
  const before = e.droppedDatagrams;
  e.receive(datagram, B, now);
  const dropped = e.droppedDatagrams === before + 1;
  const t = e.pollTransmit(now, new Uint8Array(1500));
  // A stateless reset is always shorter than its trigger (RFC 9000 §10.3.3).
  return { dropped, reset: t !== null && t.length < LEN };
}

describe('a finished connection does not re-enter the endpoint tables', () => {
  it('ID changes pending when it finished are dropped at the sweep, not applied by a later app call', () => {
    const { net, a, conn, ids, stream, resetKeyB } = connected(21);
    // ID changes the endpoint has not applied yet when the connection finishes. Made here directly on
    // the connection's lists, without a wake: today every public path that makes them also wakes the
    // connection, or the endpoint applies them before the timers run; the endpoint must not depend
    // on that (a timer row that changes IDs before the idle row, a frame processed late):
    //   - the peer retires one of our IDs: a route 'remove' and a replacement route 'add' (RFC 9000 §19.16);
    //   - one of the peer's spare IDs is set aside for a probe (probePath): its token becomes one to recognise.
    const before = ids.local.active.map((c) => c.slice());
    ids.local.onRetire(1, new Uint8Array(CONNECTION_ID_LENGTH));
    const reserved = ids.remote.reserve();
    expect(reserved).not.toBeNull();
    expect(conn.idsChanged).toBe(true);
    const ours = [...before, ...ids.local.active.filter((c) => !before.some((b) => b.every((x, i) => x === c[i])))];
    expect(ours.length).toBe(before.length + 1); // the replacement

    // Idle timeout (RFC 9000 §10.1): far past it, one onTimeout closes the connection and sweeps it.
    let now = net.now + 10 * 60_000;
    a.onTimeout(now);
    expect(conn.state).toBe('closed');
    expect(a.connections.size).toBe(0);
    expect(conn.idsChanged).toBe(false); // the sweep acknowledged and dropped them

    // The application keeps using its handle: every call wakes the connection.
    conn.read(stream);
    conn.close();
    expect(conn.idsChanged).toBe(false);
    // Whatever its lists report later (another retirement, as if a frame were processed late), a wake
    // of the swept connection routes nothing to it.
    const swept = ids.local.active.map((c) => c.slice());
    ids.local.onRetire(2, new Uint8Array(CONNECTION_ID_LENGTH));
    const lateReserved = ids.remote.reserve();
    expect(lateReserved).not.toBeNull();
    expect(conn.idsChanged).toBe(true);
    conn.read(stream);
    for (const c of ids.local.active) if (!swept.some((b) => b.every((x, i) => x === c[i]))) ours.push(c.slice());
    expect(ours.length).toBe(before.length + 2);

    // Each of its connection IDs (the retired ones, the replacements) is unroutable: the datagram
    // is dropped and answered with a stateless reset, not handed to the closed connection.
    for (const cid of ours) {
      now += 1000; // the reset sender's rate limit refills
      expect(deliver(a, shortPacket(net, cid), now)).toEqual({ dropped: true, reset: true });
    }
    // The reserved peer ID's token is not recognised any more: a datagram ending with it is not taken
    // for the peer's reset of a connection of ours (it draws our own reset, like any unknown one).
    const unknown = Uint8Array.from([0xee, 1, 2, 3, 4, 5, 6, 7]);
    for (const id of [reserved, lateReserved]) {
      now += 1000;
      const token = resetToken(resetKeyB, (id as { connectionId: Uint8Array }).connectionId);
      expect(deliver(a, shortPacket(net, unknown, token), now)).toEqual({ dropped: true, reset: true });
    }
    expect(a.connections.size).toBe(0);
  });

  it('a connection that finished with nothing pending: app calls after the sweep leave no route', () => {
    const { net, a, conn, ids, stream } = connected(22);
    const ours = ids.local.active.map((c) => c.slice());
    let now = net.now + 10 * 60_000;
    a.onTimeout(now);
    expect(conn.state).toBe('closed');
    expect(a.connections.size).toBe(0);
    conn.read(stream);
    conn.close();
    expect(() => conn.probePath({ host: '10.0.0.9', port: 9 })).toThrow();
    expect(() => conn.openStream(true)).toThrow();
    expect(a.nextDeadline()).toBe(Infinity);
    for (const cid of ours) {
      now += 1000;
      expect(deliver(a, shortPacket(net, cid), now)).toEqual({ dropped: true, reset: true });
    }
  });
});
