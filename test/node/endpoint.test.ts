/**
 * Node adapter over loopback. Every case runs against the fake core (adapter logic in isolation) and,
 * when available, the real transport core (encrypted, end to end), the real core on both UDP backends
 * (the native batched add-on, where built, and node:dgram).
 */
import { describe, it, expect, afterEach, vi } from 'vitest';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable, PassThrough } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { Endpoint, type Connection, type CoreFactory } from '../../src/node/endpoint.js';
import type { PunchlineStream } from '../../src/node/stream.js';
import { fakeCore } from './fake-core.js';
import { connectedPair, type Pair } from './helpers.js';
import { realKeyPair } from './real-core.js';
import { nativeUdpAvailability } from '../../src/node/udp/open.js';
import type { UdpBackend } from '../../src/node/udp/udp-socket.js';

interface Variant {
  name: string;
  core?: CoreFactory;
  keyPair?: () => { publicKey: Uint8Array; secretKey: Uint8Array };
  udpBackend: UdpBackend;
}

// The real core runs on the native backend where its add-on is built (test/node/udp-native.test.ts
// fails on Linux when it is not) and on node:dgram. The fake core has no loss recovery: it runs on
// node:dgram, whose one-datagram-per-call pace never overflows a loopback receive buffer (batched
// GSO bursts can, and do).
const backends: UdpBackend[] = nativeUdpAvailability().available ? ['native', 'dgram'] : ['dgram'];
const variants: Variant[] = [{ name: 'fake core, dgram', core: fakeCore, udpBackend: 'dgram' }];
// The real core is always there: a failure to create it fails these tests (no silent skip).
for (const udpBackend of backends)
  variants.push({ name: `real core, ${udpBackend}`, keyPair: realKeyPair, udpBackend });

/** Produces `total` bytes of random data in chunks, hashing what it produced. */
function source(total: number, chunk = 64 * 1024): { stream: Readable; digest: () => string } {
  const hash = createHash('sha256');
  let left = total;
  const stream = new Readable({
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk, left);
      left -= n;
      const data = randomBytes(n);
      hash.update(data);
      this.push(data);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

function sink(delayMs = 0): { stream: Writable; result: Promise<{ bytes: number; digest: string }> } {
  const hash = createHash('sha256');
  let bytes = 0;
  let resolve!: (v: { bytes: number; digest: string }) => void;
  const result = new Promise<{ bytes: number; digest: string }>((r) => (resolve = r));
  const stream = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      if (delayMs > 0) setTimeout(cb, delayMs);
      else cb();
    },
    final(cb) {
      resolve({ bytes, digest: hash.digest('hex') });
      cb();
    },
  });
  return { stream, result };
}

function nextStream(connection: Pair['server']): Promise<PunchlineStream> {
  return new Promise((resolve) => connection.once('stream', resolve));
}

