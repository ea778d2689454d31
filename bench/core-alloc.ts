/**
 * Heap bytes the sans-IO core allocates per data datagram in steady state, sender and receiver side
 * separately (the packet path allocates nothing per packet once warm), then the
 * CPU time per data datagram of the same phases.
 *
 *   npm run bench:core-alloc          (node --expose-gc --import tsx bench/core-alloc.ts)
 *   PUNCHLINE_ALLOC_SITES=1 npm run bench:core-alloc    also lists the top allocation sites
 *   PUNCHLINE_ALLOC_CLOCK=round npm run bench:core-alloc  the old clock: one value per round
 *   PUNCHLINE_ALLOC_START_MS=7200000 npm run bench:core-alloc  the clock starts there (a process up for
 *             2 h: timestamps in µs no longer fit a small integer)
 *
 * Two endpoints in one thread, a virtual clock, one bulk stream (default config but 1452-byte
 * datagrams; pacing on). The clock is realistic by default (PUNCHLINE_ALLOC_CLOCK=real): besides the
 * 0.25 ms step per round it advances by a fractional 0.0123 ms before every call into the core
 * (pollTransmit, receive, nextDeadline/onTimeout), as performance.now() does under the Node adapter,
 * so every timestamp the core stores or computes with is a fresh non-integer double. A clock that
 * stays one (integer-multiple-of-0.25) value for a whole round hides boxed-double allocations: a
 * double stored into a field V8 tracks as Smi or tagged, or returned from a function not inlined,
 * costs a 12–16 byte HeapNumber per store. The timestamps themselves are boxed outside the measured
 * phases (a pool in a tagged-elements array, refilled before each round), so passing one to the core
 * costs the harness nothing, as performance.now()'s own result is already a HeapNumber in the adapter. Each round is split into phases, each measured on its own:
 *   sender    a.pollTransmit (STREAM + ACK frames, sent-packet records, congestion control, pacer,
 *             seal) until it stops or 64 datagrams left, and later a.receive of the ACK datagrams
 *             (ACK processing, loss detection) + a's events and timers
 *   receiver  b.receive of the data datagrams (header, open, frame decode, reassembly, ACK ranges,
 *             events) + b.pollTransmit of the ACKs + b's events and timers
 *   app read  server.read() in 64 KiB chunks (the Node adapter's high-water mark) until blocked:
 *             each read returns a fresh copy the caller owns, so this is per read, not per packet
 *   app write conn.write() refilling the send buffer (copies into the ring; expected 0)
 * Heap use (V8 used_heap_size) is read at every phase boundary, through the buffer Node's own
 * v8.getHeapStatistics() fills (no result object: a reading costs a constant 0–16 bytes, calibrated in
 * each window and subtracted); process.memoryUsage().heapUsed is the fallback. Windows start after a full GC (global.gc)
 * and are short enough that no scavenge runs inside; a PerformanceObserver on 'gc' entries checks
 * it, and any window a GC did fall into is discarded (and reported). Datagram views handed to
 * receive() are prepared outside the measured phases, so the harness allocates nothing inside them.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { Session } from 'node:inspector/promises';
import { generateKeyPair } from '../src/crypto/keys.js';
import { systemRandom } from '../src/crypto/sodium.js';
import type { Address, ConnectionHandle } from '../src/transport/api.js';
import { useOpensslAead } from '../src/node/openssl-aead.js';
import { TransportEndpoint } from '../src/transport/endpoint.js';
import { heapReader } from './lib/heap-reader.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('core-alloc: run with --expose-gc (npm run bench:core-alloc)');
  process.exit(2);
}

const A: Address = { host: '192.0.2.1', port: 1000 };
const B: Address = { host: '192.0.2.2', port: 2000 };
const config = { maxUdpPayloadSize: 1452 };
const BATCH = 64; // datagrams per poll burst, as the Node adapter batches
const READ_CHUNK = 64 * 1024;
const STEP_MS = 0.25; // virtual time per round
const WARMUP_BYTES = Number(process.env.PUNCHLINE_ALLOC_WARMUP ?? 256 * 1024 * 1024);
const WINDOWS = Number(process.env.PUNCHLINE_ALLOC_WINDOWS ?? 30);
const ROUNDS_PER_WINDOW = Number(process.env.PUNCHLINE_ALLOC_ROUNDS ?? 8);
const REAL_CLOCK = (process.env.PUNCHLINE_ALLOC_CLOCK ?? 'real') !== 'round';
const CLOCK_TICK_MS = 0.0123; // per call into the core, with the realistic clock

const serverKeys = generateKeyPair(systemRandom);
// The packet AEAD as a node endpoint runs it: OpenSSL where the add-on loads (spec/crypto.md §5.1).
useOpensslAead();
const a = new TransportEndpoint({ staticKeyPair: generateKeyPair(systemRandom), random: systemRandom, config });
const b = new TransportEndpoint({ staticKeyPair: serverKeys, random: systemRandom, config });
let now = Number(process.env.PUNCHLINE_ALLOC_START_MS ?? 0);

/**
 * Realistic clock: pre-boxed timestamps now + k·CLOCK_TICK_MS in an array with tagged elements (an
 * object stored once keeps V8 from unboxing it into a double array), filled outside the measured
 * phases; tick() takes the next one, so the harness allocates nothing per call inside a phase.
 */
