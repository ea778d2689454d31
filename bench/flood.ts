/**
 * `npm run bench:flood`: a punchline endpoint under a bounded handshake flood on loopback, while a
 * legitimate client keeps connecting; then the rendezvous core under a registration and signaling
 * flood while legitimate peers keep doing connect/answer.
 *
 * Handshake flood: the endpoint runs in its own process (its RSS is the server's alone). First its
 * handshake capacity C is measured (valid Initials per second the sans-IO endpoint can turn into
 * connections on this machine, limits off); then a flood process sends 10 × C valid Initials per
 * second (a replayed XX Initial with a fresh DCID each, the cheapest valid Initial there is) from 64
 * source IPs (127.0.1.1–64) — ignoring the Retries, as a spoofing attacker must — while the client on 127.0.0.1
 * connects, one connection at a time, each closed once established. The same client run without the
 * flood is the unloaded baseline. Reported: legit connects that succeeded (%), p50/p99 connect time
 * loaded vs unloaded, server RSS, what the handshake limiter did.
 *
 * Signaling flood (in-process, sans-IO RendezvousServerCore): an attacker opens sessions from one
 * source, and registered strangers send signal/punch/relay-allocate to every peer; legitimate pairs
 * connect/answer meanwhile. Reported: legit exchanges completed, unsolicited deliveries, sessions held.
 *
 * Half-open memory: bytes of heap and external memory per half-open server connection (2000 of them
 * built in-process from valid Initials, after a full GC), and what one turn over them costs.
 *
 *   npm run bench:flood -- [--seconds 10] [--factor 10] [--rate N (Initials/s; default factor × capacity)]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { generateKeyPair } from '../src/crypto/keys.js';
import { systemRandom } from '../src/crypto/sodium.js';
import { Endpoint } from '../src/node/endpoint.js';
import { useOpensslAead } from '../src/node/openssl-aead.js';
import { RendezvousServerCore } from '../src/server/rendezvous-core.js';
import { TransportEndpoint } from '../src/transport/endpoint.js';
import { RendezvousClientCore } from '../src/traversal/rendezvous/client-core.js';

// The packet AEAD as the product runs it: Node's OpenSSL where the add-on is built (spec/crypto.md §5.1).
useOpensslAead();

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    seconds: { type: 'string', default: '10' },
    factor: { type: 'string', default: '10' },
    port: { type: 'string' },
    rate: { type: 'string' },
    // `--only half-open`: print the half-open memory row and stop (quick A/B of per-connection state).
    only: { type: 'string' },
  },
});
const SELF = fileURLToPath(import.meta.url);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** A valid XX Initial (pattern id, ephemeral key, transport parameters), padded to 1200 bytes. */
function templateInitial(): Uint8Array {
  const attacker = new TransportEndpoint({ staticKeyPair: generateKeyPair(), random: systemRandom });
  attacker.connect({ host: '127.0.0.1', port: 1 }, {}, 0);
  const buf = new Uint8Array(1500);
  const t = attacker.pollTransmit(0, buf);
  if (t === null) throw new Error('no Initial');
  return buf.slice(0, t.length);
}

/** Valid Initials per second one sans-IO endpoint turns into connections (limits off), measured here. */
function handshakeCapacity(): number {
  const server = new TransportEndpoint({
    staticKeyPair: generateKeyPair(),
    random: systemRandom,
    handshakeLimits: { maxHalfOpen: 1e9, maxHalfOpenPerSource: 1e9, retryThreshold: 1e9 },
  });
  const template = templateInitial();
  const buf = new Uint8Array(1500);
  const n = 1000;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const d = template.slice();
    d[6] = i & 0xff;
    d[7] = i >> 8;
    server.receive(d, { host: '127.0.0.2', port: 40000 + i }, 0);
    while (server.pollTransmit(0, buf) !== null);
  }
  return n / ((performance.now() - started) / 1000);
}

