/**
 * `npm run bench:throughput`: goodput of one stream between two processes, for raw-dgram (a blast with
 * no protocol through node:dgram, one datagram per call: the like-for-like bound of punchline-dgram),
 * raw-native (the same blast through punchline's native batched add-on: the socket layer's real
 * ceiling), udx-native (native reliable UDP, unencrypted), Node TCP and punchline (encrypted) on its
 * default UDP backend (the native add-on where built) and, as 'punchline-dgram', on node:dgram.
 * Reliable transports carry patterned data that the receiver checks byte for byte at its stream
 * offset (bench/lib/throughput-worker.ts): a reordered, duplicated or lost byte fails the run.
 *
 * As root, receiver and sender each run in their own network namespace joined by a veth pair with
 * MTU 1500 (198.51.100.1 ↔ 198.51.100.2); otherwise both run on loopback, and the output says so.
 *
 *   npm run bench:throughput -- [--bytes N|512M|1G] [--impl raw-dgram,raw-native,udx-native,tcp,punchline,punchline-dgram]
 *                               [--loopback] [--payload 1452] [--runs 1] [--cc ledbat++|ledbat|newreno]
 *
 * Prints a table and one JSON line per implementation:
 *   {"bench":"throughput","impl":...,"gbps":...,"cpu_s":...,"rss_mb":...,...}
 * gbps: payload bits delivered / receiver's first-to-last-byte time. gbps_per_cpu: payload bits / the
 * busier process's CPU seconds (robust to other load on the machine). cpu_s: CPU seconds of both
 * processes during the transfer. rss_mb: the larger RSS peak of the two (sampled during the transfer);
 * per-side values are in rss_sender_mb / rss_receiver_mb.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { workerCommand } from './lib/worker-bundle.js';

type Impl = 'raw-dgram' | 'raw-native' | 'udx-native' | 'tcp' | 'punchline' | 'punchline-dgram';
const ALL: Impl[] = ['raw-dgram', 'raw-native', 'udx-native', 'tcp', 'punchline', 'punchline-dgram'];
const isRaw = (impl: Impl): boolean => impl === 'raw-dgram' || impl === 'raw-native';
/** What each row is, for the table's note column. */
const NOTE: Record<Impl, string> = {
  'raw-dgram': 'node:dgram, one datagram per call, no protocol (like-for-like with punchline-dgram)',
  'raw-native':
    'native add-on sendmmsg/GSO + recvmmsg/GRO, no protocol, windowed by receiver credit (goodput): the socket layer ceiling',
  'udx-native': 'native C reliable UDP, unencrypted',
  tcp: 'kernel TCP',
  punchline: 'encrypted',
  'punchline-dgram': 'encrypted, node:dgram UDP',
};
const isPunchline = (impl: Impl): boolean => impl === 'punchline' || impl === 'punchline-dgram';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const worker = path.join(here, 'lib', 'throughput-worker.ts');
let workerArgs: string[] = [];

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) throw new Error(`bad size '${text}'`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m[2] ?? '').toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Math.round(Number(m[1]) * unit);
}

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

const argv = process.argv.slice(2);
const bytes = parseSize(flag(argv, 'bytes') ?? '1G');
const impls = (flag(argv, 'impl')?.split(',') ?? ALL) as Impl[];
for (const impl of impls) if (!ALL.includes(impl)) throw new Error(`unknown impl '${impl}' (one of ${ALL.join(', ')})`);
const payloadFlag = flag(argv, 'payload');
/** Datagram size of the raw and udx rows; punchline rows find theirs by DPLPMTUD unless --payload is given. */
const payload = Number(payloadFlag ?? '1452');
const runs = Number(flag(argv, 'runs') ?? '1');
/** punchline's congestion controller: the product default (LEDBAT++) unless asked otherwise. */
const cc = flag(argv, 'cc') ?? 'ledbat++';

