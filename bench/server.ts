/**
 * `npm run bench:server` — load benchmark of `punchline server` over loopback, in bounded loops.
 *
 * The server runs as a child process (`punchline server` through the CLI, so its memory is its own);
 * this process simulates peers with real RendezvousClients (WebTransport over HTTP/2 + TLS) and
 * dgram sockets. Measured:
 *   1. registrations/s (full stack: TLS + WebTransport session + challenge/proof, `CONCURRENCY` at once)
 *   2. connect-request round trip p50/p99 (A → server → B → answer → server → A)
 *   3. server memory per registered peer at PEERS peers (RSS and V8 heap from its /metrics)
 *   4. UDP relay and stream relay forwarding throughput (opaque 1200-byte datagrams)
 *   5. the sans-IO core alone: registrations/s and heap per peer (no I/O, for comparison)
 * Printed as a table and as JSON lines (one per figure). Every loop has a count and a time budget.
 *
 * Environment: BENCH_PEERS (default 10000), BENCH_CONCURRENCY (64), BENCH_RTT_SAMPLES (2000),
 * BENCH_RELAY_DATAGRAMS (50000), BENCH_BUDGET_S (per phase, 120), BENCH_REGISTER_BUDGET_S (420);
 * BENCH_CORE_ONLY=1 runs only the sans-IO part (5).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { RendezvousClient, type RelayAllocation } from '../src/node/rendezvous-client.js';
import { generateKeyPair, type KeyPair } from '../src/crypto/keys.js';
import { decodePublicKey } from '../src/crypto/key-text.js';
import { encapsulate, isControlChannel, parseRelayDatagram } from '../src/traversal/relay/udp-control.js';
import { RendezvousServerCore } from '../src/server/rendezvous-core.js';
import { RendezvousClientCore } from '../src/traversal/rendezvous/client-core.js';
import { systemRandom } from '../src/crypto/sodium.js';

const PEERS = Number(process.env['BENCH_PEERS'] ?? 10_000);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 64);
const RTT_SAMPLES = Number(process.env['BENCH_RTT_SAMPLES'] ?? 2000);
const RELAY_DATAGRAMS = Number(process.env['BENCH_RELAY_DATAGRAMS'] ?? 50_000);
const BUDGET_MS = Number(process.env['BENCH_BUDGET_S'] ?? 120) * 1000;
/** Registering 10 000 TLS + WebTransport sessions on a shared 2-core machine takes minutes. */
const REGISTER_BUDGET_MS = Number(process.env['BENCH_REGISTER_BUDGET_S'] ?? 420) * 1000;
const DATAGRAM = 1200;
const SELF = fileURLToPath(import.meta.url);

interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly note?: string;
}
const figures: Figure[] = [];
function report(f: Figure): void {
  figures.push(f);
  process.stdout.write(JSON.stringify({ bench: 'server', ...f, value: Number(f.value.toFixed(3)) }) + '\n');
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// ---- server child process ---------------------------------------------------------------------------

interface ServerHandle {
  child: ChildProcess;
  url: string;
  udp: { host: string; port: number };
  metrics: string;
  certificateSha256: Uint8Array;
  publicKey: Uint8Array;
}

async function startServer(dataDir: string): Promise<ServerHandle> {
  const config = join(dataDir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      relayLimits: { bandwidthBytesPerSecond: 1e9, burstBytes: 64e6, maxBytesPerPeer: 1e12 },
      limits: { messagesPerSecond: 10_000, messageBurst: 10_000, maxPendingRequests: 1024, maxSessionsPerSource: 1e6 },
    }),
  );
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'server',
      '--udp-port',
      '0',
      '--port',
      '0',
      '--metrics-port',
      '0',
      '--data-dir',
      dataDir,
      '--config',
      config,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Never leave the server behind, whatever way this process ends.
  process.once('exit', () => child.kill('SIGKILL'));
  let banner = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${banner}`)), 30_000);
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${banner}`)));
    child.stdout!.resume();
    child.stderr!.on('data', (chunk: Buffer) => {
      banner += chunk.toString();
      const url = /rendezvous URL\s+(\S+)/.exec(banner)?.[1];
      const udp = /UDP \(STUN \+ relay\)\s+(\S+):(\d+)/.exec(banner);
      const key = /server public key\s+(\S+)/.exec(banner)?.[1];
      const hash = /certificate SHA-256\s+([0-9a-f]{64})/.exec(banner)?.[1];
      const metrics = /metrics\s+(http\S+)/.exec(banner)?.[1];
      if (url && udp && key && hash && metrics) {
        clearTimeout(timer);
        resolve({
          child,
          url,
          udp: { host: udp[1]!, port: Number(udp[2]) },
          metrics,
          certificateSha256: new Uint8Array(Buffer.from(hash, 'hex')),
          publicKey: decodePublicKey(key),
        });
      }
    });
  });
}