/** Bytes per half-open server connection (heap + external, after GC), and the cost of an idle turn. */
function halfOpenMemory(n = 2000): { bytesPerHalfOpen: number; idleTurnUs: number } {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const server = new TransportEndpoint({
    staticKeyPair: generateKeyPair(),
    random: systemRandom,
    handshakeLimits: { maxHalfOpen: 1e9, maxHalfOpenPerSource: 1e9, retryThreshold: 1e9 },
  });
  const template = templateInitial();
  const buf = new Uint8Array(1500);
  const used = (): number => {
    gc();
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.external; // external includes arrayBuffers
  };
  // A first batch grows the endpoint's tables; the measured batch is the next n.
  const open = (from: number, count: number): void => {
    for (let i = from; i < from + count; i++) {
      const d = template.slice();
      d[6] = i & 0xff;
      d[7] = (i >> 8) & 0xff;
      d[8] = i >> 16;
      server.receive(d, { host: `127.0.${(i >> 8) & 0xff}.${i & 0xff}`, port: 40000 }, 0);
      while (server.pollTransmit(0, buf) !== null);
    }
    server.nextDeadline();
  };
  open(0, 200);
  const before = used();
  open(200, n);
  const after = used();
  const t0 = performance.now();
  for (let k = 0; k < 1000; k++) {
    server.pollTransmit(1, buf);
    server.nextDeadline();
    server.onTimeout(1);
  }
  const idleTurnUs = ((performance.now() - t0) / 1000) * 1000;
  if (server.connections.size !== n + 200) throw new Error('half-open connections were not all kept');
  return { bytesPerHalfOpen: Math.round((after - before) / n), idleTurnUs };
}

// ---- roles ------------------------------------------------------------------------------------------

async function serverRole(): Promise<void> {
  const keyPair = generateKeyPair();
  const endpoint = await Endpoint.bind({ host: '127.0.0.1', port: 0, keyPair });
  // The client closes each connection once established (a server closing first races the client's
  // handshake confirmation).
  endpoint.on('connection', () => undefined);
  const core = (endpoint as unknown as { core: TransportEndpoint }).core;
  process.stdout.write(
    `${JSON.stringify({ port: endpoint.address().port, publicKey: Buffer.from(keyPair.publicKey).toString('hex') })}\n`,
  );
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line === 'stats')
      process.stdout.write(
        `${JSON.stringify({ rss: process.memoryUsage().rss, cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000, limiter: core?.handshakeStats ?? null, connections: core?.connections.size ?? null })}\n`,
      );
    if (line === 'quit') void endpoint.close().then(() => process.exit(0));
  });
}

async function floodRole(): Promise<void> {
  const port = Number(values.port);
  const rate = Number(values.rate);
  const template = templateInitial();
  const sockets = await Promise.all(
    Array.from({ length: 64 }, async (_, k) => {
      const s = dgram.createSocket('udp4');
      s.on('message', () => undefined); // Retries and handshake replies: ignored
      // 64 source IPs, as a spoofed flood would have (per-source caps alone do not stop it).
      await new Promise<void>((r) => s.bind(0, `127.0.1.${k + 1}`, r));
      return s;
    }),
  );
  let sent = 0;
  let i = 0;
  const started = performance.now();
  const tick = (): void => {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    for (; sent < due; sent++) {
      const d = Buffer.from(template);
      i++;
      d.writeUInt32BE(i >>> 0, 6);
      d.writeUInt32BE(Math.floor(Math.random() * 2 ** 32), 10);
      (sockets[i % sockets.length] as dgram.Socket).send(d, port, '127.0.0.1');
    }
    setImmediate(tick);
  };
  tick();
  process.on('SIGTERM', () => {
    process.stdout.write(`${JSON.stringify({ sent, seconds: (performance.now() - started) / 1000 })}\n`);
    process.exit(0);
  });
}

// ---- main -------------------------------------------------------------------------------------------

function child(args: string[]): { proc: ChildProcess; lines: AsyncIterator<string> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', SELF, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  return { proc, lines };
}

async function nextJson<T>(lines: AsyncIterator<string>): Promise<T> {
  const r = await lines.next();
  if (r.done) throw new Error('child ended');
  return JSON.parse(r.value) as T;
}