const CLOCK_POOL = 1024; // > calls into the core per round (≤ 2·(BATCH+1) polls + 2·BATCH receives + timers)
const clockPool = new Array<number>(CLOCK_POOL);
(clockPool as unknown[])[0] = {}; // elements kind: HOLEY_ELEMENTS from here on
let clockNext = 0;
function refillClock(): void {
  if (!REAL_CLOCK) return;
  for (let i = 0; i < CLOCK_POOL; i++) clockPool[i] = now + (i + 1) * CLOCK_TICK_MS;
  clockNext = 0;
}
function tick(): void {
  if (REAL_CLOCK && clockNext < CLOCK_POOL) now = clockPool[clockNext++] as number;
}
const conn = a.connect(B, { remotePublicKey: serverKeys.publicKey }, now);
let server: ConnectionHandle | null = null;
let sid = -1;
const chunk = new Uint8Array(65536).fill(0x5a);
let _written = 0;
let received = 0;

/** Datagram slots: one 2 KiB buffer each and a cached exact-length view (what receive() gets). */
class Slots {
  readonly bufs: Uint8Array[] = [];
  readonly views: Uint8Array[] = [];
  readonly lengths = new Int32Array(BATCH);
  n = 0;
  constructor() {
    for (let i = 0; i < BATCH; i++) {
      const buf = new Uint8Array(2048);
      this.bufs.push(buf);
      this.views.push(buf.subarray(0, 0));
    }
  }
  /** Outside the measured phases: make views[i] exactly lengths[i] long. */
  prepare(): void {
    for (let i = 0; i < this.n; i++) {
      const len = this.lengths[i] as number;
      if ((this.views[i] as Uint8Array).length !== len) this.views[i] = (this.bufs[i] as Uint8Array).subarray(0, len);
    }
  }
}
const data = new Slots();
const acks = new Slots();

function poll(ep: TransportEndpoint, slots: Slots): void {
  slots.n = 0;
  while (slots.n < BATCH) {
    tick();
    const t = ep.pollTransmit(now, slots.bufs[slots.n] as Uint8Array);
    if (t === null) break;
    slots.lengths[slots.n++] = t.length;
  }
}
function deliver(ep: TransportEndpoint, slots: Slots, from: Address): void {
  for (let i = 0; i < slots.n; i++) {
    tick();
    ep.receive(slots.views[i] as Uint8Array, from, now);
  }
}
function timers(ep: TransportEndpoint): void {
  tick();
  if (ep.nextDeadline() <= now) ep.onTimeout(now);
}

// --- the phases of one round
function senderBuild(): void {
  timers(a);
  poll(a, data);
}
function receiverPath(): void {
  deliver(b, data, A);
  for (let e = b.pollEvent(); e !== null; e = b.pollEvent()) if (e.type === 'incoming') server = e.connection;
  timers(b);
  poll(b, acks);
}
function appRead(): number {
  let reads = 0;
  if (server !== null && sid >= 0) {
    for (let r = server.read(sid, READ_CHUNK); r.kind === 'data'; r = server.read(sid, READ_CHUNK)) {
      received += r.data.length;
      reads++;
    }
  }
  return reads;
}
function senderAcks(): void {
  deliver(a, acks, B);
  while (a.pollEvent() !== null);
}
function appWrite(): void {
  if (sid < 0 && conn.state === 'established') sid = conn.openStream(false);
  if (sid < 0) return;
  for (let n = conn.write(sid, chunk); n > 0; n = conn.write(sid, chunk)) _written += n; // keep the send buffer full
}

