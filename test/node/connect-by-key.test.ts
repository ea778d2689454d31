/**
 * Endpoint.connect(publicKey) end to end on loopback, with a real `punchline server`: two endpoints
 * that know only each other's public keys and the server address open a stream; the connection
 * starts on the relay and moves to the direct pair with no byte lost; relay-only works; the typed
 * errors of the contract (offline, refused, wrong server key, unreachable server).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePublicKey } from '../../src/crypto/key-text.js';
import { type BindOptions, type Connection, Endpoint } from '../../src/node/endpoint.js';
import type { PunchlineStream } from '../../src/node/stream.js';
import { PunchlineServer } from '../../src/server/server.js';
import { formatServerAddress, parseServerAddress } from '../../src/traversal/rendezvous/server-address.js';
import { realKeyPair } from './real-core.js';

let server: PunchlineServer;
let dataDir: string;
const open: Endpoint[] = [];

async function endpoint(options: Partial<BindOptions> = {}): Promise<Endpoint> {
  const e = await Endpoint.bind({ host: '127.0.0.1', keyPair: realKeyPair(), server: server.info.address, ...options });
  open.push(e);
  return e;
}

/** b echoes the SHA-256 of what it read on the first stream. */
function hashOfFirstStream(b: Endpoint): Promise<{ hash: string; connection: Connection }> {
  return new Promise((resolve, reject) => {
    b.once('connection', (connection: Connection) => {
      connection.on('error', () => undefined);
      connection.once('stream', (stream: PunchlineStream) => {
        const hash = createHash('sha256');
        stream.on('data', (chunk: Buffer) => hash.update(chunk));
        stream.on('end', () => resolve({ hash: hash.digest('hex'), connection }));
        stream.on('error', reject);
      });
    });
  });
}

