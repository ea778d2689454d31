import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import type { ConnectionHandle } from '../../src/transport/api.js';
import { TransportEndpoint } from '../../src/transport/endpoint.js';
import { SimNetwork } from '../sim/index.js';
import { A, B, makePair } from './helpers.js';

describe('TransportEndpoint', () => {
  it('drops garbage, unknown connection IDs and short datagrams without state', () => {
    const net = new SimNetwork({ seed: 1 });
    const random = net.randomSource('x');
    const e = new TransportEndpoint({ staticKeyPair: generateKeyPair(random), random });
    for (const d of [
      new Uint8Array(0),
      new Uint8Array(5),
      new Uint8Array(100).fill(0x41),
      new Uint8Array(1200).fill(0xc0),
      new Uint8Array(30).fill(0x00),
    ]) {
      e.receive(d, A, 0);
    }
    expect(e.connections.size).toBe(0);
    expect(e.droppedDatagrams).toBe(5);
    // The short-header datagram for an unknown connection ID is answered with a stateless reset
    // (RFC 9000 §10.3, spec/wire.md §5.3.2): smaller than its trigger, nothing else.
    const reset = e.pollTransmit(0, new Uint8Array(1500));
    expect(reset?.length).toBeLessThan(100);
    expect(reset?.length).toBeGreaterThanOrEqual(27);
    expect(e.pollTransmit(0, new Uint8Array(1500))).toBeNull();
    expect(e.nextDeadline()).toBe(Infinity);
  });

  it('refuses incoming connections when acceptIncoming is false', () => {
    const net = new SimNetwork({ seed: 2 });
    const ra = net.randomSource('a');
    const rb = net.randomSource('b');
    const kb = generateKeyPair(rb);
    const a = net.addEndpoint(
      A,
      new TransportEndpoint({ staticKeyPair: generateKeyPair(ra), random: ra, config: { handshakeTimeoutMs: 3000 } }),
    );
    const b = net.addEndpoint(B, new TransportEndpoint({ staticKeyPair: kb, random: rb, acceptIncoming: false }));
    a.connect(B, { remotePublicKey: kb.publicKey }, net.now);
    net.runUntil(() => net.events(A).some((ev) => ev.type === 'closed'));
    expect(b.connections.size).toBe(0);
    expect(b.droppedDatagrams).toBeGreaterThan(0);
  });

  it('an IK dial to the wrong key never completes (Initial fails to authenticate)', () => {
    const p = makePair({ clientConfig: { handshakeTimeoutMs: 3000 } });
    // re-dial with a random key instead of the server's
    const c = p.client.connect(B, { remotePublicKey: generateKeyPair(p.net.randomSource('z')).publicKey }, p.net.now);
    p.net.runUntil(() => p.events(A, 'closed').some((e) => e.type === 'closed' && e.connection === c));
    expect(c.state).toBe('closed');
  });

  it('serves many connections round-robin and removes closed ones', () => {
    const net = new SimNetwork({ seed: 3, link: { delayMs: 5 } });
    const rs = net.randomSource('s');
    const ks = generateKeyPair(rs);
    const server = net.addEndpoint(B, new TransportEndpoint({ staticKeyPair: ks, random: rs }));
    const clients: ConnectionHandle[] = [];
    for (let i = 0; i < 8; i++) {
      const addr = { host: `10.0.1.${i + 1}`, port: 3000 + i };
      const r = net.randomSource(`c${i}`);
      const ep = net.addEndpoint(addr, new TransportEndpoint({ staticKeyPair: generateKeyPair(r), random: r }));
      clients.push(ep.connect(B, { remotePublicKey: ks.publicKey }, net.now));
    }
    net.runUntil(() => clients.every((c) => c.state === 'established') && server.connections.size === 8);
    for (const c of clients) {
      const id = c.openStream(false);
      c.write(id, new Uint8Array(20_000));
      c.finish(id);
    }
    net.runUntil(() => net.events(B).filter((e) => e.type === 'stream-opened').length === 8);
    // Round-robin: with something to send on every connection, consecutive datagrams go to the
    // connections in turn, in the same order each round.
    for (const sc of server.connections.values()) sc.write(sc.openStream(false), new Uint8Array(10_000));
    const order: string[] = [];
    const buf = new Uint8Array(2048);
    for (
      let t = server.pollTransmit(net.now, buf);
      t !== null && order.length < 24;
      t = server.pollTransmit(net.now, buf)
    )
      order.push(`${t.destination.host}:${t.destination.port}`);
    expect(order).toHaveLength(24);
    const firstRound = order.slice(0, 8);
    expect(new Set(firstRound).size).toBe(8);
    expect(order.slice(8, 16)).toEqual(firstRound);
    expect(order.slice(16, 24)).toEqual(firstRound);
    for (const c of clients) c.close(1, 'done');
    net.runUntil(() => server.connections.size === 0, { maxTimeMs: 30_000 });
  });
});
