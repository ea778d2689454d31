/**
 * `npm run matrix` — the connectivity matrix over real Linux NATs (root; otherwise it skips with a
 * one-line reason).
 *
 * One lab: a `punchline server` on server1 (with its RFC 5780 alternate) and one site per profile —
 * open, firewall, easy, hard, cgnat, cgnat/hard, udp-blocked, portmap (portmap/hard: it counts as hard
 * until port-mapped candidates are used) — two hosts each. For every ordered pair of sites (from =
 * the connecting side, to = the listening side) and for the two hosts inside each site, it runs
 * `punchline listen` in the `to` host and `punchline connect KEY` in the `from` host (the real CLI,
 * through the server by public key) and sends 8 MiB from `from` to `to`:
 *   connected  the connector exited 0 and the listener received every byte (hashOk)
 *   path       the last path the connector reported (direct | relay-udp | relay-stream)
 *   ttfbMs     connect start → the connection carries data (the connector's `connected` afterMs: its
 *              own clock, as the library's stats().timeToFirstByteMs; the byte itself lands ½ RTT later)
 *   directMs   connect start → the connection on a direct path (null: never direct), same clock
 *   mbps       8 MiB over the time between the listener's first and last byte (goodput, Mbit/s)
 * It prints a table, one JSON line per pair
 *   {"bench":"matrix","from":...,"to":...,"connected":...,"path":...,"ttfbMs":...,"directMs":...,"mbps":...,"hashOk":...}
 * and a summary: % connected (all pairs) and % direct among the pairs that can be direct (canBeDirect
 * below; README §Connectivity says why), with the issue's timing targets: ttfb p50 over connected
 * pairs, time to direct p50 over direct-capable pairs without a birthday search and p95 over the
 * birthday pairs (a pair that never went direct counts as infinitely slow: null when it decides). Anchor: each same-site pair is also dialled directly
 * (KEY@IP:PORT, no server, no traversal), printed as {"bench":"matrix-anchor",...,"mbps":...}, and the
 * by-key goodput is shown as a percentage of it (the target: within 10 % once direct).
 *
 * Environment: MATRIX_BYTES (default 8 MiB), MATRIX_PAIR_TIMEOUT_S (60), MATRIX_ONLY=from:to,... to run
 * a subset (profile names, e.g. MATRIX_ONLY=easy:hard,hard:easy).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { labAvailability } from '../src/lab/availability.js';
import { nodeArgv } from '../src/lab/host-process.js';
import { Lab } from '../src/lab/lab.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SiteSpec } from '../src/lab/topology.js';

const BYTES = Number(process.env['MATRIX_BYTES'] ?? 8 * 1024 * 1024);
const PAIR_TIMEOUT_MS = Number(process.env['MATRIX_PAIR_TIMEOUT_S'] ?? 60) * 1000;
const LISTENER_GRACE_MS = 5000;
/**
 * The built CLI (`npm run matrix` builds first): a process starts in about half the time it takes
 * through tsx, and 144 of them start per matrix.
 */
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

/** The sites, one per profile; `mapping` is the NAT's mapping behaviour towards the internet (RFC 4787 §4.1). */
const SITES: readonly {
  readonly profile: string;
  readonly spec: SiteSpec;
  readonly mapping: 'independent' | 'dependent' | 'mapped' | 'no-udp';
}[] = [
  { profile: 'open', spec: { name: 'op', profile: 'open', hosts: 2 }, mapping: 'independent' },
  { profile: 'firewall', spec: { name: 'fw', profile: 'firewall', hosts: 2 }, mapping: 'independent' },
  { profile: 'easy', spec: { name: 'ez', profile: 'easy', hosts: 2 }, mapping: 'independent' },
  { profile: 'hard', spec: { name: 'hd', profile: 'hard', hosts: 2 }, mapping: 'dependent' },
  { profile: 'cgnat', spec: { name: 'cg', profile: 'cgnat', hosts: 2 }, mapping: 'independent' },
  { profile: 'cgnat/hard', spec: { name: 'ch', profile: 'cgnat', variant: 'hard', hosts: 2 }, mapping: 'dependent' },
  { profile: 'udp-blocked', spec: { name: 'ub', profile: 'udp-blocked', hosts: 2 }, mapping: 'no-udp' },
  { profile: 'portmap', spec: { name: 'pm', profile: 'portmap', variant: 'hard', hosts: 2 }, mapping: 'mapped' },
];
type Site = (typeof SITES)[number];