// --- network namespaces ---------------------------------------------------------------------------
const tag = `plb${process.pid % 100000}`;
const nsReceiver = `${tag}-rx`;
const nsSender = `${tag}-tx`;
const RECEIVER_IP = '198.51.100.1';
const SENDER_IP = '198.51.100.2';
let namespacesUp = false;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function setupNamespaces(): boolean {
  if (process.getuid?.() !== 0 || argv.includes('--loopback')) return false;
  try {
    namespacesUp = true;
    ip('netns', 'add', nsReceiver);
    ip('netns', 'add', nsSender);
    ip('link', 'add', `${tag}a`, 'mtu', '1500', 'type', 'veth', 'peer', 'name', `${tag}b`, 'mtu', '1500');
    ip('link', 'set', `${tag}a`, 'netns', nsReceiver);
    ip('link', 'set', `${tag}b`, 'netns', nsSender);
    ip('-n', nsReceiver, 'addr', 'add', `${RECEIVER_IP}/24`, 'dev', `${tag}a`);
    ip('-n', nsSender, 'addr', 'add', `${SENDER_IP}/24`, 'dev', `${tag}b`);
    for (const ns of [nsReceiver, nsSender]) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', ns === nsReceiver ? `${tag}a` : `${tag}b`, 'up');
    }
    return true;
  } catch (error) {
    cleanup();
    process.stderr.write(
      `note: could not create network namespaces (${(error as Error).message.split('\n')[0]}); using loopback\n`,
    );
    return false;
  }
}

function cleanup(): void {
  if (!namespacesUp) return;
  namespacesUp = false;
  for (const ns of [nsReceiver, nsSender]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // not created
    }
  }
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  cleanup();
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    process.exit(130);
  });
}

// --- running one implementation -------------------------------------------------------------------
interface Done {
  event: 'done';
  bytes: number;
  transfer_s?: number;
  wall_s: number;
  cpu_s: number;
  cpu_system_s?: number;
  sched_wait_s: number;
  rss_peak_mb: number;
  vm_hwm_mb: number;
  sent_bytes?: number;
  mtu?: number;
  verified?: boolean;
  mismatch_at?: number;
  checksum?: number;
  stats?: Record<string, number>;
  socket?: Record<string, number | string>;
  udp_backend?: string;
  aead?: string;
}

function startWorker(
  ns: string | null,
  args: string[],
): { child: ChildProcess; lines: AsyncIterator<string>; exited: Promise<number> } {
  // PUNCHLINE_BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof': extra node flags for the workers
  // (profiling; not for measured runs).
  const extraNodeArgs = (process.env['PUNCHLINE_BENCH_NODE_ARGS'] ?? '').split(/\s+/).filter((a) => a !== '');
  const nodeArgs = [...extraNodeArgs, ...workerArgs, ...args];
  const [cmd, cmdArgs] = ns
    ? ['ip', ['netns', 'exec', ns, process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const child = spawn(cmd, cmdArgs as string[], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code ?? 1);
    }),
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  return { child, lines, exited };
}

