/**
 * Endpoint level: two Node Endpoints (real Noise-encrypted transport) that know only each other's
 * public keys and the server's address register with `punchline server`, exchange candidates, and
 * then carry a reliable stream through each relay kind:
 *   1. UDP relay, both legs bound on the endpoints' own shared sockets;
 *   2. stream relay for a "UDP-blocked" peer (its leg on its WebTransport session) to a UDP peer.
 *
 * The transport layer has no relay path yet (that comes with punching: relay-first with upgrade), so
 * each side puts a loopback shim socket in front of its endpoint: the endpoint dials / answers the
 * shim, and the shim moves the endpoint's datagrams in and out of the relay (encapsulated on the
 * endpoint's shared socket for UDP legs, framed on the WebTransport stream for stream legs). The relay
 * therefore carries the real encrypted transport packets end to end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Endpoint } from '../../src/node/endpoint.js';
import type { PunchlineStream } from '../../src/node/stream.js';
import { PunchlineServer } from '../../src/server/server.js';
import { RendezvousClient, type RelayAllocation, type StreamRelay } from '../../src/node/rendezvous-client.js';
import { encapsulate, isControlChannel, parseRelayDatagram } from '../../src/traversal/relay/udp-control.js';
import { realKeyPair } from '../node/real-core.js';

interface Side {
  endpoint: Endpoint;
  client: RendezvousClient;
  /** Where relayed inner datagrams for this side go (set per scenario). */
  onRelayed: ((inner: Uint8Array) => void) | null;
}

let server: PunchlineServer;
let dataDir: string;
const cleanup: (() => Promise<void> | void)[] = [];

async function side(): Promise<Side> {
  const keyPair = realKeyPair();
  const endpoint = await Endpoint.bind({ host: '127.0.0.1', port: 0, keyPair });
  const s: Side = { endpoint, client: undefined as unknown as RendezvousClient, onRelayed: null };
  const serverUdp = server.info.udp;
  endpoint.addDatagramHandler('relay', (buf, from) => {
    if (from.port !== serverUdp.port) return;
    const relay = parseRelayDatagram(buf);
    if (!relay) return;
    if (isControlChannel(relay.channel)) s.client.receiveUdp(buf);
    else s.onRelayed?.(relay.inner.slice());
  });
  s.client = await RendezvousClient.connect({
    url: server.info.url,
    serverCertificateHash: server.info.certificateSha256,
    serverPublicKey: server.info.publicKey,
    keyPair,
    udp: { send: (d) => void endpoint.send(d, serverUdp).catch(() => undefined) },
  });
  cleanup.push(async () => {
    s.client.close();
    await endpoint.close();
  });
  return s;
}

/** A loopback socket standing in for "the peer via the relay" in front of `s.endpoint`. */
async function shim(s: Side, out: (datagram: Uint8Array) => void): Promise<{ port: number }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const endpointPort = s.endpoint.address().port;
  socket.on('message', (msg) => out(msg));
  s.onRelayed = (inner) => socket.send(inner, endpointPort, '127.0.0.1');
  cleanup.push(() => new Promise<void>((r) => socket.close(() => r())));
  return { port: socket.address().port };
}

/** a dials b through the shims; b echoes a SHA-256 of what it read; returns bytes verified. */
async function transfer(
  a: Side,
  b: Side,
  aShim: { port: number },
  bShim: { port: number },
  bytes: number,
): Promise<void> {
  void bShim;
  const data = randomBytes(bytes);
  const received = new Promise<string>((resolve, reject) => {
    b.endpoint.once('connection', (connection) => {
      connection.once('stream', (stream: PunchlineStream) => {
        const hash = createHash('sha256');
        stream.on('data', (chunk: Buffer) => hash.update(chunk));
        stream.on('end', () => resolve(hash.digest('hex')));
        stream.on('error', reject);
        connection.on('error', () => undefined);
      });
    });
  });
  const connection = await a.endpoint.connect({ host: '127.0.0.1', port: aShim.port, publicKey: b.endpoint.publicKey });
  const stream = connection.openStream();
  stream.on('error', () => undefined); // destroyed by our own close() below
  stream.end(data);
  expect(await received).toBe(createHash('sha256').update(data).digest('hex'));
  connection.on('error', () => undefined);
  await connection.close();
}

describe('endpoints through punchline server relays', () => {
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'punchline-endpoint-relay-'));
    server = await PunchlineServer.start({ host: '127.0.0.1', udpPort: 0, port: 0, metricsPort: null, dataDir });
  });
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  let alice: Side;
  let bob: Side;

  it('register and exchange candidates knowing only public keys', async () => {
    alice = await side();
    bob = await side();
    const reflexive = await bob.client.startUdpPresence();
    expect(reflexive.port).toBe(bob.endpoint.address().port); // the endpoint's own shared socket
    bob.client.on('connect-request', (r) =>
      bob.client.answer(r.rid, true, [{ type: 'srflx', host: reflexive.host, port: reflexive.port }]),
    );
    expect((await alice.client.lookup(bob.endpoint.publicKey)).online).toBe(true);
    const answer = await alice.client.connect(bob.endpoint.publicKey, []);
    expect(answer.candidates).toEqual([{ type: 'srflx', host: reflexive.host, port: reflexive.port }]);
  });

  it('carries an encrypted transport stream through the UDP relay', async () => {
    const offered = new Promise<RelayAllocation>((r) => bob.client.once('relay-allocated', r));
    const legA = await alice.client.allocateRelay(bob.endpoint.publicKey);
    const legB = await offered;
    expect((await alice.client.bindUdpRelay(legA)).port).toBe(alice.endpoint.address().port);
    expect((await bob.client.bindUdpRelay(legB)).port).toBe(bob.endpoint.address().port);
    const u = server.info.udp;
    const aShim = await shim(alice, (d) => void alice.endpoint.send(encapsulate(legA.channel, d), u));
    const bShim = await shim(bob, (d) => void bob.endpoint.send(encapsulate(legB.channel, d), u));
    // bob's endpoint answers the shim it saw the handshake from, which relays back via bob's leg.
    const before = server.core.stats().relay.relayedBytes;
    await transfer(alice, bob, aShim, bShim, 1 << 20);
    expect(server.core.stats().relay.relayedBytes - before).toBeGreaterThan(1 << 20);
    alice.client.releaseRelay(legA.channel);
  });

  it('carries an encrypted transport stream through the stream relay for a UDP-blocked peer', async () => {
    const offered = new Promise<RelayAllocation>((r) => bob.client.once('relay-allocated', r));
    const legA = await alice.client.allocateRelay(bob.endpoint.publicKey);
    const legB = await offered;
    const relay: StreamRelay = await alice.client.openStreamRelay(legA); // alice: no UDP to the server
    await bob.client.bindUdpRelay(legB);
    const u = server.info.udp;
    const aShim = await shim(alice, (d) => void relay.send(d));
    relay.on('datagram', (d: Uint8Array) => alice.onRelayed?.(d));
    const bShim = await shim(bob, (d) => void bob.endpoint.send(encapsulate(legB.channel, d), u));
    await new Promise((r) => setTimeout(r, 50)); // the server binds the stream leg on its header
    const before = server.adapterCounters().streamRelayBytes;
    await transfer(alice, bob, aShim, bShim, 512 * 1024);
    expect(server.adapterCounters().streamRelayBytes - before).toBeGreaterThan(0);
  });
});