/**
 * Whether a direct path can exist (the issue's target): two hosts of one site always (same LAN: host
 * candidates); never with a site that blocks UDP; otherwise when at least one side's NAT maps
 * endpoint-independently (simultaneous open, or the birthday search against the other side's
 * endpoint-dependent mapping). Two endpoint-dependent NATs stay relayed unless one gateway grants a port mapping
 * (`portmap` site; listen/connect run with --portmap).
 */
export function canBeDirect(from: Site, to: Site): boolean {
  if (from === to) return true;
  if (from.mapping === 'no-udp' || to.mapping === 'no-udp') return false;
  // A gateway port mapping (PCP, NAT-PMP, UPnP IGD) is reachable from any address: a mapped side can
  // be reached directly by any peer that can send UDP.
  if (from.mapping === 'mapped' || to.mapping === 'mapped') return true;
  return from.mapping === 'independent' || to.mapping === 'independent';
}

/** The birthday search is what connects an endpoint-independent side with an endpoint-dependent one. */
function needsBirthday(from: Site, to: Site): boolean {
  if (from === to) return false;
  const kinds = new Set([from.mapping, to.mapping]);
  return kinds.has('independent') && kinds.has('dependent');
}

/** The p-th percentile (nearest rank) of the values; a pair never direct counts as infinitely slow. */
function percentile(values: readonly (number | null)[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = values.map((v) => v ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  const value = sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return Number.isFinite(value) ? value : null;
}

interface Row {
  readonly bench: 'matrix';
  readonly from: string;
  readonly to: string;
  readonly connected: boolean;
  readonly path: string | null;
  readonly ttfbMs: number | null;
  readonly directMs: number | null;
  readonly mbps: number | null;
  readonly hashOk: boolean;
}

interface Proc {
  readonly child: ChildProcess;
  readonly events: { at: number; event: Record<string, unknown> }[];
  stderr: string;
  stdoutHash: ReturnType<typeof createHash>;
  stdoutBytes: number;
  firstByteAt: number | null;
  lastByteAt: number | null;
  readonly exited: Promise<number | null>;
}

/** Runs our CLI inside a lab host (`ip netns exec`), with raw stdout (hashed as it arrives) and timestamped JSON events. */
function punchlineIn(lab: Lab, host: string, args: string[], input: Buffer | null): Proc {
  const argv = nodeArgv(CLI, args);
  const child = spawn('ip', ['netns', 'exec', lab.host(host).ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  const proc: Proc = {
    child,
    events: [],
    stderr: '',
    stdoutHash: createHash('sha256'),
    stdoutBytes: 0,
    firstByteAt: null,
    lastByteAt: null,
    exited: new Promise((resolve) => child.on('close', (code) => resolve(code))),
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    const now = performance.now();
    proc.firstByteAt ??= now;
    proc.lastByteAt = now;
    proc.stdoutBytes += chunk.length;
    proc.stdoutHash.update(chunk);
  });
  let pending = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    const now = performance.now();
    proc.stderr += chunk.toString();
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      try {
        proc.events.push({ at: now, event: JSON.parse(line) as Record<string, unknown> });
      } catch {
        // not an event (a warning from Node, say): kept in stderr for the diagnosis
      }
    }
  });
  child.stdin!.on('error', () => undefined); // a peer that exits early closes our pipe
  if (input !== null) child.stdin!.end(input);
  return proc;
}

function until<T>(what: () => T | undefined, timeoutMs: number, exited: Promise<unknown>): Promise<T | undefined> {
  return new Promise((resolve) => {
    const deadline = performance.now() + timeoutMs;
    let done = false;
    void exited.then(() => {
      if (!done) setTimeout(() => finish(what()), 50);
    });
    const finish = (value: T | undefined): void => {
      if (done) return;
      done = true;
      clearInterval(timer);
      resolve(value);
    };
    const timer = setInterval(() => {
      const value = what();
      if (value !== undefined || performance.now() > deadline) finish(value);
    }, 20);
  });
}

function kill(proc: Proc): void {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
}

/**
 * One pair: `form` 'key' connects by public key through the server (the matrix proper); 'direct'
 * dials the listener's LAN address (KEY@IP:PORT, no server, no traversal) — the anchor for same-site
 * pairs, whose goodput the by-key connection should match once it is direct.
 */
