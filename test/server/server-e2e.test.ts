/**
 * End to end on loopback: `PunchlineServer` (UDP + WebTransport over HTTP/2 + metrics) and two
 * RendezvousClients that know only each other's public keys and the server's address, certificate
 * hash and key. They exchange candidates, then opaque "encrypted" datagrams through the UDP relay
 * and the stream relay. Hostile clients run alongside; the others keep being served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes as rawRandomBytes } from 'node:crypto';
import { PunchlineServer } from '../../src/server/server.js';
import { RendezvousClient, type RelayAllocation } from '../../src/node/rendezvous-client.js';
import { generateKeyPair, type KeyPair } from '../../src/crypto/keys.js';
import { encapsulate, isControlChannel, parseRelayDatagram } from '../../src/traversal/relay/udp-control.js';
import { StreamKind, encodeFrame } from '../../src/traversal/rendezvous/framing.js';
import { RendezvousErrorCode } from '../../src/traversal/rendezvous/errors.js';
import type { Candidate } from '../../src/traversal/rendezvous/messages.js';

function opaque(n: number): Buffer {
  const b = rawRandomBytes(n);
  b[0] = 0x40 | (b[0]! & 0x3f); // short-header range: what an encrypted transport packet looks like
  return b;
}

interface Peer {
  keys: KeyPair;
  socket: dgram.Socket;
  client: RendezvousClient;
  /** Inner datagrams received through the UDP relay, by channel hex. */
  relayed: Map<string, Buffer[]>;
}

let server: PunchlineServer;
let dataDir: string;
const peers: Peer[] = [];

async function peer(name: string): Promise<Peer> {
  const keys = generateKeyPair();
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const relayed = new Map<string, Buffer[]>();
  let client: RendezvousClient | undefined;
  socket.on('message', (msg, rinfo) => {
    if (rinfo.port !== server.info.udp.port) return;
    const relay = parseRelayDatagram(msg);
    if (!relay) return;
    if (isControlChannel(relay.channel)) client?.receiveUdp(msg);
    else {
      const key = Buffer.from(relay.channel).toString('hex');
      relayed.set(key, [...(relayed.get(key) ?? []), Buffer.from(relay.inner)]);
    }
  });
  client = await RendezvousClient.connect({
    url: server.info.url,
    serverCertificateHash: server.info.certificateSha256,
    serverPublicKey: server.info.publicKey,
    keyPair: keys,
    udp: { send: (d) => socket.send(d, server.info.udp.port, server.info.udp.host) },
  });
  void name;
  const p = { keys, socket, client, relayed };
  peers.push(p);
  return p;
}

async function until(what: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'punchline-server-'));
  server = await PunchlineServer.start({ host: '127.0.0.1', udpPort: 0, port: 0, metricsPort: 0, dataDir });
});

