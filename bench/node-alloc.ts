/**
 * Heap bytes the Node adapter allocates per data datagram in steady state (the packet path allocates
 * nothing per packet once warm), over the whole process: both endpoints, both UDP
 * sockets, the sans-IO cores, the Duplex streams and the event loop glue. bench/core-alloc.ts measures
 * the core alone; this measures everything a real transfer runs.
 *
 *   npm run bench:node-alloc                      (node --expose-gc --import tsx bench/node-alloc.ts)
 *   npm run bench:node-alloc -- --backend dgram   node:dgram instead of the native add-on
 *   PUNCHLINE_ALLOC_SITES=1 npm run bench:node-alloc   also samples allocation sites (heap profiler)
 *
 * Options: --backend native|dgram (default native), --warmup 128M, --windows 40,
 * --window 2M (bytes received per window), --gc-phase 256M (bytes over which GCs are counted),
 * --sites 64M (bytes sampled by the profiler), --interval 256 (sampling interval, bytes).
 *
 * Two Endpoints in one process on 127.0.0.1, one unidirectional stream, 1452-byte datagrams. The
 * sender writes one reused 64 KiB Buffer whenever the stream drains; the receiver consumes 'data'
 * events. After the warm-up:
 *
 *   1. GC rate: minor (scavenge) and major (mark-compact, incremental marking, weak callbacks) GCs per
 *      10 000 data datagrams, counted by a 'gc' PerformanceObserver over an undisturbed period.
 *   2. Bytes per datagram: windows of ~WINDOW received bytes, each opened after a forced full GC
 *      (global.gc) once the observer has delivered that GC's entry (so its own allocation falls
 *      outside), and closed in a later 'data' event. The V8 used-heap delta over a window is what was
 *      allocated in it, if no GC ran inside: windows a GC overlapped are discarded. The heap is read
 *      through the buffer behind v8.getHeapStatistics() (no result object; the reading's own constant
 *      cost is calibrated and subtracted). Endpoint.stats() (which allocates) is read outside windows.
 *      The total includes what is per application chunk (the receiver's 64 KiB chunks: one Buffer
 *      object and the Readable's bookkeeping per chunk; the sender's writes) — see 3 for the split.
 *   3. With PUNCHLINE_ALLOC_SITES=1: the sampling heap profiler over a steady period, sites grouped by
 *      their innermost frames, and split into "per chunk" (Node's stream machinery, the harness's
 *      handlers, the core's read copies) and "per datagram" (everything else); the split of the
 *      window total (2) by the profile's shares gives bytes per chunk and bytes per datagram.
 *      Frames TurboFan inlined are attributed to the function they were inlined into.
 *
 * Datagram counts: "data datagrams" are the datagrams the receiving endpoint received; "ACK datagrams"
 * those the sending endpoint received.
 */
import { PerformanceObserver, constants as perfConstants, performance } from 'node:perf_hooks';
import { Session } from 'node:inspector/promises';
import { generateKeyPair } from '../src/crypto/keys.js';
import { systemRandom } from '../src/crypto/sodium.js';
import { Endpoint, type Connection } from '../src/node/endpoint.js';
import type { PunchlineStream } from '../src/node/stream.js';
import { heapReader } from './lib/heap-reader.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('node-alloc: run with --expose-gc (npm run bench:node-alloc)');
  process.exit(2);
}
const forceGc: () => void = gc;

// --- options -----------------------------------------------------------------------------------
function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) throw new Error(`bad size '${text}'`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m[2] ?? '').toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Math.round(Number(m[1]) * unit);
}
const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const backend = flag('backend') ?? 'native';
if (backend !== 'native' && backend !== 'dgram') throw new Error(`--backend native|dgram, got '${backend}'`);
const WARMUP = parseSize(flag('warmup') ?? '128M');
const GC_PHASE = parseSize(flag('gc-phase') ?? '256M');
const WINDOWS = Number(flag('windows') ?? '40');
const WINDOW = parseSize(flag('window') ?? '2M');
const SITES = process.env.PUNCHLINE_ALLOC_SITES === '1';
const SITES_BYTES = parseSize(flag('sites') ?? '64M');
const SAMPLING_INTERVAL = Number(flag('interval') ?? '256');
const CHUNK = 64 * 1024;
const PAYLOAD = 1452;