function round(): void {
  now += STEP_MS;
  refillClock();
  senderBuild();
  data.prepare();
  receiverPath();
  appRead();
  acks.prepare();
  senderAcks();
  appWrite();
}

// --- warm up: handshake, slow start, buffers and windows at their steady sizes, JIT
while (received < WARMUP_BYTES) {
  round();
  if (data.n === 0 && acks.n === 0) now = Math.max(now, Math.min(a.nextDeadline(), b.nextDeadline()));
}

// --- GC observer: every collection's time, to reject windows a GC fell into
const gcTimes: Array<{ start: number; end: number }> = [];
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcTimes.push({ start: e.startTime, end: e.startTime + e.duration });
});
observer.observe({ entryTypes: ['gc'] });

const { read: heapUsed, name: readerName } = heapReader();
interface Totals {
  sender: number;
  receiver: number;
  read: number;
  write: number;
  dataDatagrams: number;
  ackDatagrams: number;
  reads: number;
}
const zero = (): Totals => ({ sender: 0, receiver: 0, read: 0, write: 0, dataDatagrams: 0, ackDatagrams: 0, reads: 0 });
const windows: Array<{ start: number; end: number; t: Totals; overhead: number }> = [];

function measureWindow(): void {
  gc?.();
  const t = zero();
  const start = performance.now();
  // Cost of one heapUsed reading (the object memoryUsage() returns), subtracted from every phase.
  let h0 = 0;
  let h1 = 0;
  let overhead = Infinity;
  for (let i = 0; i < 8; i++) {
    h0 = heapUsed();
    h1 = heapUsed();
    if (h1 - h0 < overhead) overhead = h1 - h0;
  }
  for (let r = 0; r < ROUNDS_PER_WINDOW; r++) {
    now += STEP_MS;
    refillClock();
    h0 = heapUsed();
    senderBuild();
    h1 = heapUsed();
    t.sender += h1 - h0 - overhead;
    t.dataDatagrams += data.n;
    data.prepare();
    h0 = heapUsed();
    receiverPath();
    h1 = heapUsed();
    t.receiver += h1 - h0 - overhead;
    t.ackDatagrams += acks.n;
    h0 = heapUsed();
    t.reads += appRead();
    h1 = heapUsed();
    t.read += h1 - h0 - overhead;
    acks.prepare();
    h0 = heapUsed();
    senderAcks();
    h1 = heapUsed();
    t.sender += h1 - h0 - overhead;
    h0 = heapUsed();
    appWrite();
    h1 = heapUsed();
    t.write += h1 - h0 - overhead;
  }
  windows.push({ start, end: performance.now(), t, overhead });
}

for (let w = 0; w < WINDOWS; w++) measureWindow();
await new Promise((resolve) => setTimeout(resolve, 50)); // let the observer deliver
observer.disconnect();

const clean = windows.filter((w) => !gcTimes.some((g) => g.end >= w.start && g.start <= w.end));
const sum = zero();
for (const w of clean) for (const k of Object.keys(sum) as Array<keyof Totals>) sum[k] += w.t[k];
const per = (bytes: number, n: number): string => (n > 0 ? (bytes / n).toFixed(1) : 'n/a');
console.log(
  `core-alloc: ${clean.length}/${windows.length} windows free of GC (${windows.length - clean.length} with a GC inside, discarded; ` +
    `PerformanceObserver 'gc'), ${ROUNDS_PER_WINDOW} rounds each; ${sum.dataDatagrams} data datagrams, ${sum.ackDatagrams} ACK datagrams, ` +
    `${sum.reads} reads measured; heap read via ${readerName}, ${windows[0]?.overhead ?? 0} B per reading subtracted; ` +
    `${gcTimes.length} GCs observed in all (the forced ones between windows included); clock: ` +
    (REAL_CLOCK
      ? `realistic (+${CLOCK_TICK_MS} ms per call into the core)`
      : `per round (+${STEP_MS} ms, PUNCHLINE_ALLOC_CLOCK=round)`),
);
console.log(
  `  sender    (pollTransmit + ACK processing)      ${per(sum.sender, sum.dataDatagrams)} B per data datagram (${sum.sender} B total)`,
);
console.log(
  `  receiver  (receive + ACK generation + events)  ${per(sum.receiver, sum.dataDatagrams)} B per data datagram (${sum.receiver} B total)`,
);
console.log(
  `  app read  (64 KiB chunks, fresh copies)        ${per(sum.read, sum.dataDatagrams)} B per data datagram, ${per(sum.read, sum.reads)} B per read (heap part; the bytes are off-heap)`,
);
console.log(
  `  app write (refill the send buffer)             ${per(sum.write, sum.dataDatagrams)} B per data datagram`,
);
if (clean.length === 0) process.exitCode = 1;