/** Writes `data` in chunks, pausing every `every` bytes for `pauseMs` (spreads a transfer in time). */
async function writeSlowly(stream: PunchlineStream, data: Buffer, every: number, pauseMs: number): Promise<void> {
  for (let i = 0; i < data.length; i += every) {
    const chunk = data.subarray(i, i + every);
    if (!stream.write(chunk)) await new Promise((r) => stream.once('drain', r));
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  stream.end();
}

/** Blocks punch probes sent by `e` while `blocked()` (a firewall in front of one socket). */
function blockProbes(e: Endpoint, blocked: () => boolean): void {
  const send = e.send.bind(e);
  e.send = (datagram: Uint8Array, to) =>
    (datagram[0] === 0x10 || datagram[0] === 0x11) && blocked() ? Promise.resolve() : send(datagram, to);
}

describe('Endpoint.connect(publicKey) through punchline server', () => {
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'punchline-connect-by-key-'));
    server = await PunchlineServer.start({ host: '127.0.0.1', udpPort: 0, port: 0, metricsPort: null, dataDir });
  });
  afterAll(async () => {
    for (const e of open.reverse()) await e.close();
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('connects by public key, carries a stream, and ends on the direct pair with the relay released', async () => {
    const alice = await endpoint();
    const bob = await endpoint();
    expect(alice.network?.udp).toBe(true);
    const received = hashOfFirstStream(bob);
    const connection = await alice.connect(encodePublicKey(bob.publicKey));
    expect(connection.remotePublicKey).toEqual(bob.publicKey);
    const data = randomBytes(1 << 20);
    const stream = connection.openStream();
    stream.on('error', () => undefined); // destroyed by our own close() below
    stream.end(data);
    const { hash, connection: incoming } = await received;
    expect(hash).toBe(createHash('sha256').update(data).digest('hex'));
    expect(incoming.remotePublicKey).toEqual(alice.publicKey);
    // Same host: the host pair validates at once; the relay is released after its grace period.
    await until(() => connection.path.kind === 'direct' && incoming.path.kind === 'direct', 5000);
    expect(connection.path.remote).toEqual({ host: '127.0.0.1', port: bob.address().port });
    const stats = connection.stats();
    expect(stats.timeToFirstByteMs).toBeGreaterThan(0);
    expect(stats.timeToDirectMs).not.toBeNull();
    expect(stats.probesSent).toBeGreaterThan(0);
    await until(() => server.core.stats().relay.allocations === 0, 8000);
    await connection.close();
  });

  it('starts on the relay and moves to the direct pair mid-transfer, losing nothing', async () => {
    const limits = { attemptTimeoutMs: 800 };
    const alice = await endpoint({ traversal: limits });
    const bob = await endpoint({ traversal: limits });
    let blocked = true;
    blockProbes(alice, () => blocked);
    blockProbes(bob, () => blocked);
    const received = hashOfFirstStream(bob);
    const connection = await alice.connect(bob.publicKey);
    const paths: string[] = [connection.path.kind];
    // The RTT estimate as the connection switches: the relay's must not carry over (RFC 9000 §9.4).
    const rttAtSwitch: number[] = [];
    connection.on('path', (p) => {
      paths.push(p.kind);
      if (p.kind === 'direct') rttAtSwitch.push(p.rttMs);
    });
    expect(connection.path.kind).toBe('relay-udp');
    expect(connection.path.remote).toEqual(server.info.udp);
    const data = randomBytes(4 << 20);
    const stream = connection.openStream();
    stream.on('error', () => undefined);
    const writing = writeSlowly(stream, data, 64 * 1024, 40);
    // The first attempt fails (probes blocked); the retry, 2 s later, finds the direct pair.
    setTimeout(() => {
      blocked = false;
    }, 1200);
    await writing;
    const { hash } = await received;
    expect(hash).toBe(createHash('sha256').update(data).digest('hex'));
    await until(() => connection.path.kind === 'direct', 10_000);
    expect(paths[0]).toBe('relay-udp');
    expect(paths).toContain('direct');
    expect(connection.stats().timeToDirectMs).toBeGreaterThan(1000);
    // Started over from the initial RTT (333 ms) instead of the relay's loopback few ms, then learnt
    // the direct path's own.
    expect(rttAtSwitch[0]).toBeGreaterThanOrEqual(300);
    const more = connection.openStream();
    more.on('error', () => undefined);
    more.end(Buffer.alloc(4096));
    await until(() => connection.stats().smoothedRttMs < 100, 3000);
    await connection.close();
  }, 30_000);

  it('two concurrent connections between the same endpoints keep their own paths; closing one leaves the other intact', async () => {
    const alice = await endpoint();
    const bob = await endpoint();
    const incoming: Connection[] = [];
    bob.on('connection', (c: Connection) => {
      incoming.push(c);
      c.on('stream', (s: PunchlineStream) => {
        const hash = createHash('sha256');
        s.on('data', (chunk: Buffer) => hash.update(chunk));
        s.on('end', () => s.end(hash.digest('hex')));
        s.on('error', () => undefined);
      });
    });
    const first = await alice.connect(bob.publicKey);
    const second = await alice.connect(bob.publicKey);
    await until(() => first.path.kind === 'direct' && second.path.kind === 'direct', 5000);
    const moves: string[] = [];
    second.on('path-changed', (remote) => moves.push(`${remote.host}:${remote.port}`));
    for (const c of incoming) c.on('path-changed', (remote) => moves.push(`bob ${remote.host}:${remote.port}`));
    /** Sends `data` on a new stream of `c`; resolves with the hash bob computed. */
    const roundTrip = async (c: Connection, data: Buffer): Promise<string> => {
      const stream = c.openStream();
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      const ended = new Promise((r) => stream.once('end', r));
      stream.end(data);
      await ended;
      return Buffer.concat(chunks).toString();
    };
    const a = randomBytes(1 << 20);
    const b = randomBytes(1 << 20);
    const digest = (d: Buffer) => createHash('sha256').update(d).digest('hex');
    expect(await Promise.all([roundTrip(first, a), roundTrip(second, b)])).toEqual([digest(a), digest(b)]);
    await first.close();
    // The second connection carries on at once on its own direct route: no stall, no migration.
    const started = performance.now();
    expect(await roundTrip(second, b)).toBe(digest(b));
    expect(performance.now() - started).toBeLessThan(2000);
    expect(second.path.kind).toBe('direct');
    expect(second.state).toBe('established');
    expect(moves).toEqual([]);
    await second.close();
  }, 30_000);

  it('two dials racing to the same peer before either has a path share one link (one offer to the peer)', async () => {
    const alice = await endpoint();
    const bob = await endpoint();
    const incoming: Connection[] = [];
    bob.on('connection', (c: Connection) => {
      incoming.push(c);
      c.on('stream', (s: PunchlineStream) => {
        s.on('data', (chunk: Buffer) => s.write(chunk));
        s.on('end', () => s.end());
        s.on('error', () => undefined);
      });
    });
    type Links = { traversal: { links: Set<{ virtual: { host: string } }> } };
    const links = (e: Endpoint) => (e as unknown as Links).traversal.links;
    // Both dials start in the same tick: the second finds the first's link still without a path.
    const [first, second] = await Promise.all([alice.connect(bob.publicKey), alice.connect(bob.publicKey)]);
    expect(links(alice).size).toBe(1);
    expect(links(bob).size).toBe(1); // the peer saw one offer
    await until(() => incoming.length === 2, 5000);
    expect(first.remoteAddress).toEqual(second.remoteAddress);
    const echo = async (c: Connection, data: Buffer): Promise<Buffer> => {
      const stream = c.openStream();
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      const ended = new Promise((r) => stream.once('end', r));
      stream.end(data);
      await ended;
      return Buffer.concat(chunks);
    };
    const a = randomBytes(64 << 10);
    const b = randomBytes(64 << 10);
    const [ea, eb] = await Promise.all([echo(first, a), echo(second, b)]);
    expect(ea.equals(a)).toBe(true);
    expect(eb.equals(b)).toBe(true);
    await first.close();
    await second.close();
  }, 30_000);

  it('a dial joining another whose caller aborts goes on by itself', async () => {
    const alice = await endpoint();
    const bob = await endpoint();
    bob.on('connection', (c: Connection) => c.on('error', () => undefined));
    const abort = new AbortController();
    const firstDial = alice.connect(bob.publicKey, { signal: abort.signal });
    const secondDial = alice.connect(bob.publicKey);
    abort.abort();
    await expect(firstDial).rejects.toMatchObject({ code: 'ERR_PUNCHLINE_NO_PATH' });
    const second = await secondDial;
    expect(second.state).toBe('established');
    await second.close();
  }, 30_000);

  for (const relayOnly of [false, true]) {
    it(`a graceful close reaches the peer as a CLOSE over the link${relayOnly ? ' (relay only)' : ''}, even when the closer's endpoint closes right after`, async () => {
      const alice = await endpoint();
      const bob = await endpoint();
      if (relayOnly) {
        blockProbes(alice, () => true);
        blockProbes(bob, () => true);
      }
      const incoming = new Promise<Connection>((resolve) => bob.once('connection', resolve));
      const connection = await alice.connect(bob.publicKey);
      const peer = await incoming;
      peer.on('error', () => undefined);
      // As `punchline receive` ends: close, then close the endpoint at once. The connection's link
      // was released as soon as it started closing, so its CLOSE had no route: bob learned of the
      // close only from his idle timeout, and `punchline send` waited ~8 s after every transfer.
      await connection.close();
      await alice.close();
      const reason = await Promise.race([
        peer.closed,
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 5000)),
      ]);
      expect(reason).toMatchObject({ remote: true, errorCode: 0 });
    });
  }

  it('closing a connection and dialling the same peer again at once (relay only): the new one carries data', async () => {
    const alice = await endpoint();
    const bob = await endpoint();
    blockProbes(alice, () => true);
    blockProbes(bob, () => true);
    const first = new Promise<Connection>((resolve) => bob.once('connection', resolve));
    const old = await alice.connect(bob.publicKey);
    (await first).on('error', () => undefined);
    // The closing connections keep the link (their CLOSEs need it) while the new dial shares it.
    void old.close();
    const received = hashOfFirstStream(bob);
    const again = await alice.connect(bob.publicKey);
    const data = randomBytes(256 * 1024);
    const stream = again.openStream();
    stream.on('error', () => undefined);
    stream.end(data);
    expect((await received).hash).toBe(createHash('sha256').update(data).digest('hex'));
    expect((await old.closed).remote).toBe(false);
    await again.close();
  });

  it('relay only: with punching impossible the connection stays on the UDP relay', async () => {
    const alice = await endpoint();
    const bob = await endpoint();
    blockProbes(alice, () => true);
    blockProbes(bob, () => true);
    const received = hashOfFirstStream(bob);
    const connection = await alice.connect(bob.publicKey);
    const data = randomBytes(256 * 1024);
    const stream = connection.openStream();
    stream.on('error', () => undefined);
    stream.end(data);
    expect((await received).hash).toBe(createHash('sha256').update(data).digest('hex'));
    expect(connection.path.kind).toBe('relay-udp');
    await connection.close();
  });

  it('falls back to the relay when the direct pair dies, and returns to direct when it works again', async () => {
    const limits = { consentIntervalMs: 300, consentTimeoutMs: 1500 };
    const alice = await endpoint({ traversal: limits });
    const bob = await endpoint({ traversal: limits });
    let blocked = false;
    blockProbes(alice, () => blocked);
    blockProbes(bob, () => blocked);
    const incomingConnection = new Promise<Connection>((resolve) => bob.once('connection', resolve));
    const connection = await alice.connect(bob.publicKey);
    const incoming = await incomingConnection;
    incoming.on('error', () => undefined);
    const paths: string[] = [];
    connection.on('path', (p) => paths.push(p.kind));
    await until(() => connection.path.kind === 'direct', 5000);
    await until(() => server.core.stats().relay.allocations === 0, 8000); // relay released
    const before = paths.length;
    blocked = true; // the direct pair stops answering consent
    await until(() => connection.path.kind === 'relay-udp', 8000);
    expect(server.core.stats().relay.allocations).toBe(1); // a new allocation
    // The connection still carries data, now through the relay.
    const streamHash = new Promise<string>((resolve) => {
      incoming.once('stream', (stream: PunchlineStream) => {
        const hash = createHash('sha256');
        stream.on('error', () => undefined);
        stream.on('data', (chunk: Buffer) => hash.update(chunk));
        stream.on('end', () => resolve(hash.digest('hex')));
      });
    });
    const data = randomBytes(256 * 1024);
    const stream = connection.openStream();
    stream.on('error', () => undefined);
    stream.end(data);
    expect(await streamHash).toBe(createHash('sha256').update(data).digest('hex'));
    blocked = false; // the retry punches again
    await until(() => connection.path.kind === 'direct', 15_000);
    expect(paths.slice(before)).toEqual(['relay-udp', 'direct']);
    await connection.close();
  }, 40_000);

  it('a peer that vanishes right after answering: a typed error within the timeout, nothing left behind', async () => {
    const alice = await endpoint();
    let bob: Endpoint | null = null;
    bob = await endpoint({
      acceptPeer: () => {
        setImmediate(() => void bob?.close()); // answers, then disappears mid-punch
        return true;
      },
    });
    const started = Date.now();
    const error = await alice.connect(bob.publicKey, { timeoutMs: 3000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: expect.stringMatching(/^ERR_PUNCHLINE_(NO_PATH|PEER_OFFLINE)$/) });
    expect(Date.now() - started).toBeLessThan(3000 + 1000);
    // No route, relay or link survives the failed attempt.
    const traversal = (alice as unknown as { traversal: { links: Set<unknown>; routes: { size: number } } }).traversal;
    expect(traversal.links.size).toBe(0);
    expect(traversal.routes.size).toBe(0);
    await until(() => server.core.stats().relay.allocations === 0, 3000);
  });

  it('registers again after the server restarts, and is reachable by its key again', async () => {
    const restartDir = await mkdtemp(join(tmpdir(), 'punchline-restart-'));
    let first: PunchlineServer | null = await PunchlineServer.start({
      host: '127.0.0.1',
      udpPort: 0,
      port: 0,
      metricsPort: null,
      dataDir: restartDir,
    });
    const { udp, tls } = first.info;
    const address = first.info.address;
    let second: PunchlineServer | null = null;
    try {
      const listener = await Endpoint.bind({ host: '127.0.0.1', keyPair: realKeyPair(), server: address });
      open.push(listener);
      await first.close();
      first = null;
      // Same key (data dir) and ports: the same address string.
      second = await PunchlineServer.start({
        host: '127.0.0.1',
        udpPort: udp.port,
        port: tls.port,
        metricsPort: null,
        dataDir: restartDir,
      });
      expect(second.info.address).toBe(address);
      const dialer = await Endpoint.bind({ host: '127.0.0.1', keyPair: realKeyPair(), server: address });
      open.push(dialer);
      const started = Date.now();
      let connection: Connection | null = null;
      while (!connection && Date.now() - started < 10_000) {
        connection = await dialer.connect(listener.publicKey, { timeoutMs: 3000 }).catch(() => null);
        if (!connection) await new Promise((r) => setTimeout(r, 200));
      }
      expect(connection).not.toBeNull();
      await connection!.close();
    } finally {
      await first?.close();
      await second?.close();
      await rm(restartDir, { recursive: true, force: true });
    }
  }, 30_000);

  it('typed errors: offline peer, refused, wrong server key, unreachable server, not a key', async () => {
    const alice = await endpoint();
    await expect(alice.connect(realKeyPair().publicKey, { timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'ERR_PUNCHLINE_PEER_OFFLINE',
    });
    const picky = await endpoint({ acceptPeer: () => false });
    await expect(alice.connect(picky.publicKey)).rejects.toMatchObject({ code: 'ERR_PUNCHLINE_PEER_REFUSED' });
    const wrongKey = formatServerAddress({
      ...parseServerAddress(server.info.address),
      publicKey: realKeyPair().publicKey,
    });
    await expect(Endpoint.bind({ host: '127.0.0.1', keyPair: realKeyPair(), server: wrongKey })).rejects.toMatchObject({
      code: 'ERR_PUNCHLINE_WRONG_SERVER_KEY',
    });
    const nowhere = formatServerAddress({
      ...parseServerAddress(server.info.address),
      udp: { host: '127.0.0.1', port: 9 },
      webTransportPort: 9,
    });
    await expect(Endpoint.bind({ host: '127.0.0.1', keyPair: realKeyPair(), server: nowhere })).rejects.toMatchObject({
      code: 'ERR_PUNCHLINE_SERVER_UNREACHABLE',
    });
    await expect(alice.connect('not-a-key')).rejects.toMatchObject({ code: 'ERR_PUNCHLINE_INVALID_ARGUMENT' });
    const plain = await Endpoint.bind({ host: '127.0.0.1', keyPair: realKeyPair() });
    open.push(plain);
    await expect(plain.connect(alice.publicKey)).rejects.toMatchObject({ code: 'ERR_PUNCHLINE_INVALID_ARGUMENT' });
  }, 30_000);
});

async function until(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