async function nextMessage(lines: AsyncIterator<string>, what: string): Promise<Record<string, unknown>> {
  for (;;) {
    const line = await lines.next();
    if (line.done) throw new Error(`${what} exited without reporting`);
    if (line.value.startsWith('{')) return JSON.parse(line.value) as Record<string, unknown>;
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

interface Result {
  impl: Impl;
  gbps: number;
  /** Goodput if each process had a CPU to itself: bits / max(sender, receiver CPU seconds). */
  gbps_per_cpu: number;
  cpu_s: number;
  rss_mb: number;
  rss_sender_mb: number;
  rss_receiver_mb: number;
  cpu_sender_s: number;
  cpu_receiver_s: number;
  /** Kernel share of each side's CPU seconds (sendto/recvmsg and, on veth, the peer's packet processing). */
  cpu_system_sender_s: number;
  cpu_system_receiver_s: number;
  /** Seconds both processes waited for a CPU while runnable: load from elsewhere on the machine. */
  sched_wait_s: number;
  bytes: number;
  seconds: number;
  loss?: number;
  verified?: boolean;
  mtu?: number;
  stats?: Record<string, number>;
  /** Receiver's transport stats (its packets sent are the ACKs). */
  receiverStats?: Record<string, number>;
  /** Socket counters per side (syscalls and datagrams: the batch sizes). */
  socketSender?: Record<string, number | string>;
  socketReceiver?: Record<string, number | string>;
  udpBackend?: string;
  /** punchline: the packet AEAD's implementation ('openssl' through the add-on, or 'sodium'). */
  aead?: string;
}

async function runOne(impl: Impl, netns: boolean, runIndex: number): Promise<Result> {
  const receiverHost = netns ? RECEIVER_IP : '127.0.0.1';
  const senderHost = netns ? SENDER_IP : '127.0.0.1';
  // udx-native needs both ports up front; other impls let the receiver pick.
  const base = 41000 + ((process.pid * 7 + runIndex * 13) % 20000);
  const receiverPort = impl === 'udx-native' ? base : 0;
  const senderPort = impl === 'udx-native' ? base + 1 : 0;
  const size = isPunchline(impl) && payloadFlag === undefined ? 'auto' : String(payload);
  const common = ['--impl', impl, '--bytes', String(bytes), '--payload', size, '--cc', cc];
  const receiver = startWorker(netns ? nsReceiver : null, [
    ...common,
    '--role',
    'receiver',
    '--port',
    String(receiverPort),
    '--host',
    senderHost,
    '--local-port',
    String(senderPort),
  ]);
  const ready = await withTimeout(nextMessage(receiver.lines, `${impl} receiver`), 30_000, `${impl} receiver start`);
  const sender = startWorker(netns ? nsSender : null, [
    ...common,
    '--role',
    'sender',
    '--host',
    receiverHost,
    '--port',
    String(ready['port']),
    '--local-port',
    String(senderPort),
    '--peer-key',
    String(ready['key'] ?? ''),
  ]);
  // Generous: 1 GiB at 100 Mbit/s takes 90 s.
  const limit = Math.max(60_000, (bytes / 1e6) * 200);
  const [rx, tx] = (await withTimeout(
    Promise.all([nextMessage(receiver.lines, `${impl} receiver`), nextMessage(sender.lines, `${impl} sender`)]),
    limit,
    `${impl} transfer`,
  )) as unknown as [Done, Done];
  await Promise.all([receiver.exited, sender.exited]);
  const seconds = rx.transfer_s ?? rx.wall_s;
  const result: Result = {
    impl,
    gbps: (rx.bytes * 8) / seconds / 1e9,
    gbps_per_cpu: (rx.bytes * 8) / Math.max(rx.cpu_s, tx.cpu_s) / 1e9,
    cpu_s: rx.cpu_s + tx.cpu_s,
    rss_mb: Math.max(rx.rss_peak_mb, tx.rss_peak_mb),
    rss_sender_mb: tx.rss_peak_mb,
    rss_receiver_mb: rx.rss_peak_mb,
    cpu_sender_s: tx.cpu_s,
    cpu_receiver_s: rx.cpu_s,
    cpu_system_sender_s: tx.cpu_system_s ?? NaN,
    cpu_system_receiver_s: rx.cpu_system_s ?? NaN,
    sched_wait_s: (rx.sched_wait_s ?? NaN) + (tx.sched_wait_s ?? NaN),
    bytes: rx.bytes,
    seconds,
  };
  if (isRaw(impl)) result.loss = 1 - rx.bytes / (rx.sent_bytes || tx.bytes);
  else if (rx.bytes !== bytes) throw new Error(`${impl}: receiver got ${rx.bytes} of ${bytes} bytes`);
  else if (rx.verified !== true)
    throw new Error(`${impl}: data check failed (first wrong byte at stream offset ${rx.mismatch_at ?? '?'})`);
  else result.verified = true;
  if (isPunchline(impl) && tx.stats) result.stats = tx.stats;
  if (isPunchline(impl) && rx.stats) result.receiverStats = rx.stats;
  if (tx.socket) result.socketSender = tx.socket;
  if (rx.socket) result.socketReceiver = rx.socket;
  if (isPunchline(impl) && tx.udp_backend) result.udpBackend = String(tx.udp_backend);
  if (isPunchline(impl) && tx.aead) result.aead = String(tx.aead);
  if (tx.mtu !== undefined) result.mtu = tx.mtu;
  return result;
}

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

async function main(): Promise<number> {
  workerArgs = await workerCommand(worker);
  const netns = setupNamespaces();
  const path_ = netns
    ? `two network namespaces joined by a veth pair, MTU 1500 (${RECEIVER_IP} ← ${SENDER_IP})`
    : 'loopback (127.0.0.1) — NOTE: not root or --loopback given, so no veth/MTU-1500 path; loopback has a 64 KiB MTU for TCP';
  process.stdout.write(
    `throughput: ${(bytes / 1024 ** 2).toFixed(0)} MiB on one stream, UDP payload ${payload} B${payloadFlag === undefined ? ' (punchline: its default, path MTU discovered)' : ''}, path: ${path_}\n`,
  );
  const results: Result[] = [];
  let failed = false;
  try {
    // Runs are interleaved (all impls, then again) so that load from other processes spreads evenly.
    for (let r = 0; r < runs; r++) {
      for (const impl of impls) {
        try {
          const result = await runOne(impl, netns, r);
          results.push(result);
          const json: Record<string, unknown> = {
            bench: 'throughput',
            impl,
            gbps: round(result.gbps),
            gbps_per_cpu: round(result.gbps_per_cpu),
            cpu_s: round(result.cpu_s, 2),
            rss_mb: round(result.rss_mb, 1),
            rss_sender_mb: round(result.rss_sender_mb, 1),
            rss_receiver_mb: round(result.rss_receiver_mb, 1),
            cpu_sender_s: round(result.cpu_sender_s, 2),
            cpu_receiver_s: round(result.cpu_receiver_s, 2),
            cpu_system_sender_s: round(result.cpu_system_sender_s, 2),
            cpu_system_receiver_s: round(result.cpu_system_receiver_s, 2),
            sched_wait_s: round(result.sched_wait_s, 2),
            bytes: result.bytes,
            seconds: round(result.seconds, 3),
            path: netns ? 'veth-1500' : 'loopback',
          };
          if (result.loss !== undefined) json['loss'] = round(result.loss, 4);
          if (isRaw(impl)) json['measures'] = NOTE[impl];
          if (result.verified !== undefined) json['verified'] = result.verified;
          if (isPunchline(impl)) json['cc'] = cc;
          if (result.udpBackend) json['udp_backend'] = result.udpBackend;
          if (result.aead) json['aead'] = result.aead;
          if (result.mtu !== undefined) json['udx_mtu'] = result.mtu;
          if (result.stats) {
            const s = result.stats;
            json['stats'] = {
              srtt_ms: round(s['smoothedRttMs'] ?? NaN, 2),
              cwnd: s['congestionWindowBytes'],
              lost: s['packetsLost'],
              sent: s['packetsSent'],
              qdelay_ms: round(s['queueingDelayMs'] ?? NaN, 2),
              path_mtu: s['pathMtu'],
              acks: result.receiverStats?.['packetsSent'],
            };
          }
          // Datagrams per syscall on each side: how well the event loop batches.
          const perCall = (n: unknown, calls: unknown): number => round(Number(n) / Number(calls), 1);
          const tx = result.socketSender;
          const rx = result.socketReceiver;
          if (tx && rx) {
            json['batch'] = {
              tx_send: perCall(tx['datagramsSent'], tx['sendSyscalls']),
              rx_recv: perCall(rx['datagramsReceived'], rx['recvSyscalls']),
              rx_send: perCall(rx['datagramsSent'], rx['sendSyscalls']),
              tx_recv: perCall(tx['datagramsReceived'], tx['recvSyscalls']),
              // Share of received datagrams that came as segments of a coalesced (GRO) message.
              rx_gro: round(Number(rx['groSegments'] ?? 0) / Number(rx['datagramsReceived']), 3),
            };
          }
          process.stdout.write(JSON.stringify(json) + '\n');
        } catch (error) {
          failed = true;
          process.stderr.write(`${impl}: FAILED: ${(error as Error).message}\n`);
          for (const child of children) child.kill('SIGKILL');
        }
      }
    }
  } finally {
    cleanup();
  }
  printTable(results, netns);
  return failed ? 1 : 0;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** One row per implementation: median goodput and CPU over its runs, largest RSS peaks. */
function printTable(results: Result[], netns: boolean): void {
  if (results.length === 0) return;
  const rowsByImpl = impls
    .map((impl) => {
      const rs = results.filter((r) => r.impl === impl);
      if (rs.length === 0) return null;
      return {
        impl,
        n: rs.length,
        gbps: median(rs.map((r) => r.gbps)),
        gbpsMax: Math.max(...rs.map((r) => r.gbps)),
        perCpu: median(rs.map((r) => r.gbps_per_cpu)),
        wait: median(rs.map((r) => r.sched_wait_s)),
        cpu: median(rs.map((r) => r.cpu_s)),
        cpuTx: median(rs.map((r) => r.cpu_sender_s)),
        cpuRx: median(rs.map((r) => r.cpu_receiver_s)),
        rssTx: Math.max(...rs.map((r) => r.rss_sender_mb)),
        rssRx: Math.max(...rs.map((r) => r.rss_receiver_mb)),
        loss: rs[0]?.loss !== undefined ? median(rs.map((r) => r.loss ?? 0)) : undefined,
        udpBackend: rs[0]?.udpBackend,
        aead: rs[0]?.aead,
      };
    })
    .filter((r) => r !== null);
  const raw = rowsByImpl.find((r) => r.impl === 'raw-dgram');
  const rawNative = rowsByImpl.find((r) => r.impl === 'raw-native');
  const udx = rowsByImpl.find((r) => r.impl === 'udx-native');
  const header = [
    'impl',
    'runs',
    'Gbit/s (median)',
    'max',
    'vs raw-dgram',
    'vs raw-native',
    'vs udx',
    'CPU s (tx+rx)',
    'Gbit/s per CPU',
    'CPU wait s',
    'RSS tx MB',
    'RSS rx MB',
    'note',
  ];
  const rows = rowsByImpl.map((r) => [
    r.impl,
    String(r.n),
    r.gbps.toFixed(3),
    r.gbpsMax.toFixed(3),
    raw ? `${((r.gbps / raw.gbps) * 100).toFixed(0)} %` : '-',
    rawNative ? `${((r.gbps / rawNative.gbps) * 100).toFixed(0)} %` : '-',
    udx ? `${(r.gbps / udx.gbps).toFixed(2)}x` : '-',
    `${r.cpu.toFixed(1)} (${r.cpuTx.toFixed(1)}+${r.cpuRx.toFixed(1)})`,
    r.perCpu.toFixed(3),
    r.wait.toFixed(1),
    r.rssTx.toFixed(0),
    r.rssRx.toFixed(0),
    [
      r.impl === 'punchline' && r.udpBackend ? `encrypted (${r.aead ?? '?'} AEAD), ${r.udpBackend} UDP` : NOTE[r.impl],
      r.loss !== undefined ? `loss ${(r.loss * 100).toFixed(1)} %` : 'data verified',
    ].join('; '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  process.stdout.write('\n' + line(header) + '\n' + line(widths.map((w) => '-'.repeat(w))) + '\n');
  for (const row of rows) process.stdout.write(line(row) + '\n');
  process.stdout.write(
    "Gbit/s per CPU = payload bits / the busier side's CPU seconds (goodput if each side had a core to itself);\n" +
      'CPU wait s = seconds both main threads were runnable but waiting for a CPU (load from other processes).\n',
  );
  if (!netns) process.stdout.write('(loopback run: numbers are not the veth/MTU-1500 figures)\n');
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench:throughput: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
