/**
 * `npm run bench:transfer`: `punchline send`/`receive` against the anchors a user would otherwise
 * pick, all measured in the same run over the same path:
 *   1. one large file (default 1 GiB): transfer goodput vs a plain punchline stream of the same bytes
 *      (bench/lib/throughput-worker.ts, one stream, same veth);           target ≥ 90 %
 *   2. 10 000 files of 4 KiB: files/s vs rsync over a local TCP daemon;    target ≥ 2 000 files/s, faster than rsync
 *      (as root on a fresh ext4 of their own, punchline and rsync in ABBA order: mountSmallFs)
 *   3. resume: the receiver is killed (SIGKILL) at 50 % of the large file, the same receive runs
 *      again into the same --out: bytes moved by the second run / file size;  target ≤ 55 %, hashes equal
 *
 * As root, sender (with the rendezvous server) and receiver run in two network namespaces joined by
 * a veth pair (MTU 1500, 198.51.100.2 ↔ 198.51.100.1); otherwise over loopback, and the output says so.
 * Each side is its own process (the real CLI from dist/).
 *
 *   npm run bench:transfer -- [--large 1G] [--small 10000] [--loopback] [--skip rsync,resume,plain,large,small]
 *     [--fs shared] [--cli PATH/cli/main.js] [--node-args='--cpu-prof ...']
 *
 * Prints a table and one JSON line per row: {"bench":"transfer","case":...,...}. Each punchline row
 * has the CPU seconds of each side (cpu_s_sender, cpu_s_receiver: /proc/PID/stat sampled every 50 ms,
 * the whole process, start-up included) and the bytes per CPU second of the busier side: on a
 * shared machine these say more than the rates. cpu_s_total is both sides together; for rsync it is
 * the daemon, the client and every process they fork (a cpuacct cgroup, as root), from the client's
 * start to its exit; for punchline each whole process, start-up, rendezvous and PAKE included.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmdirSync,
  closeSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

const worker = path.join(here, 'lib', 'throughput-worker.ts');

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) throw new Error(`bad size '${text}'`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m[2] ?? '').toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Math.round(Number(m[1]) * unit);
}
function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const largeBytes = parseSize(flag('large') ?? '1G');
const smallCount = Number(flag('small') ?? '10000');
const skip = new Set((flag('skip') ?? '').split(',').filter(Boolean));
/** The CLI under test: this checkout's dist/, or `--cli PATH` (e.g. a saved copy of an older build, for A/B runs). */
const cli = path.resolve(flag('cli') ?? path.join(root, 'dist', 'cli', 'main.js'));
/** Extra node options for send and receive (e.g. `--node-args=--cpu-prof`: NODE_OPTIONS refuses it). */
const nodeArgs = (process.argv.find((a) => a.startsWith('--node-args='))?.slice('--node-args='.length) ?? '')
  .split(' ')
  .filter(Boolean);

// --- network namespaces (as bench/throughput.ts) ----------------------------------------------------
const tag = `plx${process.pid % 100000}`;
const nsReceiver = `${tag}-rx`;
const nsSender = `${tag}-tx`;
const RECEIVER_IP = '198.51.100.1';
const SENDER_IP = '198.51.100.2';
let namespacesUp = false;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function setupNamespaces(): boolean {
  if (process.getuid?.() !== 0 || process.argv.includes('--loopback')) return false;
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
    cleanupNamespaces();
    process.stderr.write(`note: no network namespaces (${(error as Error).message.split('\n')[0]}); loopback\n`);
    return false;
  }
}