const { read: heapUsed, name: readerName } = heapReader();

// --- GC observer ---------------------------------------------------------------------------------
interface GcEntry {
  start: number;
  end: number;
  kind: number;
}
const gcs: GcEntry[] = [];
let gcDelivered = 0;
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0;
    gcs.push({ start: e.startTime, end: e.startTime + e.duration, kind });
  }
  gcDelivered++;
});
observer.observe({ entryTypes: ['gc'] });
const MINOR = perfConstants.NODE_PERFORMANCE_GC_MINOR;

// --- the transfer --------------------------------------------------------------------------------
const transport = { maxUdpPayloadSize: PAYLOAD };
const receiverKeys = generateKeyPair(systemRandom);
const receiver = await Endpoint.bind({ host: '127.0.0.1', keyPair: receiverKeys, transport, udpBackend: backend });
const sender = await Endpoint.bind({
  host: '127.0.0.1',
  keyPair: generateKeyPair(systemRandom),
  transport,
  udpBackend: backend,
});

let receivedBytes = 0;
let receivedChunks = 0;
let writtenChunks = 0;
let writing = true;
let incoming: Connection | null = null;
receiver.on('connection', (connection: Connection) => {
  incoming = connection;
  connection.on('stream', (stream: PunchlineStream) => stream.on('data', onData).on('error', () => undefined));
});
const connection = await sender.connect({
  host: '127.0.0.1',
  port: receiver.address().port,
  publicKey: receiverKeys.publicKey,
});
const stream = connection.openStream({ bidirectional: false });
const payload = Buffer.alloc(CHUNK, 0x5a);
function fill(): void {
  while (writing) {
    writtenChunks++;
    if (!stream.write(payload)) return;
  }
}
stream.on('drain', fill);

interface Counts {
  data: number;
  acks: number;
  bytes: number;
  chunksIn: number;
  chunksOut: number;
  t: number;
}
function counts(): Counts {
  return {
    data: receiver.stats().datagramsReceived,
    acks: sender.stats().datagramsReceived,
    bytes: receivedBytes,
    chunksIn: receivedChunks,
    chunksOut: writtenChunks,
    t: performance.now(),
  };
}

// --- phases, driven from the receiver's 'data' events ------------------------------------------
type Phase = 'warmup' | 'gc-count' | 'window-wait' | 'window' | 'sites' | 'done';
let phase: Phase = 'warmup';
let phaseStart: Counts | null = null;
let gcIndex = 0;
let gcWaitFor = 0;
let h0 = 0;
let overhead = 0;
let windowStart: Counts | null = null;
interface Window {
  bytes: number;
  t0: number;
  t1: number;
  from: Counts;
  to: Counts;
}
const windows: Window[] = [];
interface GcCount {
  from: Counts;
  to: Counts;
  minor: number;
  major: number;
}
let gcCount: GcCount | null = null;
let session: Session | null = null;
let sitesFrom: Counts | null = null;
let finished: () => void = () => undefined;
const done = new Promise<void>((resolve) => {
  finished = resolve;
});

function openWindow(): void {
  phase = 'window-wait';
  windowStart = counts();
  forceGc();
  gcWaitFor = gcDelivered + 1; // the forced GC's entry: delivered before the window opens
}