async function runPair(
  lab: Lab,
  from: Site,
  to: Site,
  data: Buffer,
  digest: string,
  form: 'key' | 'direct' = 'key',
): Promise<Row & { note: string }> {
  const fromHost = `${from.spec.name}-host1`;
  const toHost = from === to ? `${to.spec.name}-host2` : `${to.spec.name}-host1`;
  const server = lab.serverAddress!;
  const serverArgs = form === 'key' ? ['--server', server, '--portmap'] : [];
  const failed = (note: string): Row & { note: string } => ({
    bench: 'matrix',
    from: from.profile,
    to: to.profile,
    connected: false,
    path: null,
    ttfbMs: null,
    directMs: null,
    mbps: null,
    hashOk: false,
    note,
  });
  const listener = punchlineIn(lab, toHost, ['listen', ...serverArgs, '--json'], Buffer.alloc(0));
  let connector: Proc | null = null;
  try {
    const listening = await until(
      () => listener.events.find((e) => e.event['event'] === 'listening'),
      PAIR_TIMEOUT_MS,
      listener.exited,
    );
    if (!listening) return failed(`listener did not start: ${lastLine(listener.stderr)}`);
    const port = /:(\d+)$/.exec(String(listening.event['address'] ?? ''))?.[1];
    const key =
      form === 'key'
        ? String(listening.event['publicKey'])
        : `${String(listening.event['publicKey'])}@${lab.host(toHost).addresses[0]}:${port}`;
    connector = punchlineIn(
      lab,
      fromHost,
      ['connect', key, ...serverArgs, '--json', '--timeout', String(PAIR_TIMEOUT_MS / 2000)],
      data,
    );
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), PAIR_TIMEOUT_MS).unref());
    // Once the connector is gone the listener has LISTENER_GRACE_MS to finish (it ends right after a
    // clean end of data; after a failed connect it would wait for ever).
    const connectorThen = connector.exited.then(async (code) => {
      const grace = new Promise<null>((r) => setTimeout(() => r(null), LISTENER_GRACE_MS).unref());
      const listenerCode = await Promise.race([listener.exited, grace]);
      return [code, listenerCode] as const;
    });
    const outcome = await Promise.race([connectorThen, timeout]);
    if (outcome === 'timeout') {
      kill(connector);
      kill(listener);
      await Promise.all([connector.exited, listener.exited]);
    }
    const [connectorCode, listenerCode] = outcome === 'timeout' ? [null, null] : outcome;
    const connected = connector.events.find((e) => e.event['event'] === 'connected');
    const paths = connector.events.filter((e) => e.event['event'] === 'path');
    const hashOk = listener.stdoutBytes === data.length && listener.stdoutHash.digest('hex') === digest;
    const ok = connectorCode === 0 && listenerCode === 0 && hashOk;
    const lastPath = paths.at(-1)?.event['path'] ?? connected?.event['path'] ?? null;
    const direct = connected?.event['path'] === 'direct' ? connected : paths.find((p) => p.event['path'] === 'direct');
    const seconds =
      listener.firstByteAt !== null && listener.lastByteAt !== null && listener.lastByteAt > listener.firstByteAt
        ? (listener.lastByteAt - listener.firstByteAt) / 1000
        : null;
    return {
      bench: 'matrix',
      from: from.profile,
      to: to.profile,
      connected: ok,
      path: typeof lastPath === 'string' ? lastPath : null,
      ttfbMs: connected ? Number(connected.event['afterMs']) : null,
      directMs: direct ? Number(direct.event['afterMs']) : null,
      mbps: ok && seconds ? Number(((data.length * 8) / seconds / 1e6).toFixed(1)) : null,
      hashOk,
      note: ok
        ? ''
        : outcome === 'timeout'
          ? `timed out after ${PAIR_TIMEOUT_MS / 1000} s`
          : connectorCode !== 0
            ? `connect: ${lastLine(connector.stderr) || `exit ${connectorCode}`}`
            : listenerCode !== 0
              ? `listen: ${lastLine(listener.stderr) || (listenerCode === null ? 'did not finish' : `exit ${listenerCode}`)}`
              : `received ${listener.stdoutBytes} of ${data.length} bytes${hashOk ? '' : ', hash differs'}`,
    };
  } finally {
    if (connector) kill(connector);
    kill(listener);
  }
}

function lastLine(text: string): string {
  const line = text.trim().split('\n').at(-1) ?? '';
  try {
    const event = JSON.parse(line) as { message?: string; code?: string };
    return event.message ? `${event.message}${event.code ? ` (${event.code})` : ''}` : line;
  } catch {
    return line;
  }
}

function selected(): (from: Site, to: Site) => boolean {
  const only = process.env['MATRIX_ONLY'];
  if (!only) return () => true;
  const wanted = new Set(only.split(',').map((p) => p.trim()));
  return (from, to) => wanted.has(`${from.profile}:${to.profile}`);
}