function cleanupNamespaces(): void {
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
let work = '';
function cleanupAll(): void {
  for (const child of children) child.kill('SIGKILL');
  cleanupNamespaces();
  unmountSmallFs();
  if (work) rmSync(work, { recursive: true, force: true });
}

// --- the small-file tree's own file system ------------------------------------------------------------------
/**
 * The small-file cases (punchline and rsync alike) run on a fresh ext4 file system of their own (a sparse
 * image on a loop device, as root; `--fs shared` keeps them in the work directory). Creating a file costs
 * what the file system's history makes it cost: on a journal-less ext4 (this project machine's disk) every
 * new inode skips the ones deleted in the last 60-300 s (fs/ext4/ialloc.c recently_deleted(), perf: 31.7 %
 * of the receiver), so whichever tool runs after another's deletions (or after any other process's) pays
 * more. A fresh file system, nothing deleted until the end and the two tools in ABBA order give both the
 * same conditions.
 */
let smallFs = '';
function mountSmallFs(): string | null {
  if (process.getuid?.() !== 0 || flag('fs') === 'shared') return null;
  const image = path.join(work, 'small-fs.img');
  const mountPoint = path.join(work, 'small-fs');
  try {
    writeFileSync(image, '');
    truncateSync(image, 2 * 1024 ** 3); // sparse
    execFileSync('mkfs.ext4', ['-q', '-F', image], { stdio: ['ignore', 'ignore', 'pipe'] });
    mkdirSync(mountPoint);
    execFileSync('mount', ['-o', 'loop', image, mountPoint], { stdio: ['ignore', 'ignore', 'pipe'] });
    smallFs = mountPoint;
    return mountPoint;
  } catch (error) {
    process.stderr.write(
      `note: no fresh file system for the small files (${(error as Error).message.split('\n')[0]})\n`,
    );
    return null;
  }
}
function unmountSmallFs(): void {
  if (!smallFs) return;
  try {
    execFileSync('umount', [smallFs], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch {
    // not mounted
  }
  smallFs = '';
}
process.on('exit', cleanupAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => process.exit(130));

// --- processes ----------------------------------------------------------------------------------------
interface Proc {
  child: ChildProcess;
  lines: AsyncIterator<string>;
  exited: Promise<number>;
  /** CPU seconds (user + system) the process used, as last sampled (final once `exited` resolved). */
  cpuSeconds(): number;
  /** Of which system (kernel) time. */
  systemSeconds(): number;
}

/** Clock ticks per second of /proc/PID/stat (USER_HZ: 100 on every Linux port that runs Node). */
const USER_HZ = 100;

/** Samples a process's CPU time from /proc/PID/stat (`ip netns exec` execs, so the PID is the program's). */
function cpuSampler(pid: number | undefined): { last(): number; system(): number; sample(): void } {
  let last = 0;
  let system = 0;
  const sample = (): void => {
    if (pid === undefined) return;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      last = (Number(fields[11]) + Number(fields[12])) / USER_HZ; // utime, stime (fields 14 and 15)
      system = Number(fields[12]) / USER_HZ;
    } catch {
      // exited: keep the last sample
    }
  };
  return { last: () => last, system: () => system, sample };
}

function start(
  ns: string | null,
  argv: string[],
  options: { env?: NodeJS.ProcessEnv; lines?: 'stdout' | 'stderr' } = {},
): Proc {
  const [cmd, args] = ns ? ['ip', ['netns', 'exec', ns, ...argv]] : [argv[0]!, argv.slice(1)];
  const child = spawn(cmd, args, {
    cwd: root,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const cpu = cpuSampler(child.pid);
  const sampling = setInterval(cpu.sample, 50);
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => {
      clearInterval(sampling);
      children.delete(child);
      resolve(code ?? (signal ? 128 : 1));
    }),
  );
  const stream = options.lines === 'stdout' ? child.stdout! : child.stderr!;
  const other = options.lines === 'stdout' ? child.stderr! : child.stdout!;
  other.resume();
  const lines = createInterface({ input: stream })[Symbol.asyncIterator]();
  return { child, lines, exited, cpuSeconds: cpu.last, systemSeconds: cpu.system };
}

async function nextJson(
  proc: Proc,
  what: string,
  match?: (m: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  for (;;) {
    const line = await proc.lines.next();
    if (line.done) throw new Error(`${what} exited without reporting`);
    if (!line.value.startsWith('{')) continue;
    if (process.env['BENCH_TRACE'])
      process.stderr.write(`${(performance.now() / 1000).toFixed(3)} ${what} ${line.value}\n`);
    const message = JSON.parse(line.value) as Record<string, unknown>;
    if (message['event'] === 'error') throw new Error(`${what}: ${String(message['message'])}`);
    if (!match || match(message)) return message;
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

// --- data -----------------------------------------------------------------------------------------------
function writeRandomFile(file: string, bytes: number): void {
  const fd = openSync(file, 'w');
  const block = Buffer.allocUnsafe(4 * 1024 * 1024);
  try {
    for (let done = 0; done < bytes; done += block.length) {
      randomFillSync(block);
      writeSync(fd, block, 0, Math.min(block.length, bytes - done));
    }
  } finally {
    closeSync(fd);
  }
}

function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}

// --- the server --------------------------------------------------------------------------------------------
async function startServer(ns: string | null, host: string): Promise<NodeJS.ProcessEnv> {
  const proc = start(ns, [
    process.execPath,
    cli,
    'server',
    '--host',
    host,
    '--udp-port',
    '0',
    '--port',
    '0',
    '--metrics-port',
    'off',
    '--data-dir',
    path.join(work, 'server'),
  ]);
  // The server prints the one string clients need: `  punchline://KEY@host:port?wt=PORT`.
  const address = await withTimeout(
    (async () => {
      for (;;) {
        const line = await proc.lines.next();
        if (line.done) throw new Error('server exited');
        const m = /^\s+(punchline:\/\/\S+)/.exec(line.value);
        if (m) return m[1]!;
      }
    })(),
    30_000,
    'server start',
  );
  return { PUNCHLINE_SERVER: address };
}

// --- cases -----------------------------------------------------------------------------------------------
interface Row {
  case: string;
  impl: string;
  files: number;
  bytes: number;
  seconds: number;
  mbps: number;
  files_per_s?: number;
  bytes_transferred?: number;
  cpu_s_sender?: number;
  cpu_s_receiver?: number;
  /** Both sides together, children included (rsync: daemon, client and their forks; cpuacct). */
  cpu_s_total?: number;
  /** Kernel share of cpu_s_receiver (file creation and page-cache writes land here). */
  cpu_sys_s_receiver?: number;
  /** Bytes moved per CPU second of the busier side (MB/s per core). */
  mb_per_cpu_s?: number;
  note?: string;
}

/** One `send` + `receive` run; `killAt` (fraction) kills the receiver with SIGKILL at that progress. */
async function transfer(
  env: NodeJS.ProcessEnv,
  sources: string[],
  out: string,
  killAt?: number,
): Promise<(Record<string, unknown> & { cpuSender: number; cpuReceiver: number; sysReceiver: number }) | null> {
  const sender = start(nsSenderOrNull, [process.execPath, ...nodeArgs, cli, 'send', ...sources, '--json'], { env });
  const code = String(
    (
      await withTimeout(
        nextJson(sender, 'send', (m) => m['event'] === 'code'),
        30_000,
        'code',
      )
    )['code'],
  );
  const receiver = start(
    nsReceiverOrNull,
    [process.execPath, ...nodeArgs, cli, 'receive', code, '--out', out, '--yes', '--json'],
    {
      env,
    },
  );
  try {
    if (killAt !== undefined) {
      await withTimeout(
        nextJson(
          receiver,
          'receive',
          (m) => m['event'] === 'progress' && Number(m['bytes']) >= killAt * Number(m['totalBytes']),
        ),
        600_000,
        'receive to 50 %',
      );
      receiver.child.kill('SIGKILL');
      await receiver.exited;
      sender.child.kill('SIGKILL');
      await sender.exited;
      return null;
    }
    const done = await withTimeout(
      nextJson(receiver, 'receive', (m) => m['event'] === 'done'),
      1_800_000,
      'receive',
    );
    await withTimeout(Promise.all([sender.exited, receiver.exited]), 30_000, 'sender and receiver exit');
    return {
      ...done,
      cpuSender: sender.cpuSeconds(),
      cpuReceiver: receiver.cpuSeconds(),
      sysReceiver: receiver.systemSeconds(),
    };
  } finally {
    sender.child.kill('SIGKILL');
    receiver.child.kill('SIGKILL');
  }
}

async function plainStream(bytes: number): Promise<{ seconds: number; cpuSender: number; cpuReceiver: number }> {
  const tsx = [...nodeArgs, '--import', 'tsx', worker];
  const common = ['--impl', 'punchline', '--bytes', String(bytes)];
  const receiverHost = netns ? RECEIVER_IP : '127.0.0.1';
  const senderHost = netns ? SENDER_IP : '127.0.0.1';
  const receiver = start(
    nsReceiverOrNull,
    [process.execPath, ...tsx, ...common, '--role', 'receiver', '--port', '0', '--host', senderHost],
    { lines: 'stdout' },
  );
  const ready = await withTimeout(nextJson(receiver, 'plain receiver'), 60_000, 'plain receiver start');
  const sender = start(
    nsSenderOrNull,
    [
      process.execPath,
      ...tsx,
      ...common,
      '--role',
      'sender',
      '--host',
      receiverHost,
      '--port',
      String(ready['port']),
      '--peer-key',
      String(ready['key'] ?? ''),
    ],
    { lines: 'stdout' },
  );
  const done = await withTimeout(
    nextJson(receiver, 'plain receiver', (m) => m['event'] === 'done'),
    1_800_000,
    'plain stream',
  );
  const sent = await withTimeout(
    nextJson(sender, 'plain sender', (m) => m['event'] === 'done'),
    30_000,
    'plain sender',
  );
  await sender.exited;
  // The workers' own figures: CPU during the transfer (start-up not included).
  return {
    seconds: Number(done['transfer_s'] ?? done['wall_s']),
    cpuSender: Number(sent['cpu_s']),
    cpuReceiver: Number(done['cpu_s']),
  };
}

/**
 * CPU of a group of processes and every child they fork (rsync's daemon forks one per connection,
 * its client forks the receiver): a cgroup-v1 cpuacct group (as root, where the hierarchy is
 * mounted), else null. /proc/PID/stat would miss children that exit between two samples.
 */
function cpuGroup(name: string): { add(pid: number | undefined): void; seconds(): number; remove(): void } | null {
  const base = '/sys/fs/cgroup/cpuacct';
  if (process.getuid?.() !== 0 || !existsSync(path.join(base, 'cpuacct.usage'))) return null;
  const dir = path.join(base, `${tag}-${name}`);
  try {
    mkdirSync(dir);
  } catch {
    return null;
  }
  return {
    add: (pid) => {
      if (pid !== undefined) writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
    },
    seconds: () => Number(readFileSync(path.join(dir, 'cpuacct.usage'), 'utf8')) / 1e9,
    remove: () => {
      // A group is removed once it is empty: its processes were killed, wait until they are gone.
      for (let i = 0; i < 100; i++) {
        try {
          rmdirSync(dir);
          return;
        } catch {
          execFileSync('sleep', ['0.05']);
        }
      }
    },
  };
}

async function rsync(source: string, out: string): Promise<{ seconds: number; cpu: number | null }> {
  const port = 20000 + (process.pid % 20000);
  const conf = path.join(work, 'rsyncd.conf');
  writeFileSync(conf, `use chroot = no\n[bench]\n  path = ${source}\n  read only = yes\n  uid = 0\n  gid = 0\n`);
  const host = netns ? SENDER_IP : '127.0.0.1';
  const group = cpuGroup(`rsync-${path.basename(out)}`);
  const daemon = start(nsSenderOrNull, [
    'rsync',
    '--daemon',
    '--no-detach',
    `--config=${conf}`,
    `--port=${port}`,
    `--address=${host}`,
  ]);
  group?.add(daemon.child.pid);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const cpu0 = group?.seconds() ?? 0;
    const started = performance.now();
    const client = start(nsReceiverOrNull, ['rsync', '-a', `rsync://${host}:${port}/bench/`, `${out}/`]);
    group?.add(client.child.pid);
    const code = await client.exited;
    const seconds = (performance.now() - started) / 1000;
    if (code !== 0) throw new Error(`rsync exited with ${code}`);
    // The daemon's child for this connection has ended with the client's connection (give it a moment).
    await new Promise((resolve) => setTimeout(resolve, 100));
    return { seconds, cpu: group ? group.seconds() - cpu0 : null };
  } finally {
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    group?.remove();
  }
}

// --- main --------------------------------------------------------------------------------------------------
const netns = setupNamespaces();
const nsSenderOrNull = netns ? nsSender : null;
const nsReceiverOrNull = netns ? nsReceiver : null;

async function main(): Promise<void> {
  if (!existsSync(cli)) throw new Error('dist/ is missing: run `npm run build` first');
  work = mkdtempSync(path.join(tmpdir(), 'punchline-bench-transfer-'));
  const where = netns ? `veth between two network namespaces (MTU 1500)` : 'loopback (not root: no namespaces)';
  process.stdout.write(`bench:transfer over ${where}; large ${largeBytes} B, ${smallCount} × 4 KiB files\n`);
  const src = path.join(work, 'src');
  mkdirSync(src, { recursive: true });
  const large = path.join(src, 'large.bin');
  writeRandomFile(large, largeBytes);
  const smallRoot = mountSmallFs() ?? work;
  process.stdout.write(
    smallRoot === work
      ? 'small files: in the work directory (shared file system)\n'
      : 'small files: on a fresh ext4 of their own (loop device); punchline and rsync in ABBA order\n',
  );
  const smallSrc = path.join(smallRoot, 'small');
  mkdirSync(smallSrc);
  for (let i = 0; i < smallCount; i++) {
    const dir = path.join(smallSrc, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `f${i}`), randomFillSync(Buffer.allocUnsafe(4096)));
  }
  const env = await startServer(nsSenderOrNull, netns ? SENDER_IP : '127.0.0.1');
  const rows: Row[] = [];
  const row = (r: Row): void => {
    rows.push(r);
    process.stdout.write(`${JSON.stringify({ bench: 'transfer', where: netns ? 'veth' : 'loopback', ...r })}\n`);
  };
  const mbps = (bytes: number, seconds: number): number => Math.round(((bytes * 8) / seconds / 1e6) * 10) / 10;
  const cpu = (bytes: number, sides: { cpuSender: number; cpuReceiver: number; sysReceiver?: number }) => ({
    cpu_s_sender: Math.round(sides.cpuSender * 100) / 100,
    cpu_s_receiver: Math.round(sides.cpuReceiver * 100) / 100,
    cpu_s_total: Math.round((sides.cpuSender + sides.cpuReceiver) * 100) / 100,
    ...(sides.sysReceiver === undefined ? {} : { cpu_sys_s_receiver: Math.round(sides.sysReceiver * 100) / 100 }),
    mb_per_cpu_s: Math.round(bytes / 1e6 / Math.max(sides.cpuSender, sides.cpuReceiver, 0.01)),
  });

  if (!skip.has('plain')) {
    const plain = await plainStream(largeBytes);
    row({
      case: 'large',
      impl: 'plain punchline stream',
      files: 1,
      bytes: largeBytes,
      seconds: plain.seconds,
      mbps: mbps(largeBytes, plain.seconds),
      ...cpu(largeBytes, plain),
      note: 'CPU during the transfer only',
    });
  }
  const out1 = path.join(work, 'out-large');
  const large1 = skip.has('large') ? null : (await transfer(env, [large], out1))!;
  if (large1) {
    const largeSeconds = Number(large1['seconds']);
    const largeOk = (await sha256(path.join(out1, 'large.bin'))) === (await sha256(large));
    row({
      case: 'large',
      impl: 'punchline send/receive',
      files: 1,
      bytes: largeBytes,
      seconds: largeSeconds,
      mbps: mbps(largeBytes, largeSeconds),
      ...cpu(largeBytes, large1),
      note: `${largeOk ? 'sha256 equal' : 'SHA256 DIFFERS'}; path ${String(large1['path'])}`,
    });
    rmSync(out1, { recursive: true, force: true });
  }

  // Small files: punchline, rsync, rsync, punchline (ABBA), each into a fresh directory, nothing
  // deleted until the end (see mountSmallFs); the summary takes each tool's best run.
  let hasRsync = !skip.has('rsync');
  if (hasRsync) {
    try {
      execFileSync('rsync', ['--version'], { stdio: 'ignore' });
    } catch {
      hasRsync = false;
      process.stdout.write('rsync not installed (apt-get install rsync): no anchor\n');
    }
  }
  const smallOuts: string[] = [];
  const smallPunchline = async (round: number): Promise<void> => {
    const out = path.join(smallRoot, `out-small-${round}`);
    smallOuts.push(out);
    const small = (await transfer(env, [smallSrc], out))!;
    const smallSeconds = Number(small['seconds']);
    row({
      case: 'small',
      impl: 'punchline send/receive',
      files: smallCount,
      bytes: smallCount * 4096,
      seconds: smallSeconds,
      mbps: mbps(smallCount * 4096, smallSeconds),
      files_per_s: Math.round(smallCount / smallSeconds),
      ...cpu(smallCount * 4096, small),
      note: `round ${round}`,
    });
  };
  const smallRsync = async (round: number): Promise<void> => {
    const out = path.join(smallRoot, `out-rsync-${round}`);
    smallOuts.push(out);
    mkdirSync(out);
    const { seconds, cpu: cpuTotal } = await rsync(smallSrc, out);
    row({
      case: 'small',
      impl: 'rsync daemon (TCP)',
      files: smallCount,
      bytes: smallCount * 4096,
      seconds,
      mbps: mbps(smallCount * 4096, seconds),
      files_per_s: Math.round(smallCount / seconds),
      ...(cpuTotal === null ? {} : { cpu_s_total: Math.round(cpuTotal * 100) / 100 }),
      note: `round ${round}`,
    });
  };
  // Before each round the previous one's dirty pages go to disk, so no round pays for another's writeback.
  const settle = (): void => {
    execFileSync('sync', ['-f', smallRoot]);
  };
  settle();
  if (!skip.has('small')) await smallPunchline(1);
  if (hasRsync && !skip.has('small')) {
    settle();
    await smallRsync(1);
    settle();
    await smallRsync(2);
    settle();
    await smallPunchline(2);
  }
  for (const out of smallOuts) rmSync(out, { recursive: true, force: true });
  if (!skip.has('resume')) {
    const out4 = path.join(work, 'out-resume');
    await transfer(env, [large], out4, 0.5);
    const second = (await transfer(env, [large], out4))!;
    const moved = Number(second['bytesTransferred']);
    const ok = (await sha256(path.join(out4, 'large.bin'))) === (await sha256(large));
    row({
      case: 'resume',
      impl: 'punchline after SIGKILL at 50 %',
      files: 1,
      bytes: largeBytes,
      seconds: Number(second['seconds']),
      mbps: mbps(moved, Number(second['seconds'])),
      bytes_transferred: moved,
      ...cpu(moved, second),
      note: `${((moved / largeBytes) * 100).toFixed(1)} % moved again; ${ok ? 'sha256 equal' : 'SHA256 DIFFERS'}`,
    });
  }

  process.stdout.write(
    '\ncase    implementation                     files      seconds     Mbit/s   files/s  cpu s tx/rx  cpu s all  note\n',
  );
  for (const r of rows) {
    const cpuText = r.cpu_s_sender === undefined ? '' : `${r.cpu_s_sender.toFixed(2)}/${r.cpu_s_receiver!.toFixed(2)}`;
    process.stdout.write(
      `${r.case.padEnd(8)}${r.impl.padEnd(35)}${String(r.files).padStart(6)}${r.seconds.toFixed(2).padStart(13)}${r.mbps.toFixed(1).padStart(11)}${String(r.files_per_s ?? '').padStart(10)}${cpuText.padStart(13)}${(r.cpu_s_total?.toFixed(2) ?? '').padStart(11)}  ${r.note ?? ''}\n`,
    );
  }
  const plain = rows.find((r) => r.impl === 'plain punchline stream');
  const ours = rows.find((r) => r.case === 'large' && r.impl === 'punchline send/receive');
  if (plain && ours)
    process.stdout.write(
      `large file: ${((ours.mbps / plain.mbps) * 100).toFixed(0)} % of the plain stream (target ≥ 90 %)\n`,
    );
  const best = (prefix: string): Row | undefined =>
    rows
      .filter((r) => r.case === 'small' && r.impl.startsWith(prefix))
      .reduce<Row | undefined>((a, r) => (a && a.seconds <= r.seconds ? a : r), undefined);
  const smallOurs = best('punchline');
  const smallAnchor = best('rsync');
  if (smallOurs) {
    process.stdout.write(
      `small files (best run of each): ${smallOurs.files_per_s} files/s (target ≥ 2000)` +
        (smallAnchor ? `, ${(smallAnchor.seconds / smallOurs.seconds).toFixed(2)}× rsync's speed (target > 1)` : '') +
        '\n',
    );
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench:transfer: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