function onData(chunk: Buffer): void {
  receivedBytes += chunk.length;
  receivedChunks++;
  switch (phase) {
    case 'warmup':
      if (receivedBytes >= WARMUP) {
        phase = 'gc-count';
        phaseStart = counts();
        gcIndex = gcs.length;
      }
      return;
    case 'gc-count':
      if (receivedBytes - phaseStart!.bytes >= GC_PHASE) {
        const to = counts();
        let minor = 0;
        let major = 0;
        for (let i = gcIndex; i < gcs.length; i++) {
          if (gcs[i]!.start < phaseStart!.t) continue;
          if (gcs[i]!.kind === MINOR) minor++;
          else major++;
        }
        gcCount = { from: phaseStart!, to, minor, major };
        openWindow();
      }
      return;
    case 'window-wait':
      if (gcDelivered < gcWaitFor) return;
      phase = 'window';
      windowStart = counts();
      overhead = Infinity;
      for (let i = 0; i < 8; i++) {
        const a = heapUsed();
        const b = heapUsed();
        if (b - a < overhead) overhead = b - a;
      }
      h0 = heapUsed();
      windowStart.t = performance.now();
      return;
    case 'window':
      if (receivedBytes - windowStart!.bytes >= WINDOW) {
        const h1 = heapUsed();
        const t1 = performance.now();
        const to = counts();
        windows.push({ bytes: h1 - h0 - overhead, t0: windowStart!.t, t1, from: windowStart!, to });
        if (windows.length < WINDOWS) openWindow();
        else if (SITES) startSites();
        else finish();
      }
      return;
    case 'sites':
      if (sitesFrom !== null && receivedBytes - sitesFrom.bytes >= SITES_BYTES) void stopSites();
      return;
    case 'done':
      return;
  }
}

function startSites(): void {
  phase = 'sites';
  session = new Session();
  session.connect();
  void session
    .post('HeapProfiler.startSampling', {
      samplingInterval: SAMPLING_INTERVAL,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    })
    .then(() => {
      sitesFrom = counts();
    });
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}
let profile: { head: SamplingNode } | null = null;
let sitesTo: Counts | null = null;
async function stopSites(): Promise<void> {
  if (phase !== 'sites') return;
  phase = 'done';
  sitesTo = counts();
  const result = (await session!.post('HeapProfiler.stopSampling')) as { profile: { head: SamplingNode } };
  profile = result.profile;
  session!.disconnect();
  finish();
}

function finish(): void {
  phase = 'done';
  writing = false;
  finished();
}

fill();
await done;
observer.disconnect();
// The sender still has data queued: abort rather than deliver it (the figures are taken).
stream.on('error', () => undefined);
stream.destroy();
void incoming;

// --- report --------------------------------------------------------------------------------------
// (Assigned in event handlers: TypeScript's narrowing cannot see that.)
const gcResult = gcCount as GcCount | null;
const sampled = {
  profile: profile as { head: SamplingNode } | null,
  from: sitesFrom as Counts | null,
  to: sitesTo as Counts | null,
};
const socketStats = sender.stats().socket;
const per = (bytes: number, n: number, digits = 1): string => (n > 0 ? (bytes / n).toFixed(digits) : 'n/a');
console.log(
  `node-alloc: backend ${socketStats.backend}, ${PAYLOAD}-byte datagrams, 64 KiB writes, warm-up ${(WARMUP / 2 ** 20).toFixed(0)} MiB; heap via ${readerName}`,
);

if (gcResult) {
  const data = gcResult.to.data - gcResult.from.data;
  const seconds = (gcResult.to.t - gcResult.from.t) / 1000;
  const mbit = ((gcResult.to.bytes - gcResult.from.bytes) * 8) / seconds / 1e6;
  console.log(
    `GCs over ${(GC_PHASE / 2 ** 20).toFixed(0)} MiB (${data} data datagrams, ${gcResult.to.acks - gcResult.from.acks} ACK datagrams, ` +
      `${mbit.toFixed(0)} Mbit/s): ${gcResult.minor} minor, ${gcResult.major} major → ` +
      `${per(gcResult.minor * 10_000, data, 2)} minor and ${per(gcResult.major * 10_000, data, 2)} major per 10 000 data datagrams`,
  );
}

