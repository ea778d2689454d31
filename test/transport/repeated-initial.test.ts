/**
 * A client repeats its Initial while it has no answer (our msg 2 was lost or is late). The server
 * endpoint finds the connection the Initial made by its address, DCID and digest (byInitial). What
 * the repeat gets depends on that connection's state (RFC 9000 §10.2):
 *   - closing (§10.2.1): the closing packet again, as for any packet attributed to the connection;
 *   - draining (§10.2.2): nothing;
 *   - closed (its state is discarded, §10.2): the Initial is a new connection attempt, exactly as it
 *     is once the endpoint has swept the connection, whether or not the sweep ran yet.
 * Driven by hand (no simulator loop), so nothing sweeps the endpoint behind the test's back.
 */
import { describe, expect, it, vi } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import type { Address, ConnectionHandle } from '../../src/transport/api.js';
import type { ConnectionSchedule } from '../../src/transport/connection-schedule.js';
import type { TransportConnection } from '../../src/transport/connection.js';
import { TransportEndpoint } from '../../src/transport/endpoint.js';
import { LongPacketType } from '../../src/wire/types.js';
import { SimNetwork } from '../sim/index.js';

const A: Address = { host: '192.0.2.1', port: 1000 };
const B: Address = { host: '192.0.2.2', port: 2000 };
const NOW = 1000;

/** Long-header packet type from the first byte (RFC 9000 §17.2), or -1 for a short header. */
function packetType(datagram: Uint8Array): number {
  const first = datagram[0] as number;
  return (first & 0x80) === 0 ? -1 : (first >> 4) & 0x03;
}

/** Every datagram `e` has to send now, copied. */
function drainTransmits(e: TransportEndpoint, now: number): { to: Address; data: Uint8Array }[] {
  const out: { to: Address; data: Uint8Array }[] = [];
  const buf = new Uint8Array(2048);
  for (let t = e.pollTransmit(now, buf); t !== null; t = e.pollTransmit(now, buf))
    out.push({ to: { ...t.destination }, data: buf.slice(0, t.length) });
  return out;
}

/** A client that dialled a server endpoint; the client's Initial reached the server once. */
function dialled(pattern: 'IK' | 'XX', seed = 1) {
  const net = new SimNetwork({ seed });
  const ra = net.randomSource('A');
  const rb = net.randomSource('B');
  const keysB = generateKeyPair(rb);
  const client = new TransportEndpoint({ staticKeyPair: generateKeyPair(ra), random: ra });
  const server = new TransportEndpoint({ staticKeyPair: keysB, random: rb });
  const conn = client.connect(B, pattern === 'IK' ? { remotePublicKey: keysB.publicKey } : {}, NOW);
  const [initial] = drainTransmits(client, NOW);
  if (initial === undefined || packetType(initial.data) !== LongPacketType.Initial) throw new Error('no Initial');
  server.receive(initial.data, A, NOW);
  const serverConn = [...server.connections.values()][0] as TransportConnection;
  return { client, server, conn, serverConn, initial: initial.data };
}

/** The ids of the connections the server endpoint routes. */
function serverConnections(server: TransportEndpoint): number[] {
  return [...server.connections.keys()];
}

/** The server endpoint's Initial index (endpoint.ts byInitial), read to check that nothing is left in it. */
function initialIndex(server: TransportEndpoint): Map<string, TransportConnection[]> {
  return (server as unknown as { byInitial: Map<string, TransportConnection[]> }).byInitial;
}

function schedule(server: TransportEndpoint): ConnectionSchedule<TransportConnection> {
  return (server as unknown as { schedule: ConnectionSchedule<TransportConnection> }).schedule;
}