async function connectLoop(
  port: number,
  publicKey: Uint8Array,
  seconds: number,
): Promise<{ attempts: number; ok: number; latencies: number[] }> {
  const client = await Endpoint.bind({ host: '127.0.0.1', port: 0, keyPair: generateKeyPair() });
  const latencies: number[] = [];
  let attempts = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    attempts++;
    const t0 = performance.now();
    try {
      const c = await client.connect({ host: '127.0.0.1', port, publicKey, signal: AbortSignal.timeout(5000) });
      latencies.push(performance.now() - t0);
      await c.close().catch(() => undefined);
    } catch {
      // counted as a failure
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await client.close();
  return { attempts, ok: latencies.length, latencies: latencies.sort((a, b) => a - b) };
}

function signalingFlood(seconds: number): Record<string, number> {
  const random = systemRandom;
  const server = new RendezvousServerCore({ staticKeyPair: generateKeyPair(), random });
  let now = 0;
  const clients = new Map<number, RendezvousClientCore>();
  const publicKeys = new Map<RendezvousClientCore, Uint8Array>();
  const open = (source: string): { id: number; core: RendezvousClientCore } | null => {
    const keys = generateKeyPair();
    const core = new RendezvousClientCore({ staticKeyPair: keys, random, serverPublicKey: server.serverPublicKey });
    const id = server.openSession(now, source);
    if (id === null) return null;
    clients.set(id, core);
    publicKeys.set(core, keys.publicKey);
    return { id, core };
  };
  const pump = (): void => {
    for (let moved = true; moved; ) {
      moved = false;
      for (let out = server.pollOutput(); out !== null; out = server.pollOutput()) {
        if (out.kind === 'send') clients.get(out.sessionId)?.receive(out.data, now);
        if (out.kind === 'close') clients.delete(out.sessionId);
      }
      for (const [id, c] of clients) {
        for (let m = c.pollTransmit(); m !== null; m = c.pollTransmit()) {
          moved = true;
          server.receive(id, m, now);
        }
      }
    }
  };
  const legit = Array.from({ length: 20 }, (_, i) => open(`198.51.100.${i}`)!);
  const attackers: { id: number; core: RendezvousClientCore }[] = [];
  let refusedSessions = 0;
  for (let i = 0; i < 200; i++) {
    const a = open('203.0.113.66');
    if (a === null) refusedSessions++;
    else attackers.push(a);
  }
  pump();
  const keyOf = (c: RendezvousClientCore): Uint8Array => publicKeys.get(c) as Uint8Array;
  let exchanges = 0;
  let unsolicitedDelivered = 0;
  const events = new Map<RendezvousClientCore, number>();
  const steps = seconds * 10;
  for (let step = 0; step < steps; step++) {
    now += 100;
    for (const a of attackers) {
      for (const v of legit) {
        a.core.signal(keyOf(v.core), 'spam', Uint8Array.of(1));
        if (step % 10 === 0) a.core.allocateRelay(keyOf(v.core));
      }
    }
    for (let i = 0; i + 1 < legit.length; i += 2) legit[i]!.core.connect(keyOf(legit[i + 1]!.core), []);
    pump();
    for (const v of legit) {
      for (let e = v.core.pollEvent(); e !== null; e = v.core.pollEvent()) {
        if (e.type === 'signal') unsolicitedDelivered++;
        if (e.type === 'connect-request') v.core.answer(e.rid, true, []);
        if (e.type === 'connect-answer' && e.accept) exchanges++;
        events.set(v.core, (events.get(v.core) ?? 0) + 1);
      }
    }
    pump();
    for (const v of legit)
      for (let e = v.core.pollEvent(); e !== null; e = v.core.pollEvent())
        if (e.type === 'connect-answer' && e.accept) exchanges++;
    for (const a of attackers) while (a.core.pollEvent() !== null);
    server.onTimeout(now);
  }
  const stats = server.stats();
  return {
    legitExchangesExpected: steps * (legit.length / 2),
    legitExchanges: exchanges,
    attackerSessionsRefused: refusedSessions,
    attackerSessionsHeld: attackers.length,
    unsolicitedSent: attackers.length * legit.length * steps,
    unsolicitedDelivered,
    relayAllocations: stats.relay.allocations,
    sessions: stats.sessions,
  };
}

async function main(): Promise<void> {
  const seconds = Number(values.seconds);
  const factor = Number(values.factor);
  const capacity = handshakeCapacity();
  const rate = values.rate !== undefined ? Number(values.rate) : Math.round(capacity * factor);
  const halfOpen = halfOpenMemory();
  console.log(
    `half-open: ${halfOpen.bytesPerHalfOpen} B per half-open connection (heap + external, 2000 built); an idle turn over 2200 of them: ${halfOpen.idleTurnUs.toFixed(1)} µs`,
  );
  console.log(JSON.stringify({ bench: 'flood', phase: 'half-open', ...halfOpen }));
  if (values.only === 'half-open') return;
  console.error(
    `flood: endpoint handshake capacity ${capacity.toFixed(0)}/s; flood ${rate} Initials/s for ${seconds} s`,
  );

  const server = child(['--role', 'server']);
  const { port, publicKey } = await nextJson<{ port: number; publicKey: string }>(server.lines);
  const key = Uint8Array.from(Buffer.from(publicKey, 'hex'));
  const stats = async (): Promise<{
    rss: number;
    cpuMs: number;
    limiter: Record<string, number>;
    connections: number;
  }> => {
    server.proc.stdin!.write('stats\n');
    return nextJson(server.lines);
  };

  const idle = await stats();
  const rssIdle = idle.rss;
  const unloaded = await connectLoop(port, key, seconds);
  const beforeFlood = await stats();
  const flood = child(['--role', 'flood', '--port', String(port), '--rate', String(rate)]);
  await new Promise((r) => setTimeout(r, 1000));
  let rssPeak = 0;
  const sampler = setInterval(() => {
    void stats().then((s) => {
      rssPeak = Math.max(rssPeak, s.rss);
    });
  }, 1000);
  const loadedStarted = performance.now();
  const loaded = await connectLoop(port, key, seconds);
  const loadedMs = performance.now() - loadedStarted;
  clearInterval(sampler);
  const afterFlood = await stats();
  const serverCpuPercent = (100 * (afterFlood.cpuMs - beforeFlood.cpuMs)) / (loadedMs + 1000);
  flood.proc.kill('SIGTERM');
  const floodSent = await nextJson<{ sent: number; seconds: number }>(flood.lines).catch(() => ({
    sent: 0,
    seconds: 0,
  }));
  await new Promise((r) => setTimeout(r, 500));
  const after = await stats();
  server.proc.stdin!.write('quit\n');

  const rows = [
    { phase: 'unloaded', ...summary(unloaded) },
    { phase: `flood ×${factor}`, ...summary(loaded) },
  ];
  const ratio = (rows[1]!.p99Ms as number) / (rows[0]!.p99Ms as number);
  console.log('phase         attempts  ok %    p50 ms   p99 ms');
  for (const r of rows)
    console.log(
      `${r.phase.padEnd(12)}  ${String(r.attempts).padStart(8)}  ${r.okPercent.toFixed(1).padStart(5)}  ${r.p50Ms.toFixed(1).padStart(7)}  ${r.p99Ms.toFixed(1).padStart(7)}`,
    );
  console.log(
    `p99 loaded / unloaded = ${ratio.toFixed(2)}; flood sent ${floodSent.sent} Initials in ${floodSent.seconds.toFixed(1)} s (${(floodSent.sent / Math.max(floodSent.seconds, 1e-9)).toFixed(0)}/s); server RSS idle ${(rssIdle / 2 ** 20).toFixed(0)} MiB, peak ${(rssPeak / 2 ** 20).toFixed(0)} MiB, server CPU under flood ${serverCpuPercent.toFixed(0)} % of one core`,
  );
  console.log(`limiter: ${JSON.stringify(after.limiter)}`);
  for (const r of rows)
    console.log(JSON.stringify({ bench: 'flood', capacityPerSecond: Math.round(capacity), floodRate: rate, ...r }));
  console.log(
    JSON.stringify({
      bench: 'flood',
      phase: 'summary',
      p99Ratio: ratio,
      floodSent: floodSent.sent,
      floodSeconds: floodSent.seconds,
      rssIdle,
      rssPeak,
      serverCpuPercent,
      limiter: after.limiter,
    }),
  );

  const signaling = signalingFlood(seconds);
  console.log(`signaling flood (rendezvous core, in-process): ${JSON.stringify(signaling)}`);
  console.log(JSON.stringify({ bench: 'flood', phase: 'signaling', ...signaling }));
  process.exit(0);
}

function summary(r: { attempts: number; ok: number; latencies: number[] }) {
  return {
    attempts: r.attempts,
    ok: r.ok,
    okPercent: (100 * r.ok) / Math.max(1, r.attempts),
    p50Ms: percentile(r.latencies, 50),
    p99Ms: percentile(r.latencies, 99),
  };
}

if (values.role === 'server') await serverRole();
else if (values.role === 'flood') await floodRole();
else await main();