afterAll(async () => {
  for (const p of peers) {
    p.client.close();
    p.socket.close();
  }
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('punchline server end to end (loopback)', () => {
  let alice: Peer;
  let bob: Peer;

  it('registers two peers and exchanges candidates through a connect request', async () => {
    alice = await peer('alice');
    bob = await peer('bob');
    const aliceReflexive = await alice.client.startUdpPresence();
    const bobReflexive = await bob.client.startUdpPresence();
    expect(aliceReflexive).toEqual({ host: '127.0.0.1', port: alice.socket.address().port });

    const lookup = await alice.client.lookup(bob.keys.publicKey);
    expect(lookup).toEqual({ online: true, udp: bobReflexive });

    const bobCandidates: Candidate[] = [
      { type: 'host', host: '127.0.0.1', port: bob.socket.address().port },
      { type: 'srflx', host: bobReflexive.host, port: bobReflexive.port },
    ];
    bob.client.on('connect-request', (request) => {
      expect(Buffer.from(request.from)).toEqual(Buffer.from(alice.keys.publicKey));
      bob.client.answer(request.rid, true, bobCandidates, { payload: new Uint8Array([42]) });
    });
    const aliceCandidates: Candidate[] = [{ type: 'srflx', host: aliceReflexive.host, port: aliceReflexive.port }];
    const answer = await alice.client.connect(bob.keys.publicKey, aliceCandidates);
    expect(answer.accept).toBe(true);
    expect(answer.candidates).toEqual(bobCandidates);
    expect([...answer.payload!]).toEqual([42]);

    // Coordinated punch: both sides get their "go".
    const bobGo = new Promise<{ delayMs: number }>((r) => bob.client.once('punch-go', r));
    const aliceGo = await alice.client.punch(bob.keys.publicKey);
    expect(aliceGo.delayMs).toBeGreaterThanOrEqual(0);
    expect((await bobGo).delayMs).toBeGreaterThanOrEqual(0);
  });

  it('relays opaque datagrams over the UDP relay, both directions', async () => {
    const bobAllocation = new Promise<RelayAllocation>((r) => bob.client.once('relay-allocated', r));
    const mine = await alice.client.allocateRelay(bob.keys.publicKey);
    const theirs = await bobAllocation;
    await alice.client.bindUdpRelay(mine);
    await bob.client.bindUdpRelay(theirs);
    const sent = Array.from({ length: 50 }, (_, i) => opaque(100 + i * 20));
    for (const d of sent) alice.socket.send(encapsulate(mine.channel, d), server.info.udp.port, '127.0.0.1');
    const bobKey = Buffer.from(theirs.channel).toString('hex');
    await until(() => (bob.relayed.get(bobKey)?.length ?? 0) >= sent.length);
    expect(bob.relayed.get(bobKey)).toEqual(sent);
    const back = opaque(1200);
    bob.socket.send(encapsulate(theirs.channel, back), server.info.udp.port, '127.0.0.1');
    const aliceKey = Buffer.from(mine.channel).toString('hex');
    await until(() => (alice.relayed.get(aliceKey)?.length ?? 0) >= 1);
    expect(alice.relayed.get(aliceKey)).toEqual([back]);
  });

  it('relays through the stream relay for a peer whose network blocks UDP', async () => {
    const bobAllocation = new Promise<RelayAllocation>((r) => bob.client.once('relay-allocated', r));
    const mine = await alice.client.allocateRelay(bob.keys.publicKey);
    const theirs = await bobAllocation;
    const stream = await alice.client.openStreamRelay(mine); // alice: no UDP at all on this leg
    await bob.client.bindUdpRelay(theirs);
    const received: Buffer[] = [];
    stream.on('datagram', (d: Uint8Array) => received.push(Buffer.from(d)));
    const fromBob = Array.from({ length: 20 }, () => opaque(1100));
    // The server needs the stream's header before it can forward to it.
    await until(() => server.adapterCounters().sessionsAccepted >= 2);
    await new Promise((r) => setTimeout(r, 50));
    for (const d of fromBob) bob.socket.send(encapsulate(theirs.channel, d), server.info.udp.port, '127.0.0.1');
    await until(() => received.length >= fromBob.length);
    expect(received).toEqual(fromBob);
    const fromAlice = Array.from({ length: 20 }, () => opaque(900));
    for (const d of fromAlice) expect(stream.send(d)).toBe(true);
    const key = Buffer.from(theirs.channel).toString('hex');
    await until(() => (bob.relayed.get(key)?.length ?? 0) >= fromAlice.length);
    expect(bob.relayed.get(key)).toEqual(fromAlice);
  });

  it('relays between two stream legs', async () => {
    const bobAllocation = new Promise<RelayAllocation>((r) => bob.client.once('relay-allocated', r));
    const mine = await alice.client.allocateRelay(bob.keys.publicKey);
    const theirs = await bobAllocation;
    const a = await alice.client.openStreamRelay(mine);
    const b = await bob.client.openStreamRelay(theirs);
    const got: Buffer[] = [];
    b.on('datagram', (d: Uint8Array) => got.push(Buffer.from(d)));
    await new Promise((r) => setTimeout(r, 50));
    const data = Array.from({ length: 100 }, () => opaque(1000));
    for (const d of data) a.send(d);
    await until(() => got.length >= data.length);
    expect(got).toEqual(data);
  });

  it('keeps serving everyone while hostile clients misbehave', async () => {
    // UDP garbage of every first-byte class on the shared port.
    const junk = dgram.createSocket('udp4');
    await new Promise<void>((r) => junk.bind(0, '127.0.0.1', () => r()));
    for (let i = 0; i < 300; i++) {
      const d = rawRandomBytes(1 + (i % 200));
      d[0] = i % 3 === 0 ? 0x12 : i % 3 === 1 ? 0x00 : i & 0xff;
      junk.send(d, server.info.udp.port, '127.0.0.1');
    }
    // A WebTransport session that sends garbage instead of registering, and one with an oversized frame.
    const { WebTransport } = (await import('@fails-components/webtransport')) as unknown as {
      WebTransport: new (
        url: string,
        init: object,
      ) => {
        ready: Promise<void>;
        closed: Promise<unknown>;
        createBidirectionalStream(): Promise<{ writable: { getWriter(): { write(b: Uint8Array): Promise<void> } } }>;
        close(): void;
      };
    };
    const hostile = [];
    for (const payload of [
      encodeFrame(new Uint8Array([0xc1, 0xc1])),
      encodeFrame(new Uint8Array(100).fill(0x92)),
      new Uint8Array([0xff, 0xff, 1, 2, 3]), // claims a 65535-byte control frame
    ]) {
      const wt = new WebTransport(server.info.url, {
        serverCertificateHashes: [{ algorithm: 'sha-256', value: server.info.certificateSha256 }],
        forceReliable: true,
      });
      wt.closed.catch(() => undefined);
      await wt.ready;
      const s = await wt.createBidirectionalStream();
      const w = s.writable.getWriter();
      await w.write(new Uint8Array([StreamKind.Control]));
      for (let i = 0; i < 30; i++) await w.write(payload).catch(() => undefined);
      hostile.push(wt);
    }
    // Meanwhile the good peers still look each other up and exchange a connect request.
    expect(await alice.client.lookup(bob.keys.publicKey)).toMatchObject({ online: true });
    const answer = await alice.client.connect(bob.keys.publicKey, []);
    expect(answer.accept).toBe(true);
    await until(() => server.adapterCounters().adapterDrops['frame-oversize']! >= 1);
    const stats = server.core.stats();
    expect(stats.drops.malformed + stats.drops.unauthenticated).toBeGreaterThan(0);
    await until(() => Object.values(server.core.stats().relay.drops).reduce((a, b) => a + b, 0) > 0);
    // Connect to an offline key: a typed error, not a hang.
    await expect(alice.client.connect(generateKeyPair().publicKey, [])).rejects.toMatchObject({
      code: RendezvousErrorCode.PeerOffline,
    });
    for (const wt of hostile) wt.close();
    junk.close();
  });

  it('answers STUN binding requests on the same UDP port', async () => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const request = Buffer.alloc(20);
    request.writeUInt16BE(0x0001, 0);
    request.writeUInt32BE(0x2112a442, 4);
    rawRandomBytes(12).copy(request, 8);
    const response = new Promise<Buffer>((r) => s.once('message', r));
    s.send(request, server.info.udp.port, '127.0.0.1');
    const msg = await response;
    expect(msg.readUInt16BE(0)).toBe(0x0101); // Binding success response (RFC 8489 §6)
    expect(msg.subarray(8, 20)).toEqual(request.subarray(8, 20));
    s.close();
  });

  it('accepts the WebSocket mapping (HTTP/1.1 upgrade, for browsers) and challenges the session', async () => {
    const { connect } = await import('node:tls');
    const before = server.adapterCounters().sessionsAccepted;
    const socket = connect({
      host: '127.0.0.1',
      port: server.info.tls.port,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    await new Promise<void>((r) => socket.once('secureConnect', () => r()));
    // The pinned certificate is the one served.
    expect(socket.getPeerCertificate().fingerprint256.replace(/:/g, '').toLowerCase()).toBe(
      Buffer.from(server.info.certificateSha256).toString('hex'),
    );
    let response = '';
    socket.on('data', (c: Buffer) => (response += c.toString('latin1')));
    socket.write(
      'GET /punchline HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: webtransport_kDraft2\r\n\r\n',
    );
    await until(() => response.includes('\r\n\r\n'));
    expect(response).toMatch(/^HTTP\/1\.1 101 Switching Protocols/);
    expect(response).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo='); // RFC 6455 §1.3 example
    await until(() => server.adapterCounters().sessionsAccepted > before);
    socket.destroy();
  });

  it('serves Prometheus metrics and a health endpoint', async () => {
    const base = `http://${server.info.metrics!.host}:${server.info.metrics!.port}`;
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^# TYPE punchline_peers_online gauge$/m);
    expect(Number(/^punchline_peers_online (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(2);
    expect(Number(/^punchline_relay_bytes_total (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(100_000);
    expect(text).toMatch(/^punchline_drops_total\{layer="relay",reason="unknown-leg"\} \d+$/m);
    expect(text).toMatch(/^punchline_messages_per_second /m);
    expect(text).toMatch(/^nodejs_eventloop_delay_seconds\{quantile="0.99"\} [\d.e-]+$/m);
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('shuts down gracefully: clients are told, ports are released', async () => {
    const closed = new Promise((r) => alice.client.once('close', r));
    await server.close();
    await closed;
    await expect(fetch(`http://${server.info.metrics!.host}:${server.info.metrics!.port}/healthz`)).rejects.toThrow();
  });
});