async function main(): Promise<number> {
  const availability = await labAvailability();
  if (!availability.available) {
    process.stdout.write(`matrix: skipped: ${availability.reason}\n`);
    return 0;
  }
  if (!existsSync(CLI)) {
    process.stderr.write(`matrix: ${CLI} is missing: run 'npm run build' (npm run matrix does)\n`);
    return 1;
  }
  const started = performance.now();
  const lab = await Lab.up(
    { name: `matrix-${process.pid}`, sites: SITES.map((s) => s.spec), servers: 1 },
    { server: true },
  );
  const rows: (Row & { note: string; possible: boolean; birthday: boolean })[] = [];
  const anchors: { bench: 'matrix-anchor'; from: string; to: string; ttfbMs: number | null; mbps: number | null }[] =
    [];
  try {
    process.stdout.write(`matrix: lab ${lab.name} up, server ${lab.serverAddress}\n`);
    const data = randomBytes(BYTES);
    const digest = createHash('sha256').update(data).digest('hex');
    const wanted = selected();
    const pairs: [Site, Site][] = [];
    for (const from of SITES) for (const to of SITES) if (wanted(from, to)) pairs.push([from, to]);
    const header = `${'from'.padEnd(12)} ${'to'.padEnd(12)} ${'ok'.padEnd(3)} ${'path'.padEnd(13)} ${'ttfb ms'.padStart(8)} ${'direct ms'.padStart(9)} ${'Mbit/s'.padStart(7)}  can-direct  ${'wall s'.padStart(6)}  note`;
    process.stdout.write(`${header}\n`);
    for (const [from, to] of pairs) {
      const pairStart = performance.now();
      const row = {
        ...(await runPair(lab, from, to, data, digest)),
        possible: canBeDirect(from, to),
        birthday: needsBirthday(from, to),
      };
      const wall = ((performance.now() - pairStart) / 1000).toFixed(1);
      rows.push(row);
      if (from === to) {
        const anchor = await runPair(lab, from, to, data, digest, 'direct');
        anchors.push({
          bench: 'matrix-anchor',
          from: from.profile,
          to: to.profile,
          ttfbMs: anchor.ttfbMs,
          mbps: anchor.mbps,
        });
        if (anchor.mbps !== null && row.mbps !== null)
          row.note += `${row.note ? '; ' : ''}direct dial ${anchor.mbps} Mbit/s (${((100 * row.mbps) / anchor.mbps).toFixed(0)} %)`;
        else if (!anchor.connected) row.note += `${row.note ? '; ' : ''}anchor failed: ${anchor.note}`;
      }
      const cell = (v: number | null, w: number): string => (v === null ? '-' : String(v)).padStart(w);
      process.stdout.write(
        `${row.from.padEnd(12)} ${row.to.padEnd(12)} ${(row.connected ? 'yes' : 'NO').padEnd(3)} ${(row.path ?? '-').padEnd(13)} ${cell(row.ttfbMs, 8)} ${cell(row.directMs, 9)} ${cell(row.mbps, 7)}  ${(row.possible ? 'yes' : 'no').padEnd(10)}  ${wall.padStart(6)}  ${row.note}\n`,
      );
    }
  } finally {
    await lab.down();
  }
  for (const { note: _note, possible: _possible, birthday: _birthday, ...row } of rows)
    process.stdout.write(`${JSON.stringify(row)}\n`);
  for (const anchor of anchors) process.stdout.write(`${JSON.stringify(anchor)}\n`);
  const connected = rows.filter((r) => r.connected).length;
  const possible = rows.filter((r) => r.possible);
  const direct = possible.filter((r) => r.connected && r.path === 'direct').length;
  const pct = (n: number, of: number): number => (of === 0 ? 0 : Number(((100 * n) / of).toFixed(1)));
  const summary = {
    bench: 'matrix-summary',
    pairs: rows.length,
    connected,
    connectedPct: pct(connected, rows.length),
    canBeDirect: possible.length,
    direct,
    directPct: pct(direct, possible.length),
    // The issue's targets: time to first byte; time to direct p50 without a birthday search, p95 with.
    ttfbP50Ms: percentile(
      rows.filter((r) => r.connected).map((r) => r.ttfbMs),
      50,
    ),
    directP50MsNoBirthday: percentile(
      possible.filter((r) => !r.birthday).map((r) => r.directMs),
      50,
    ),
    directP95MsBirthday: percentile(
      possible.filter((r) => r.birthday).map((r) => r.directMs),
      95,
    ),
    seconds: Math.round((performance.now() - started) / 1000),
  };
  process.stdout.write(
    `summary: ${summary.connectedPct} % connected (${connected}/${rows.length}), ${summary.directPct} % direct among pairs that can be direct (${direct}/${possible.length}); ttfb p50 ${summary.ttfbP50Ms} ms; time to direct p50 ${summary.directP50MsNoBirthday} ms (no birthday search), p95 ${summary.directP95MsBirthday} ms (birthday pairs); ${summary.seconds} s\n`,
  );
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`matrix: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