for (const variant of variants) {
  describe(`node endpoint (${variant.name})`, () => {
    let pair: Pair | null = null;
    const open = async (): Promise<Pair> => {
      pair = await connectedPair({
        ...(variant.core ? { core: variant.core } : {}),
        ...(variant.keyPair ? { keyPair: variant.keyPair } : {}),
        udpBackend: variant.udpBackend,
      });
      return pair;
    };
    afterEach(async () => {
      await pair?.close();
      pair = null;
    });

    it('connects and reports the peer key on both sides', async () => {
      const { a, b, client, server } = await open();
      expect(Buffer.from(client.remotePublicKey ?? []).equals(Buffer.from(b.publicKey))).toBe(true);
      expect(Buffer.from(server.remotePublicKey ?? []).equals(Buffer.from(a.publicKey))).toBe(true);
      expect(client.isClient).toBe(true);
      expect(server.isClient).toBe(false);
      expect(server.remoteAddress.port).toBe(a.address().port);
    });

    it('echoes over several concurrent streams with stream.pipeline', async () => {
      const { client, server } = await open();
      // Server: echo every incoming stream back.
      const echoes: Promise<void>[] = [];
      server.on('stream', (s: PunchlineStream) => echoes.push(pipeline(s, new PassThrough(), s)));
      const runs = [0, 1, 2, 3].map(async (i) => {
        const stream = client.openStream();
        const src = source(200_000 + i * 1000, 7000);
        const dst = sink();
        await Promise.all([pipeline(src.stream, stream), pipeline(stream, dst.stream)]);
        const got = await dst.result;
        expect(got.bytes).toBe(200_000 + i * 1000);
        expect(got.digest).toBe(src.digest());
      });
      await Promise.all(runs);
      await Promise.all(echoes);
    });

    it('transfers 20 MB intact', async () => {
      const { client, server } = await open();
      const incoming = nextStream(server);
      const stream = client.openStream({ bidirectional: false });
      const src = source(20 * 1024 * 1024);
      const sending = pipeline(src.stream, stream);
      const dst = sink();
      await pipeline(await incoming, dst.stream);
      await sending;
      const got = await dst.result;
      expect(got.bytes).toBe(20 * 1024 * 1024);
      expect(got.digest).toBe(src.digest());
      const stats = client.stats();
      expect(stats.streamBytesSent).toBeGreaterThanOrEqual(20 * 1024 * 1024);
    });

    it('rebind() moves the connection to a new local port mid-transfer: the peer follows, no byte lost', async () => {
      const { a, client, server } = await open();
      const incoming = nextStream(server);
      const stream = client.openStream({ bidirectional: false });
      const total = 4 * 1024 * 1024;
      const src = source(total);
      const sending = pipeline(src.stream, stream);
      const dst = sink();
      const receiving = pipeline(await incoming, dst.stream);
      const moved = new Promise<{ port: number }>((resolve) => server.once('path-changed', resolve));
      const oldPort = a.address().port;
      const local = await a.rebind();
      expect(local.port).not.toBe(oldPort);
      expect((await moved).port).toBe(local.port);
      await Promise.all([sending, receiving]);
      const got = await dst.result;
      expect(got.bytes).toBe(total);
      expect(got.digest).toBe(src.digest());
      expect(server.remoteAddress.port).toBe(local.port);
    });

    it('rebind() of an idle connection speaks up at once: the peer moves before any data is sent', async () => {
      const { a, server } = await open();
      const moved = new Promise<{ port: number }>((resolve) => server.once('path-changed', resolve));
      const local = await a.rebind();
      const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 2000).unref());
      expect(await Promise.race([moved, timeout])).toMatchObject({ port: local.port });
    });

    it('pauses flushing while libuv queues sends, and resumes (send stalls)', async () => {
      // Loopback never fills the kernel buffer, so pretend libuv is queueing on every third check.
      let checks = 0;
      const spy = vi
        .spyOn(dgram.Socket.prototype, 'getSendQueueCount')
        .mockImplementation(() => (++checks % 3 === 0 ? 1 : 0));
      // node:dgram's queue is what this spies on (the native backend's stalls: udp-native.test.ts).
      const options = { ...(variant.core ? { core: variant.core } : {}), udpBackend: 'dgram' as const };
      const keys = variant.keyPair ?? (() => ({ publicKey: randomBytes(32), secretKey: randomBytes(32) }));
      const a = await Endpoint.bind({ host: '127.0.0.1', keyPair: keys(), sendBufferSize: 4096, ...options });
      const b = await Endpoint.bind({ host: '127.0.0.1', keyPair: keys(), ...options });
      try {
        const incoming = new Promise<PunchlineStream>((resolve) =>
          b.once('connection', (c: Connection) => c.once('stream', resolve)),
        );
        const connection = await a.connect({ host: '127.0.0.1', port: b.address().port, publicKey: b.publicKey });
        const stream = connection.openStream({ bidirectional: false });
        const src = source(8 * 1024 * 1024);
        const sending = pipeline(src.stream, stream);
        const dst = sink();
        await pipeline(await incoming, dst.stream);
        await sending;
        expect((await dst.result).digest).toBe(src.digest());
        expect(a.stats().sendStalls).toBeGreaterThan(0);
      } finally {
        spy.mockRestore();
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('a slow reader bounds what the sender buffers (backpressure end to end)', async () => {
      const { client, server } = await open();
      const incoming = nextStream(server);
      const stream = client.openStream({ bidirectional: false });
      let written = 0;
      let refused = 0;
      const chunk = Buffer.alloc(64 * 1024, 7);
      const stopped = new Promise<Error>((resolve) => stream.once('error', resolve));
      // Write as fast as write() allows; count how far ahead of the reader we get.
      const writer = (async () => {
        while (written < 64 * 1024 * 1024 && !stream.destroyed) {
          if (!stream.write(chunk)) {
            refused++;
            await new Promise<void>((resolve) => {
              const done = (): void => {
                stream.off('drain', done);
                stream.off('close', done);
                resolve();
              };
              stream.once('drain', done);
              stream.once('close', done);
            });
          }
          written += chunk.length;
        }
        stream.end();
      })();
      const s = await incoming;
      let read = 0;
      let maxAhead = 0;
      // Reader: 64 KiB every 5 ms, ~13 MB/s; measure sender lead.
      for await (const data of s) {
        read += (data as Buffer).length;
        maxAhead = Math.max(maxAhead, written - read);
        if (read > 4 * 1024 * 1024) break;
        await sleep(2);
      }
      s.destroy();
      // The reader going away reaches the writer as STOP_SENDING.
      expect(((await stopped) as Error & { code?: string }).code).toBe('ERR_PUNCHLINE_STREAM_STOPPED');
      await writer;
      expect(refused).toBeGreaterThan(0);
      // Bounded by the core's send buffer + receive window + Node buffers, far below the 64 MiB offered.
      expect(maxAhead).toBeLessThan(24 * 1024 * 1024);
      expect(written).toBeLessThan(32 * 1024 * 1024);
      const rss = process.memoryUsage().rss;
      expect(rss).toBeLessThan(1024 * 1024 * 1024);
    });

    it('incoming streams arrive through the async iterator too', async () => {
      const { client, server } = await open();
      const got: string[] = [];
      const reading = (async () => {
        for await (const s of server.streams()) {
          const chunks: Buffer[] = [];
          for await (const c of s) chunks.push(c as Buffer);
          got.push(Buffer.concat(chunks).toString());
          if (got.length === 2) break;
        }
      })();
      for (const text of ['one', 'two']) client.openStream({ bidirectional: false }).end(text);
      await reading;
      expect(got.sort()).toEqual(['one', 'two']);
    });

    it('an aborted connect rejects with a typed error', async () => {
      const { a } = await open();
      const silent = dgram.createSocket('udp4');
      await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
      const controller = new AbortController();
      const attempt = a.connect({ host: '127.0.0.1', port: silent.address().port, signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      await expect(attempt).rejects.toMatchObject({ code: 'ERR_PUNCHLINE_ABORTED' });
      silent.close();
    });

    it('delivers datagrams', async () => {
      const { client, server } = await open();
      const got = new Promise<Buffer>((resolve) => server.once('datagram', resolve));
      // Unreliable, but loopback drops nothing; resend until one arrives.
      const timer = setInterval(() => client.sendDatagram(Buffer.from('ping')), 20);
      expect(client.sendDatagram(Buffer.from('ping'))).toBe(true);
      const data = await got;
      clearInterval(timer);
      expect(data.toString()).toBe('ping');
      expect(client.sendDatagram(Buffer.alloc(client.maxDatagramSize() + 1))).toBe(false);
    });

    it('data written before a graceful close reaches a reader that starts after the close', async () => {
      const { client, server } = await open();
      const incoming = nextStream(server);
      const stream = client.openStream({ bidirectional: false });
      // Within the receive window: graceful close can deliver it all while nobody reads.
      const payload = randomBytes(128 * 1024);
      stream.end(payload);
      const s = await incoming;
      if (!stream.writableFinished) await new Promise<void>((resolve) => stream.once('finish', () => resolve()));
      await client.close();
      await server.closed;
      const chunks: Buffer[] = [];
      for await (const c of s) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(payload)).toBe(true);
    });

    it('a reset stream errors on the other side with the code', async () => {
      const { client, server } = await open();
      const incoming = nextStream(server);
      const stream = client.openStream();
      stream.write(Buffer.from('hello'));
      const s = await incoming;
      const failed = new Promise<Error>((resolve) => s.once('error', resolve));
      s.resume();
      await sleep(20);
      stream.reset(42);
      const error = (await failed) as Error & { code?: string; errorCode?: number };
      expect(error.code).toBe('ERR_PUNCHLINE_STREAM_RESET');
      expect(error.errorCode).toBe(42);
    });

    it('closing the connection fails open streams on the peer and resolves `closed` on both sides', async () => {
      const { client, server } = await open();
      const incoming = nextStream(server);
      const stream = client.openStream();
      stream.write(Buffer.from('x'));
      const s = await incoming;
      s.resume();
      const failed = new Promise<Error>((resolve) => s.once('error', resolve));
      stream.on('error', () => undefined);
      const reason = await client.close(7, 'bye');
      expect(reason.remote).toBe(false);
      const remote = await server.closed;
      expect(remote.remote).toBe(true);
      expect(remote.errorCode).toBe(7);
      expect(remote.reason).toBe('bye');
      const error = (await failed) as Error & { code?: string };
      expect(error.code).toBe('ERR_PUNCHLINE_CONNECTION_CLOSED');
    });

    it('hands STUN-looking datagrams to the registered handler, not the core', async () => {
      const { b } = await open();
      const before = b.stats();
      const seen: Buffer[] = [];
      const remove = b.addDatagramHandler('stun', (data) => seen.push(data));
      // STUN Binding Request header: type 0x0001, length 0, magic cookie 0x2112A442, 12-byte txid.
      const stun = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), randomBytes(12)]);
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((r) => socket.send(stun, b.address().port, '127.0.0.1', () => r()));
      for (let i = 0; i < 100 && seen.length === 0; i++) await sleep(5);
      expect(seen).toHaveLength(1);
      expect(seen[0]?.equals(stun)).toBe(true);
      remove();
      await new Promise<void>((r) => socket.send(stun, b.address().port, '127.0.0.1', () => r()));
      for (let i = 0; i < 100 && b.stats().datagramsDropped === before.datagramsDropped; i++) await sleep(5);
      socket.close();
      const after = b.stats();
      expect(after.received.stun - before.received.stun).toBe(2);
      expect(after.datagramsDropped - before.datagramsDropped).toBe(1);
      expect(seen).toHaveLength(1);
    });

    // The real core only: the fake core has no payload-size setting.
    if (variant.core === undefined)
      it("receives a peer's datagrams larger than its own maxUdpPayloadSize (nothing negotiates it)", async () => {
        const keys = variant.keyPair!;
        const a = await Endpoint.bind({
          host: '127.0.0.1',
          keyPair: keys(),
          udpBackend: variant.udpBackend,
          transport: { maxUdpPayloadSize: 8000 },
        });
        const b = await Endpoint.bind({ host: '127.0.0.1', keyPair: keys(), udpBackend: variant.udpBackend });
        try {
          const incoming = new Promise<PunchlineStream>((resolve) =>
            b.once('connection', (c: Connection) => c.once('stream', resolve)),
          );
          const connection = await a.connect({ host: '127.0.0.1', port: b.address().port, publicKey: b.publicKey });
          const stream = connection.openStream({ bidirectional: false });
          const src = source(200_000);
          const sending = pipeline(src.stream, stream);
          const dst = sink();
          await pipeline(await incoming, dst.stream);
          await sending;
          expect((await dst.result).digest).toBe(src.digest());
          expect(b.stats().socket.truncated).toBe(0);
          expect(b.stats().bytesReceived / b.stats().datagramsReceived).toBeGreaterThan(2048);
        } finally {
          await Promise.all([a.close(), b.close()]);
        }
      });

    it('works over IPv6 loopback and refuses a mismatched address family', async () => {
      const options = {
        ...(variant.core ? { core: variant.core } : {}),
        udpBackend: variant.udpBackend,
      };
      const keys = variant.keyPair ?? (() => ({ publicKey: randomBytes(32), secretKey: randomBytes(32) }));
      const a = await Endpoint.bind({ host: '::1', keyPair: keys(), ...options });
      const b = await Endpoint.bind({ host: '::1', keyPair: keys(), ...options });
      try {
        b.on('connection', (c: Connection) => c.on('stream', (s: PunchlineStream) => void pipeline(s, s)));
        const connection = await a.connect({ host: '::1', port: b.address().port, publicKey: b.publicKey });
        const stream = connection.openStream();
        stream.end('v6');
        const chunks: Buffer[] = [];
        for await (const c of stream) chunks.push(c as Buffer);
        expect(Buffer.concat(chunks).toString()).toBe('v6');
        await expect(a.connect({ host: '127.0.0.1', port: 1 })).rejects.toMatchObject({
          code: 'ERR_PUNCHLINE_ADDRESS_FAMILY',
        });
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('endpoint.close() closes connections and ends the iterators', async () => {
      const { a, b, server } = await open();
      const ended = (async () => {
        for await (const _ of server.streams()) void _;
        return true;
      })();
      await a.close();
      await server.closed;
      expect(await ended).toBe(true);
      await expect(a.connect({ host: '127.0.0.1', port: b.address().port })).rejects.toMatchObject({
        code: 'ERR_PUNCHLINE_ENDPOINT_CLOSED',
      });
    });
  });
}
