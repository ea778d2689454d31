/**
 * A peer that opens a stream relay leg and never reads it must not grow the server's memory beyond
 * the relay writer's byte bound (bounded-writer.ts, MAX_RELAY_BACKLOG) plus the HTTP/2 windows, however
 * much its partner sends: the server drops relay datagrams beyond the bound (they are datagrams, the
 * transport above retransmits) instead of queueing them.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { RendezvousClient } from '../../src/node/rendezvous-client.js';
import { MAX_RELAY_BACKLOG, PunchlineServer } from '../../src/server/server.js';
import { encapsulate, isControlChannel, parseRelayDatagram } from '../../src/traversal/relay/udp-control.js';

/** Slow-reader sessions in the test, and relay bytes offered to each (eight times the bound). */
const K = 4;
const OFFERED_PER_SESSION = 8 * MAX_RELAY_BACKLOG;
const DATAGRAM = 1200;
/**
 * What one slow-reader session may cost: the relay bound, plus what the HTTP/2 layer under it buffers
 * (stream and connection flow-control windows, frames in the TLS socket's queue) and bookkeeping.
 * Measured here: 835-906 KiB per session whether 2 or 5 MiB were offered (unbounded, it would grow
 * with what is offered, 4 MiB here).
 */
const ALLOWED_PER_SESSION = MAX_RELAY_BACKLOG + 768 * 1024;

let server: PunchlineServer;
let dataDir: string;
const closers: (() => void)[] = [];

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
function used(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external; // external includes arrayBuffers
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const FIXTURE = fileURLToPath(new URL('./fixtures/slow-reader-peer.ts', import.meta.url));

async function client(udp?: dgram.Socket): Promise<RendezvousClient> {
  const keyPair = generateKeyPair();
  const c = await RendezvousClient.connect({
    url: server.info.url,
    serverCertificateHash: server.info.certificateSha256,
    serverPublicKey: server.info.publicKey,
    keyPair,
    ...(udp ? { udp: { send: (d: Uint8Array) => udp.send(d, server.info.udp.port, server.info.udp.host) } } : {}),
  });
  closers.push(() => c.close());
  return c;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'punchline-slow-reader-'));
  server = await PunchlineServer.start({ host: '127.0.0.1', udpPort: 0, port: 0, metricsPort: 0, dataDir });
});

afterAll(async () => {
  for (const close of closers) close();
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('server memory under slow readers', () => {
  it(`${K} relay legs whose reader never reads hold at most the relay bound each`, async () => {
    // The readers live in another process, stopped once their legs are open: a stopped process reads
    // nothing, so the server's writes to them back up (in this process the WebTransport client would
    // read on the server's behalf, whatever the application does).
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        FIXTURE,
        '--url',
        server.info.url,
        '--hash',
        Buffer.from(server.info.certificateSha256).toString('hex'),
        '--server-key',
        Buffer.from(server.info.publicKey).toString('hex'),
        '--count',
        String(K),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    closers.push(() => {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const nextLine = async (): Promise<string> => {
      const { value, done } = await lines.next();
      if (done) throw new Error('the slow-reader process ended');
      return value as string;
    };
    const { keys } = JSON.parse(await nextLine()) as { keys: string[] };
    const sockets: dgram.Socket[] = [];
    const channels: Uint8Array[] = [];
    for (const key of keys) {
      const peer = new Uint8Array(Buffer.from(key, 'hex'));
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
      closers.push(() => socket.close());
      const sender = await client(socket);
      socket.on('message', (msg) => {
        const relay = parseRelayDatagram(msg);
        if (relay && isControlChannel(relay.channel)) sender.receiveUdp(msg); // the relay's bind answer
      });
      await sender.connect(peer, [{ type: 'srflx', host: '127.0.0.1', port: 10 }]); // relay consent
      const mine = await sender.allocateRelay(peer);
      await sender.bindUdpRelay(mine);
      sockets.push(socket);
      channels.push(mine.channel);
    }
    expect(await nextLine()).toBe('opened');
    await sleep(200);
    child.kill('SIGSTOP');
    const before = used();
    const dropsBefore = server.adapterCounters().adapterDrops['stream-backlog'] ?? 0;
    const payload = randomBytes(DATAGRAM);
    payload[0] = 0x40;
    const frames = channels.map((c) => encapsulate(c, payload));
    for (let n = 0; n < OFFERED_PER_SESSION / DATAGRAM; n++) {
      for (let i = 0; i < K; i++) sockets[i]!.send(frames[i]!, server.info.udp.port, server.info.udp.host);
      if (n % 8 === 7) await sleep(1); // the server reads them (a loopback socket buffer is finite)
    }
    await sleep(500);
    const after = used();
    const drops = (server.adapterCounters().adapterDrops['stream-backlog'] ?? 0) - dropsBefore;
    // The bound was reached (datagrams were dropped) and memory stayed under it.
    expect(drops).toBeGreaterThan(0);
    const perSession = (after - before) / K;
    console.log(
      `slow readers: ${K} sessions, ${(OFFERED_PER_SESSION / 1024).toFixed(0)} KiB offered each, ${drops} dropped; ` +
        `${(perSession / 1024).toFixed(0)} KiB held per session (bound ${(ALLOWED_PER_SESSION / 1024).toFixed(0)} KiB)`,
    );
    expect(perSession).toBeLessThan(ALLOWED_PER_SESSION);
  }, 60_000);
});