// --- time per data datagram of the same phases (no heap readings in between). The minimum over
// windows is the figure least disturbed by other load on the machine; the median is shown too.
{
  const TIME_WINDOWS = Number(process.env.PUNCHLINE_ALLOC_TIME_WINDOWS ?? 20);
  const TIME_ROUNDS = 250;
  const send: number[] = [];
  const recv: number[] = [];
  const read: number[] = [];
  for (let w = 0; w < TIME_WINDOWS; w++) {
    let ts = 0;
    let tr = 0;
    let tread = 0;
    let n = 0;
    for (let r = 0; r < TIME_ROUNDS; r++) {
      now += STEP_MS;
      refillClock();
      let t0 = performance.now();
      senderBuild();
      let t1 = performance.now();
      ts += t1 - t0;
      n += data.n;
      data.prepare();
      t0 = performance.now();
      receiverPath();
      t1 = performance.now();
      tr += t1 - t0;
      t0 = performance.now();
      appRead();
      t1 = performance.now();
      tread += t1 - t0;
      acks.prepare();
      t0 = performance.now();
      senderAcks();
      t1 = performance.now();
      ts += t1 - t0;
      appWrite();
    }
    send.push((ts * 1e6) / n);
    recv.push((tr * 1e6) / n);
    read.push((tread * 1e6) / n);
  }
  const fmt = (xs: number[]): string => {
    const sorted = [...xs].sort((x, y) => x - y);
    return `${(sorted[0] as number).toFixed(0)} ns (median ${(sorted[sorted.length >> 1] as number).toFixed(0)})`;
  };
  console.log(
    `time per data datagram, min over ${TIME_WINDOWS} windows of ${TIME_ROUNDS} rounds (seal/open included):`,
  );
  console.log(`  sender ${fmt(send)}; receiver ${fmt(recv)}; app read ${fmt(read)}`);
}

// --- optional: where the remaining allocations come from (sampling heap profiler, all objects)
if (process.env.PUNCHLINE_ALLOC_SITES === '1') {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 64,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  for (let i = 0; i < 2000; i++) round();
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as {
    profile: { head: SamplingNode };
  };
  session.disconnect();
  interface SamplingNode {
    callFrame: { functionName: string; url: string; lineNumber: number };
    selfSize: number;
    children: SamplingNode[];
  }
  // Grouped by the bench phase the allocation happened in, then by the innermost frames. Frames
  // inlined by TurboFan are attributed to the function they were inlined into (run with
  // --no-turbo-inlining for exact sites, at the price of allocations inlining would have removed).
  const phases = new Set(['senderBuild', 'receiverPath', 'appRead', 'senderAcks', 'appWrite', 'prepare']);
  const sites = new Map<string, number>();
  const perPhase = new Map<string, number>();
  const walk = (n: SamplingNode, stack: string[]): void => {
    const f = n.callFrame;
    const here = [...stack, `${f.functionName || '(anon)'} ${f.url.split('/').pop() ?? ''}`];
    if (n.selfSize > 0) {
      const phase = here.map((x) => x.split(' ')[0] as string).find((x) => phases.has(x)) ?? 'other';
      const key = `[${phase}] ${here.slice(-4).reverse().join(' < ')}`;
      sites.set(key, (sites.get(key) ?? 0) + n.selfSize);
      perPhase.set(phase, (perPhase.get(phase) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, here);
  };
  walk(profile.head, []);
  console.log('allocation over 2000 rounds (sampled) by phase:');
  for (const [phase, size] of [...perPhase].sort((x, y) => y[1] - x[1]))
    console.log(`  ${String(size).padStart(10)} B  ${phase}`);
  console.log('top sites:');
  for (const [key, size] of [...sites].sort((x, y) => y[1] - x[1]).slice(0, 30))
    console.log(`  ${String(size).padStart(10)} B  ${key}`);
}