describe('a repeated Initial and the state of its connection (RFC 9000 §10.2)', () => {
  it('closing: the repeat gets msg 2 again, then the CLOSE, so the client learns of the close (§10.2.1, §10.2.3)', () => {
    const { client, server, conn, serverConn, initial } = dialled('IK');
    // IK: the server holds the keys once msg 2 is written. It closes at once (it rejects the peer);
    // msg 2 and the CLOSE are both lost.
    expect(serverConn.state).toBe('established');
    serverConn.close(7, 'rejected');
    const first = drainTransmits(server, NOW);
    expect(first.map((d) => packetType(d.data))).toEqual([LongPacketType.Handshake, -1]);
    expect(serverConn.state).toBe('closing');

    server.receive(initial, A, NOW);
    const again = drainTransmits(server, NOW);
    // Without msg 2 the client could read no CLOSE: the handshake answer goes first.
    expect(again.map((d) => packetType(d.data))).toEqual([LongPacketType.Handshake, -1]);
    expect(again.every((d) => d.to.host === A.host && d.to.port === A.port)).toBe(true);
    const sent = again.reduce((n, d) => n + d.data.length, 0);
    expect(sent).toBeLessThanOrEqual(3 * initial.length); // within the anti-amplification limit (RFC 9000 §8.1)
    // No new connection: the closing one owns the Initial.
    expect(serverConnections(server)).toEqual([serverConn.id]);

    for (const d of again) client.receive(d.data, B, NOW);
    expect(conn.state).not.toBe('handshaking');
    expect(conn.closeReason).toMatchObject({ errorCode: 7, application: true, remote: true });
  });

  it('closing: an XX client repeating msg 3 gets the CLOSE again, from its own address only', () => {
    const { client, server, serverConn } = dialled('XX');
    for (const d of drainTransmits(server, NOW)) client.receive(d.data, B, NOW); // msg 2
    const [msg3] = drainTransmits(client, NOW);
    if (msg3 === undefined || packetType(msg3.data) !== LongPacketType.Handshake) throw new Error('no msg 3');
    server.receive(msg3.data, A, NOW);
    expect(serverConn.state).toBe('established');
    drainTransmits(server, NOW);
    serverConn.close(7, 'rejected');
    expect(drainTransmits(server, NOW).map((d) => packetType(d.data))).toEqual([-1]); // the CLOSE, lost

    server.receive(msg3.data, { host: '192.0.2.99', port: 1000 }, NOW); // not the connection's peer
    expect(drainTransmits(server, NOW)).toEqual([]);
    server.receive(msg3.data, A, NOW);
    expect(drainTransmits(server, NOW).map((d) => packetType(d.data))).toEqual([-1]);
  });

  it('draining: the repeat gets nothing (§10.2.2)', () => {
    const { client, server, conn, serverConn, initial } = dialled('IK');
    for (const d of drainTransmits(server, NOW)) client.receive(d.data, B, NOW); // msg 2 arrives
    expect(conn.state).toBe('established');
    conn.close(3, 'bye');
    for (const d of drainTransmits(client, NOW)) server.receive(d.data, A, NOW); // its CLOSE arrives
    expect(serverConn.state).toBe('draining');
    drainTransmits(server, NOW); // the one answer to the peer's CLOSE

    server.receive(initial, A, NOW);
    expect(drainTransmits(server, NOW)).toEqual([]);
    expect(serverConnections(server)).toEqual([serverConn.id]);
  });

  for (const sweptFirst of [false, true]) {
    it(`closed, ${sweptFirst ? 'swept' : 'not yet swept'}: the repeat is a new connection attempt`, () => {
      const { server, serverConn, initial } = dialled('XX');
      drainTransmits(server, NOW); // msg 2, lost
      // The application rejects the connection during its handshake: closed at once, no CLOSE (no keys).
      (serverConn as ConnectionHandle).close(1, 'rejected');
      expect(serverConn.state).toBe('closed');
      if (sweptFirst) server.nextDeadline();
      const touch = vi.spyOn(schedule(server), 'touch');

      server.receive(initial, A, NOW);
      // The closed connection is not handed the Initial, nor re-scheduled.
      expect(touch.mock.calls.filter(([c]) => c === serverConn).length).toBe(0);
      const fresh = serverConnections(server).filter((id) => id !== serverConn.id);
      expect(fresh.length).toBe(1);
      const answer = drainTransmits(server, NOW);
      expect(answer.map((d) => packetType(d.data))).toEqual([LongPacketType.Handshake]);
      expect(serverConnections(server)).toEqual(fresh); // the closed one was swept

      // The next repeat reaches the new connection (it is in the Initial index): no third connection.
      server.receive(initial, A, NOW);
      expect(serverConnections(server)).toEqual(fresh);
      expect(drainTransmits(server, NOW).map((d) => packetType(d.data))).toEqual([LongPacketType.Handshake]);
      for (const list of initialIndex(server).values()) expect(list.map((c) => c.id)).not.toContain(serverConn.id);
      touch.mockRestore();
    });
  }

  it('a swept connection leaves the Initial index (no leak)', () => {
    const { server, serverConn } = dialled('XX', 2);
    expect([...initialIndex(server).values()].flat().map((c) => c.id)).toEqual([serverConn.id]);
    (serverConn as ConnectionHandle).close(1, 'rejected');
    server.nextDeadline();
    expect(serverConnections(server)).toEqual([]);
    expect(initialIndex(server).size).toBe(0);
  });

  it('a swept connection is never scheduled again: not by its Initial, not by the application', () => {
    const { server, serverConn, initial } = dialled('XX', 3);
    drainTransmits(server, NOW);
    (serverConn as ConnectionHandle).close(1, 'rejected');
    server.nextDeadline(); // swept
    const touch = vi.spyOn(schedule(server), 'touch');
    // The application still holds the handle and calls it (each call wakes the connection).
    serverConn.close(2, 'again');
    serverConn.seedKeepAlive(1000, null);
    expect(() => serverConn.openStream(true)).toThrow();
    server.receive(initial, A, NOW); // a new connection, not the swept one
    server.nextDeadline();
    expect(touch.mock.calls.filter(([c]) => c === serverConn).length).toBe(0);
    expect(serverConnections(server)).not.toContain(serverConn.id);
    touch.mockRestore();
  });
});