const clean = windows.filter((w) => !gcs.some((g) => g.end >= w.t0 && g.start <= w.t1));
let bytes = 0;
let data = 0;
let acks = 0;
let chunksIn = 0;
let chunksOut = 0;
for (const w of clean) {
  bytes += w.bytes;
  data += w.to.data - w.from.data;
  acks += w.to.acks - w.from.acks;
  chunksIn += w.to.chunksIn - w.from.chunksIn;
  chunksOut += w.to.chunksOut - w.from.chunksOut;
}
const perDatagram = clean.map((w) => w.bytes / Math.max(1, w.to.data - w.from.data)).sort((x, y) => x - y);
console.log(
  `windows: ${clean.length}/${windows.length} free of GC (PerformanceObserver 'gc'); ${data} data datagrams, ${acks} ACK datagrams, ` +
    `${chunksIn} chunks read, ${chunksOut} chunks written; ${overhead} B per heap reading subtracted`,
);
console.log(
  `  total heap allocated: ${per(bytes, data)} B per data datagram (${bytes} B; per window min ` +
    `${(perDatagram[0] ?? NaN).toFixed(1)}, median ${(perDatagram[perDatagram.length >> 1] ?? NaN).toFixed(1)} B/datagram), ` +
    `${per(bytes, chunksIn, 0)} B per chunk read if it were all per chunk`,
);
if (clean.length === 0) process.exitCode = 1;

if (sampled.profile && sampled.from && sampled.to) {
  const sampledData = sampled.to.data - sampled.from.data;
  const sampledChunksIn = sampled.to.chunksIn - sampled.from.chunksIn;
  const sampledChunksOut = sampled.to.chunksOut - sampled.from.chunksOut;
  /**
   * Per application chunk: Node's stream machinery (Readable push/emit, Writable write/afterWrite),
   * the harness's handlers, and what the core does for a read (a fresh copy per read).
   */
  const chunkFrame = (f: SamplingNode['callFrame']): boolean =>
    f.url.includes('internal/streams/') ||
    f.url.includes('node-alloc.ts') ||
    /^(pull|_read|_write|read)$/.test(f.functionName);
  const sites = new Map<string, number>();
  let perChunkBytes = 0;
  let otherBytes = 0;
  const walk = (n: SamplingNode, stack: SamplingNode['callFrame'][]): void => {
    const here = [...stack, n.callFrame];
    if (n.selfSize > 0) {
      // The profiler's own and the harness's inspector traffic are not part of the transfer.
      const chunk = here.some(chunkFrame);
      if (chunk) perChunkBytes += n.selfSize;
      else otherBytes += n.selfSize;
      const key =
        `${chunk ? '[chunk]   ' : '[datagram]'} ` +
        here
          .slice(-4)
          .reverse()
          .map((f) => `${f.functionName || '(anon)'} ${f.url.split('/').pop() ?? ''}:${f.lineNumber + 1}`)
          .join(' < ');
      sites.set(key, (sites.get(key) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, here);
  };
  walk(sampled.profile.head, []);
  const sampledBytes = perChunkBytes + otherBytes;
  const totalPerDatagram = data > 0 ? bytes / data : 0;
  const chunkShare = sampledBytes > 0 ? perChunkBytes / sampledBytes : 0;
  const chunksPerDatagram = data > 0 ? chunksIn / data : 0;
  console.log(
    `allocation sites (sampling heap profiler, interval ${SAMPLING_INTERVAL} B, over ${sampledData} data datagrams, ` +
      `${sampledChunksIn} chunks read, ${sampledChunksOut} written): ${per(sampledBytes, sampledData)} B per data datagram sampled`,
  );
  console.log(
    `  per chunk    ${(chunkShare * 100).toFixed(0)}% → ${per(totalPerDatagram * chunkShare, chunksPerDatagram, 0)} B per chunk read ` +
      `(${(totalPerDatagram * chunkShare).toFixed(1)} B per data datagram at ${per(data, chunksIn, 0)} datagrams per chunk)`,
  );
  console.log(
    `  per datagram ${((1 - chunkShare) * 100).toFixed(0)}% → ${(totalPerDatagram * (1 - chunkShare)).toFixed(1)} B per data datagram`,
  );
  console.log('top sites (sampled bytes; B per data datagram):');
  for (const [key, size] of [...sites].sort((x, y) => y[1] - x[1]).slice(0, 30)) {
    console.log(`  ${String(size).padStart(10)} B ${per(size, sampledData, 2).padStart(7)}  ${key}`);
  }
}
await connection.close(1, 'bench done');
await Promise.all([sender.close(), receiver.close()]);