async function scrape(server: ServerHandle): Promise<Record<string, number>> {
  const text = await (await fetch(server.metrics)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

// ---- peers --------------------------------------------------------------------------------------------

interface Peer {
  keys: KeyPair;
  client: RendezvousClient;
}

async function connectPeer(
  server: ServerHandle,
  keys: KeyPair,
  udp?: { send(d: Uint8Array): void },
): Promise<RendezvousClient> {
  return RendezvousClient.connect({
    url: server.url,
    serverCertificateHash: server.certificateSha256,
    serverPublicKey: server.publicKey,
    keyPair: keys,
    connectTimeoutMs: 30_000,
    ...(udp ? { udp } : {}),
  });
}

/**
 * The WebTransport library's HTTP/2 client pings its session once a second to estimate RTT (it falls
 * back to 25 ms without). A real peer pays that for its one session; this one process simulating
 * 10 000 peers would pay 10 000 pings/s and measure itself instead of the server. The load generator
 * therefore disables HTTP/2 PING on its own client sessions (the server is a separate process and
 * keeps its behaviour). Set BENCH_CLIENT_PINGS=1 to keep them.
 */
async function silenceClientPings(server: ServerHandle): Promise<void> {
  if (process.env['BENCH_CLIENT_PINGS'] === '1') return;
  const { connect } = await import('node:http2');
  const probe = connect(server.url.replace(/\/punchline$/, ''), { rejectUnauthorized: false });
  probe.on('error', () => undefined);
  const http2SessionPrototype = Object.getPrototypeOf(Object.getPrototypeOf(probe)) as { ping: unknown };
  http2SessionPrototype.ping = function ping(): boolean {
    return true; // never sent; the library's RTT estimate keeps its 25 ms default
  };
  probe.destroy();
}

async function registerMany(
  server: ServerHandle,
  count: number,
): Promise<{ peers: Peer[]; seconds: number; failures: number }> {
  const peers: Peer[] = [];
  let next = 0;
  let failures = 0;
  const start = performance.now();
  const deadline = start + REGISTER_BUDGET_MS;
  const worker = async (): Promise<void> => {
    while (next < count && performance.now() < deadline) {
      next++;
      const keys = generateKeyPair();
      try {
        peers.push({ keys, client: await connectPeer(server, keys) });
        if (peers.length % 1000 === 0)
          process.stderr.write(
            `registered ${peers.length} peers in ${((performance.now() - start) / 1000).toFixed(1)} s\n`,
          );
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { peers, seconds: (performance.now() - start) / 1000, failures };
}

async function connectRoundTrips(peers: Peer[]): Promise<number[]> {
  for (const p of peers)
    p.client.on('connect-request', (r) => p.client.answer(r.rid, true, [{ type: 'host', host: '127.0.0.1', port: 9 }]));
  const samples: number[] = [];
  const deadline = performance.now() + BUDGET_MS;
  for (let i = 0; i < RTT_SAMPLES && performance.now() < deadline; i++) {
    const a = peers[Math.floor(Math.random() * peers.length)]!;
    let b = peers[Math.floor(Math.random() * peers.length)]!;
    if (b === a) b = peers[(peers.indexOf(a) + 1) % peers.length]!;
    const t0 = performance.now();
    await a.client.connect(b.keys.publicKey, [{ type: 'srflx', host: '127.0.0.1', port: 10 }]);
    samples.push(performance.now() - t0);
  }
  return samples.sort((x, y) => x - y);
}

// ---- relay throughput -----------------------------------------------------------------------------------

async function udpPeer(
  server: ServerHandle,
): Promise<{ keys: KeyPair; client: RendezvousClient; socket: dgram.Socket; received: () => number }> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const keys = generateKeyPair();
  let received = 0;
  let client: RendezvousClient | undefined;
  socket.on('message', (msg) => {
    const relay = parseRelayDatagram(msg);
    if (!relay) return;
    if (isControlChannel(relay.channel)) client?.receiveUdp(msg);
    else received++;
  });
  for (let attempt = 1; ; attempt++) {
    try {
      client = await connectPeer(server, keys, { send: (d) => socket.send(d, server.udp.port, server.udp.host) });
      break;
    } catch (error) {
      if (attempt >= 3) throw error;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  return { keys, client, socket, received: () => received };
}

/** Sends `count` datagrams keeping at most `window` unacknowledged (received count is the ack). */
async function pump(
  send: (i: number) => void,
  received: () => number,
  count: number,
  window: number,
): Promise<{ seconds: number; delivered: number }> {
  const start = performance.now();
  const deadline = start + BUDGET_MS;
  let sent = 0;
  let lastProgress = performance.now();
  let lastReceived = 0;
  while (sent < count && performance.now() < deadline) {
    while (sent < count && sent - received() < window) send(sent++);
    await new Promise((r) => setImmediate(r));
    if (received() !== lastReceived) {
      lastReceived = received();
      lastProgress = performance.now();
    } else if (performance.now() - lastProgress > 200) {
      // Loss (UDP buffers full): forget the lost ones and go on.
      sent = Math.max(sent, received() + window);
      lastProgress = performance.now();
    }
  }
  const settle = performance.now() + 1000;
  while (received() < sent && performance.now() < settle) await new Promise((r) => setTimeout(r, 5));
  return { seconds: (performance.now() - start) / 1000, delivered: received() };
}

async function relayThroughput(server: ServerHandle): Promise<void> {
  const a = await udpPeer(server);
  const b = await udpPeer(server);
  const offered = new Promise<RelayAllocation>((r) => b.client.once('relay-allocated', r));
  const mine = await a.client.allocateRelay(b.keys.publicKey);
  const theirs = await offered;
  await a.client.bindUdpRelay(mine);
  await b.client.bindUdpRelay(theirs);
  const payload = randomBytes(DATAGRAM);
  payload[0] = 0x40;
  const frame = encapsulate(mine.channel, payload);
  const udp = await pump(
    (_) => a.socket.send(frame, server.udp.port, server.udp.host),
    b.received,
    RELAY_DATAGRAMS,
    256,
  );
  report({
    name: 'udp relay throughput',
    value: (udp.delivered * DATAGRAM * 8) / udp.seconds / 1e6,
    unit: 'Mbit/s',
    note: `${udp.delivered}/${RELAY_DATAGRAMS} × ${DATAGRAM} B`,
  });
  report({ name: 'udp relay datagrams/s', value: udp.delivered / udp.seconds, unit: '1/s' });

  // Stream relay: both legs on WebTransport streams.
  const offered2 = new Promise<RelayAllocation>((r) => b.client.once('relay-allocated', r));
  const mine2 = await a.client.allocateRelay(b.keys.publicKey);
  const theirs2 = await offered2;
  const sa = await a.client.openStreamRelay(mine2);
  const sb = await b.client.openStreamRelay(theirs2);
  let got = 0;
  sb.on('datagram', () => got++);
  await new Promise((r) => setTimeout(r, 100));
  const streamCount = Math.min(RELAY_DATAGRAMS, 20_000);
  const stream = await pump(
    (_) => void sa.send(payload),
    () => got,
    streamCount,
    512,
  );
  report({
    name: 'stream relay throughput',
    value: (stream.delivered * DATAGRAM * 8) / stream.seconds / 1e6,
    unit: 'Mbit/s',
    note: `${stream.delivered}/${streamCount} × ${DATAGRAM} B`,
  });
  for (const p of [a, b]) {
    p.client.close();
    p.socket.close();
  }
}

// ---- WebTransport sessions: idle and with a reader that never reads ------------------------------------

const SLOW_READERS = Number(process.env['BENCH_SLOW_READERS'] ?? 0);
/** Datagrams pushed at each slow reader: 1200 × 1500 B ≈ 1.7 MiB, over three times the relay bound. */
const SLOW_READER_DATAGRAMS = Number(process.env['BENCH_SLOW_READER_DATAGRAMS'] ?? 1500);

interface ServerInfo {
  url: string;
  udp: { host: string; port: number };
  metrics: string;
  certificateSha256: string;
  publicKey: string;
}

/**
 * Child role (BENCH_ROLE=slow-reader): registers `count` peers, opens the stream relay offered to each,
 * then prints `opened`. The parent then stops this process (SIGSTOP): its sockets stay open and stop
 * being read, so the server's writes to these sessions back up exactly as behind a real slow reader.
 */
async function slowReaderRole(): Promise<void> {
  const info = JSON.parse(process.env['BENCH_SERVER']!) as ServerInfo;
  const server = {
    ...info,
    certificateSha256: new Uint8Array(Buffer.from(info.certificateSha256, 'hex')),
    publicKey: new Uint8Array(Buffer.from(info.publicKey, 'hex')),
  } as ServerHandle;
  const count = Number(process.env['BENCH_COUNT']);
  const keys: string[] = [];
  let opened = 0;
  const legs: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const k = generateKeyPair();
    const client = await connectPeer(server, k);
    // Relay consent: the sender connects first and this peer accepts.
    client.on('connect-request', (r) => client.answer(r.rid, true, [{ type: 'host', host: '127.0.0.1', port: 9 }]));
    client.on('relay-allocated', (allocation: RelayAllocation) => {
      void client.openStreamRelay(allocation).then((leg) => {
        legs.push(leg);
        if (++opened === count) process.stdout.write('opened\n');
      });
    });
    keys.push(Buffer.from(k.publicKey).toString('hex'));
  }
  process.stdout.write(`${JSON.stringify({ keys })}\n`);
  await new Promise(() => undefined); // until killed
}

async function slowReaderSessions(server: ServerHandle): Promise<void> {
  const k = SLOW_READERS;
  const info: ServerInfo = {
    url: server.url,
    udp: server.udp,
    metrics: server.metrics,
    certificateSha256: Buffer.from(server.certificateSha256).toString('hex'),
    publicKey: Buffer.from(server.publicKey).toString('hex'),
  };
  const before = await scrape(server);
  const child = spawn(process.execPath, ['--import', 'tsx', SELF], {
    env: { ...process.env, BENCH_ROLE: 'slow-reader', BENCH_SERVER: JSON.stringify(info), BENCH_COUNT: String(k) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  const lines: string[] = [];
  let waiting: (() => void) | null = null;
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    waiting?.();
  });
  const nextLine = async (): Promise<string> => {
    while (lines.length === 0) await new Promise<void>((r) => (waiting = r));
    return lines.shift()!;
  };
  try {
    const { keys } = JSON.parse(await nextLine()) as { keys: string[] };
    const senders: Peer[] = [];
    for (let i = 0; i < k; i++) {
      const keyPair = generateKeyPair();
      senders.push({ keys: keyPair, client: await connectPeer(server, keyPair) });
    }
    await new Promise((r) => setTimeout(r, 1500));
    const idle = await scrape(server);
    const sessions = (idle['punchline_sessions'] ?? 0) - (before['punchline_sessions'] ?? 0);
    const delta = (a: Record<string, number>, b: Record<string, number>, name: string): number =>
      ((a[name] ?? 0) - (b[name] ?? 0)) / Math.max(1, sessions);
    report({
      name: 'server RSS per idle WebTransport session',
      value: delta(idle, before, 'process_resident_memory_bytes'),
      unit: 'B',
      note: `${sessions} registered sessions (TLS + HTTP/2 + WebTransport + rendezvous)`,
    });
    report({
      name: 'server heap per idle WebTransport session',
      value: delta(idle, before, 'nodejs_heap_used_bytes'),
      unit: 'B',
      note: 'V8 heap, not collected before sampling',
    });
    const legs = [];
    for (let i = 0; i < k; i++) {
      const peer = new Uint8Array(Buffer.from(keys[i]!, 'hex'));
      await senders[i]!.client.connect(peer, [{ type: 'srflx', host: '127.0.0.1', port: 10 }]);
      const allocation = await senders[i]!.client.allocateRelay(peer);
      legs.push(await senders[i]!.client.openStreamRelay(allocation));
    }
    if ((await nextLine()) !== 'opened') throw new Error('slow readers did not open their relay legs');
    await new Promise((r) => setTimeout(r, 500));
    const opened = await scrape(server);
    child.kill('SIGSTOP');
    const payload = randomBytes(DATAGRAM);
    payload[0] = 0x40;
    let offered = 0;
    for (let round = 0; round < SLOW_READER_DATAGRAMS; round++) {
      for (const leg of legs) if (leg.send(payload)) offered++;
      if (round % 16 === 15) await new Promise((r) => setTimeout(r, 5)); // let the server read them
    }
    // The server has read what it will: its relay writers are full and drop the rest.
    await new Promise((r) => setTimeout(r, 3000));
    const stalled = await scrape(server);
    report({
      name: 'server RSS per slow-reader session',
      value: ((stalled['process_resident_memory_bytes'] ?? 0) - (opened['process_resident_memory_bytes'] ?? 0)) / k,
      unit: 'B',
      note: `${k} relay legs whose reader never reads, ${offered} × ${DATAGRAM} B offered (${((offered * DATAGRAM) / k / 1024).toFixed(0)} KiB each); relay stream bound 512 KiB`,
    });
    report({
      name: 'server heap per slow-reader session',
      value: ((stalled['nodejs_heap_used_bytes'] ?? 0) - (opened['nodejs_heap_used_bytes'] ?? 0)) / k,
      unit: 'B',
      note: 'V8 heap, not collected before sampling',
    });
    const backlogDrops = (m: Record<string, number>): number =>
      m['punchline_drops_total{layer="adapter",reason="stream-backlog"}'] ?? 0;
    report({
      name: 'relay datagrams dropped at the stream bound',
      value: backlogDrops(stalled) - backlogDrops(opened),
      unit: 'count',
      note: `of ${offered} offered`,
    });
    for (const p of senders) p.client.close();
  } finally {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
}

// ---- sans-IO core alone ----------------------------------------------------------------------------------

function coreBench(): void {
  setFlagsFromString('--expose_gc');
  const gc = runInNewContext('gc') as () => void;
  const used = (): number => {
    const m = process.memoryUsage();
    return m.heapUsed + m.external; // typed-array backing stores may live outside the V8 heap
  };
  const n = PEERS;
  const server = new RendezvousServerCore({ staticKeyPair: generateKeyPair(), random: systemRandom });
  gc();
  const before = used();
  const start = performance.now();
  let now = 0;
  // Each client core is dropped once registered: what stays allocated is the server's state.
  for (let i = 0; i < n; i++) {
    const c = new RendezvousClientCore({
      staticKeyPair: generateKeyPair(),
      random: systemRandom,
      serverPublicKey: server.serverPublicKey,
    });
    const id = server.openSession(now)!;
    for (let out = server.pollOutput(); out; out = server.pollOutput())
      if (out.kind === 'send') c.receive(out.data, now);
    for (let m = c.pollTransmit(); m; m = c.pollTransmit()) server.receive(id, m, now);
    for (let out = server.pollOutput(); out; out = server.pollOutput())
      if (out.kind === 'send') c.receive(out.data, now);
    if (c.state !== 'registered') throw new Error('core registration failed');
    now += 0.01;
  }
  const seconds = (performance.now() - start) / 1000;
  if (server.stats().peersOnline !== n) throw new Error(`core registered ${server.stats().peersOnline}/${n}`);
  gc();
  const after = used();
  report({
    name: 'core registrations/s',
    value: n / seconds,
    unit: '1/s',
    note: `sans-IO, ${n} peers; both sides' X25519 + BLAKE2b and the client's key generation`,
  });
  report({
    name: 'core memory per registered peer',
    value: (after - before) / n,
    unit: 'B',
    note: `${n} peers: session, presence, UDP presence leg (heap + external)`,
  });
  coreRelayBench();
}

/** Forwarding through the sans-IO relay alone (no sockets): the cost the server adds per datagram. */
function coreRelayBench(): void {
  const server = new RendezvousServerCore({
    staticKeyPair: generateKeyPair(),
    random: systemRandom,
    relayLimits: { bandwidthBytesPerSecond: 1e12, burstBytes: 1e12, maxBytesPerPeer: 1e15 },
  });
  const peers = [0, 1].map((i) => {
    const core = new RendezvousClientCore({ staticKeyPair: generateKeyPair(), random: systemRandom });
    const id = server.openSession(0)!;
    return { core, id, address: { host: '127.0.0.1', port: 40000 + i }, leg: null as RelayAllocation | null };
  });
  const step = (): void => {
    for (let moved = true; moved; ) {
      moved = false;
      for (let out = server.pollOutput(); out; out = server.pollOutput()) {
        moved = true;
        if (out.kind === 'send') peers.find((p) => p.id === out.sessionId)?.core.receive(out.data, 0);
        if (out.kind === 'udp') peers.find((p) => p.address.port === out.to.port)?.core.receiveDatagram(out.data, 0);
      }
      for (const p of peers) {
        for (let m = p.core.pollTransmit(); m; m = p.core.pollTransmit()) (moved = true), server.receive(p.id, m, 0);
        for (let d = p.core.pollDatagram(); d; d = p.core.pollDatagram())
          (moved = true), server.receiveDatagram(d, p.address, 0);
        for (let e = p.core.pollEvent(); e; e = p.core.pollEvent()) if (e.type === 'relay-allocated') p.leg = e;
      }
    }
  };
  step();
  peers[0]!.core.allocateRelay(peers[1]!.core.publicKey);
  step();
  for (const p of peers) p.core.bindRelayUdp(p.leg!.channel, p.leg!.bindKey, 0);
  step();
  const payload = randomBytes(DATAGRAM);
  payload[0] = 0x40;
  const datagram = encapsulate(peers[0]!.leg!.channel, payload);
  const n = 300_000;
  let forwarded = 0;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    server.receiveDatagram(datagram, peers[0]!.address, i * 0.001);
    for (let out = server.pollOutput(); out; out = server.pollOutput()) if (out.kind === 'udp') forwarded++;
  }
  const seconds = (performance.now() - start) / 1000;
  if (forwarded !== n) throw new Error(`core relay forwarded ${forwarded}/${n}`);
  report({
    name: 'core relay forwarding',
    value: n / seconds,
    unit: '1/s',
    note: `sans-IO, ${DATAGRAM}-byte datagrams (${((n * DATAGRAM * 8) / seconds / 1e9).toFixed(2)} Gbit/s)`,
  });
}

// ---- main ---------------------------------------------------------------------------------------------------

/**
 * @fails-components/webtransport 1.6.8 throws from inside its own event handlers under load (e.g.
 * "Can not get http2 TLSSocket" when a session is torn down mid-handshake, "Client connected with no
 * pending promise" when a handshake completes after its timeout); those throws escape to the event
 * loop. The bench counts them and goes on: the affected registration fails and is reported as failed.
 */
let libraryCrashes = 0;
process.on('uncaughtException', (error) => {
  if (error instanceof Error && /@fails-components[\\/]webtransport/.test(error.stack ?? '')) {
    libraryCrashes++;
    return;
  }
  process.stderr.write(`bench:server failed: ${error.stack ?? error.message}\n`);
  process.exit(1);
});

async function main(): Promise<void> {
  if (process.env['BENCH_ROLE'] === 'slow-reader') return slowReaderRole();
  if (SLOW_READERS > 0) {
    // Only the WebTransport session rows: BENCH_SLOW_READERS=N npx tsx bench/server.ts
    const dataDir = await mkdtemp(join(tmpdir(), 'punchline-bench-'));
    const server = await startServer(dataDir);
    try {
      await silenceClientPings(server);
      await slowReaderSessions(server);
    } finally {
      server.child.kill('SIGTERM');
      await new Promise((r) => server.child.once('exit', r));
      await rm(dataDir, { recursive: true, force: true });
    }
    printTable();
    return;
  }
  if (process.env['BENCH_CORE_ONLY'] === '1') {
    coreBench();
    printTable();
    return;
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'punchline-bench-'));
  const server = await startServer(dataDir);
  try {
    await silenceClientPings(server);
    const idle = await scrape(server);
    const { peers, seconds, failures } = await registerMany(server, PEERS);
    report({
      name: 'registrations/s',
      value: peers.length / seconds,
      unit: '1/s',
      note: `${peers.length} peers (${failures} failed, ${libraryCrashes} library throws), concurrency ${CONCURRENCY}, TLS + WebTransport/HTTP2 + proof`,
    });
    await new Promise((r) => setTimeout(r, 1500));
    const loaded = await scrape(server);
    const online = loaded['punchline_peers_online'] ?? 0;
    report({ name: 'peers online', value: online, unit: 'peers' });
    report({
      name: 'server RSS per registered peer',
      value:
        ((loaded['process_resident_memory_bytes'] ?? 0) - (idle['process_resident_memory_bytes'] ?? 0)) /
        Math.max(1, online),
      unit: 'B',
      note: `at ${online} peers (includes TLS + HTTP/2 session per peer)`,
    });
    report({
      name: 'server heap per registered peer',
      value: ((loaded['nodejs_heap_used_bytes'] ?? 0) - (idle['nodejs_heap_used_bytes'] ?? 0)) / Math.max(1, online),
      unit: 'B',
      note: `at ${online} peers (V8 heap, not collected before sampling)`,
    });
    await scrape(server); // resets the server's event-loop delay histogram
    const rtts = await connectRoundTrips(peers.length >= 2 ? peers : []);
    const during = await scrape(server);
    report({
      name: 'server event-loop delay p99 during RTT phase',
      value: (during['nodejs_eventloop_delay_seconds{quantile="0.99"}'] ?? 0) * 1000,
      unit: 'ms',
    });
    report({
      name: 'server event-loop delay max during RTT phase',
      value: (during['nodejs_eventloop_delay_seconds{quantile="1"}'] ?? 0) * 1000,
      unit: 'ms',
    });
    report({
      name: 'connect round trip p50',
      value: percentile(rtts, 50),
      unit: 'ms',
      note: `${rtts.length} sequential requests among ${peers.length} peers`,
    });
    report({ name: 'connect round trip p99', value: percentile(rtts, 99), unit: 'ms' });
    for (const p of peers) p.client.close();
    // Let the server finish tearing down thousands of sessions before measuring the relay.
    const drainDeadline = performance.now() + 60_000;
    while ((await scrape(server))['punchline_sessions']! > 0 && performance.now() < drainDeadline)
      await new Promise((r) => setTimeout(r, 500));
    await relayThroughput(server);
    const final = await scrape(server);
    report({
      name: 'server drops (all reasons)',
      value: Object.entries(final)
        .filter(([k]) => k.startsWith('punchline_drops_total'))
        .reduce((s, [, v]) => s + v, 0),
      unit: 'count',
    });
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  }
  coreBench();
  printTable();
}

function printTable(): void {
  const width = Math.max(...figures.map((f) => f.name.length));
  process.stdout.write(`\n${'figure'.padEnd(width)}  ${'value'.padStart(12)}  unit     note\n`);
  for (const f of figures) {
    process.stdout.write(
      `${f.name.padEnd(width)}  ${f.value.toFixed(f.value >= 100 ? 0 : 2).padStart(12)}  ${f.unit.padEnd(7)}  ${f.note ?? ''}\n`,
    );
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `bench:server failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
