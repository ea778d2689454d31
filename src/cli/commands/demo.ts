/**
 * `punchline demo`: the file-transfer job end to end on this machine. Starts a rendezvous server,
 * generates a tree of files, runs `send` and `receive` by code (mailbox, CPace, psk-authenticated
 * connection, parallel streams), shows the receiver's progress and path, verifies every file
 * against the source (BLAKE2b), and removes everything it made.
 *
 * Where it runs: as root, in a lab (src/lab): sender behind an easy NAT, receiver behind a hard
 * NAT, server on the lab's internet, each command in its own namespace; the connection goes relay
 * first, then direct. Without root, or with --loopback, over loopback in this process. The demo
 * says which one it runs and why.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sodium } from '../../crypto/sodium.js';
import { PunchlineError } from '../../errors.js';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { labAvailability } from '../../lab/availability.js';
import { Lab } from '../../lab/lab.js';
import { nodeArgv } from '../../lab/host-process.js';
import { parseSiteArg } from '../../lab/topology.js';
import { PunchlineServer } from '../../server/server.js';
import { receiveByCode, sendByCode, type CodeTransferResult, type PathKind } from '../../transfer/code-session.js';
import { buildManifest, offerTotals } from '../../transfer/manifest.js';
import { TransferReporter, formatBytes } from '../../transfer/reporter.js';
import { parseCommandLine } from '../args.js';

export const summary = 'send a generated 64 MiB tree by code (through two NATs in a lab as root), verify every file';

const HELP = `usage: punchline demo [--bytes 64M] [--loopback] [--timeout 300] [--json]

Generates a directory tree of --bytes (one large file, some medium ones, many small ones in
nested directories), then runs 'punchline send' and 'punchline receive' by code: mailbox by
nameplate at a rendezvous server, CPace code handshake, encrypted connection authenticated by the
code, files over parallel streams with BLAKE2b per chunk and per file. Shows the receiver's
progress and path, verifies every file against its source, and removes everything it created.

As root (Linux, network namespaces and nftables) it builds a lab: the sender behind an easy NAT,
the receiver behind a hard NAT (address-and-port-dependent mapping, random ports), the server on
the lab's internet, each command in its own namespace. The connection starts over the relay and
moves to a direct path once the NATs are punched; the path changes are shown. The lab is taken
down at the end. Otherwise (or with --loopback) sender, receiver and server run in this process
over loopback. It says which.

options:
  --bytes SIZE    size of the generated tree (default 64M; K, M, G suffixes)
  --loopback      skip the lab even as root
  --timeout S     give up after S seconds (default 300)
  --json          JSON lines on stderr (the receiver's events), summary on stdout as JSON
  -h, --help      this help
`;

const MiB = 1024 * 1024;
const MAX_TIMEOUT_S = 86_400;

function parseSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) return null;
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m[2] ?? '').toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Math.round(Number(m[1]) * unit);
}

/**
 * A tree of about `bytes`: half in one large file, a quarter in 1 MiB files, a quarter in 4 KiB
 * files spread over nested directories (the mix a transfer tool meets: one big, some medium, many small).
 */
export function generateTree(root: string, bytes: number): void {
  const large = Math.floor(bytes / 2);
  let left = bytes - large;
  mkdirSync(join(root, 'media'), { recursive: true });
  writeFileSync(join(root, 'media', 'large.bin'), randomBytes(large));
  let i = 0;
  while (left > bytes / 4 && left >= MiB) {
    writeFileSync(join(root, 'media', `medium-${String(i++).padStart(3, '0')}.bin`), randomBytes(MiB));
    left -= MiB;
  }
  let n = 0;
  while (left > 0) {
    const dir = join(root, 'src', `module-${Math.floor(n / 50)}`, n % 2 === 0 ? 'lib' : 'test');
    mkdirSync(dir, { recursive: true });
    const size = Math.min(left, 4096);
    writeFileSync(join(dir, `file-${n}.txt`), randomBytes(size));
    left -= size;
    n++;
  }
}

function blake2b(path: string): Buffer {
  const out = Buffer.alloc(32);
  sodium.crypto_generichash(out, readFileSync(path));
  return out;
}

/** The CLI entry (dist/cli/main.js, or src/cli/main.ts under a TypeScript loader). */
function cliPath(): string {
  const js = fileURLToPath(new URL('../main.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('../main.ts', import.meta.url));
}

/** JSON events a lab process prints on stderr, as they come. */
function events(child: NodeJS.ReadableStream, on: (event: Record<string, unknown>) => void): void {
  createInterface({ input: child }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    try {
      on(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not an event
    }
  });
}

/** `punchline send` on snd-host1 and `punchline receive` on rcv-host1, the receiver's events shown here. */
async function runInLab(
  lab: Lab,
  src: string,
  out: string,
  reporter: TransferReporter,
  say: (text: string) => void,
  signal: AbortSignal,
): Promise<CodeTransferResult> {
  const env = { PUNCHLINE_SERVER: lab.serverAddress ?? '' };
  const sender = lab.spawn('snd-host1', nodeArgv(cliPath(), ['send', src, '--json']), { env });
  const code = await new Promise<string>((resolve, reject) => {
    events(sender.child.stderr!, (e) => {
      if (e['event'] === 'code') resolve(String(e['code']));
      if (e['event'] === 'error') reject(new Error(`send: ${String(e['message'])}`));
    });
    void sender.exited.then((r) => reject(new Error(`send exited (${r.code}): ${r.stderr.trim().slice(-300)}`)));
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  say(`snd-host1$ punchline send ${src}\n${code}\nrcv-host1$ punchline receive ${code} --out ${out} --yes`);
  const receiver = lab.spawn('rcv-host1', nodeArgv(cliPath(), ['receive', code, '--out', out, '--yes', '--json']), {
    env,
  });
  const onAbort = (): void => {
    sender.child.kill('SIGKILL');
    receiver.child.kill('SIGKILL');
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    let done: Record<string, unknown> | null = null;
    let failure = '';
    events(receiver.child.stderr!, (e) => {
      if (e['event'] === 'connected') reporter.connected(e['path'] as PathKind);
      else if (e['event'] === 'path') reporter.pathChanged(e['path'] as PathKind);
      else if (e['event'] === 'progress') {
        reporter.progress({
          bytes: Number(e['bytes']),
          totalBytes: Number(e['totalBytes']),
          bytesTransferred: Number(e['bytesTransferred']),
          files: 0,
        });
      } else if (e['event'] === 'done') done = e;
      else if (e['event'] === 'error') failure = String(e['message']);
    });
    const [receiverExit, senderExit] = await Promise.all([receiver.exited, sender.exited]);
    const result = done as Record<string, unknown> | null;
    if (receiverExit.code !== 0 || !result) {
      throw new Error(`receive failed: ${failure || receiverExit.stderr.trim().slice(-300)}`);
    }
    if (senderExit.code !== 0) throw new Error(`send failed: ${senderExit.stderr.trim().slice(-300)}`);
    return {
      files: Number(result['files']),
      bytes: Number(result['bytes']),
      bytesTransferred: Number(result['bytesTransferred']),
      seconds: Number(result['seconds']),
      path: result['path'] as PathKind,
    };
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine('demo', HELP, {
    args: argv,
    options: {
      bytes: { type: 'string', default: '64M' },
      timeout: { type: 'string', default: '300' },
      json: { type: 'boolean', default: false },
      loopback: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const bytes = parseSize(values.bytes);
  if (bytes === null || bytes < 1 || bytes > 64 * 1024 ** 3) {
    process.stderr.write(
      `punchline demo: --bytes must be a size from 1 to 64G, e.g. 64M, got '${values.bytes}'\n${HELP}`,
    );
    return 2;
  }
  const timeoutS = Number(values.timeout);
  if (!(timeoutS > 0 && timeoutS <= MAX_TIMEOUT_S)) {
    process.stderr.write(`punchline demo: --timeout must be more than 0 and at most ${MAX_TIMEOUT_S} s\n${HELP}`);
    return 2;
  }
  const say = (text: string): void => {
    if (!values.json) process.stdout.write(`${text}\n`);
  };

  const availability = values.loopback ? { available: false, reason: '--loopback' } : await labAvailability();
  const work = mkdtempSync(join(tmpdir(), 'punchline-demo-'));
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`demo did not finish within ${timeoutS} s`)),
    timeoutS * 1000,
  );
  let server: PunchlineServer | null = null;
  let lab: Lab | null = null;
  try {
    const src = join(work, 'send', 'demo-tree');
    const out = join(work, 'received');
    generateTree(src, bytes);
    const entries = buildManifest([src]);
    const totals = offerTotals(entries);
    say(`generated ${totals.files} files in ${totals.dirs} directories, ${formatBytes(totals.bytes)}`);
    const reporter = new TransferReporter({ json: values.json, verb: 'received' });

    let received: CodeTransferResult;
    if (availability.available) {
      say(
        'lab: sender behind an easy NAT (snd: endpoint-independent mapping), receiver behind a hard NAT ' +
          '(rcv: address-and-port-dependent mapping, random ports), punchline server on the lab internet ' +
          '(network namespaces, nftables); the connection starts relayed and moves to a direct path once punched',
      );
      lab = await Lab.up(
        { name: `demo-${process.pid}`, sites: [parseSiteArg('snd:easy'), parseSiteArg('rcv:hard')] },
        { server: true },
      );
      say(`server ${lab.serverAddress}`);
      received = await runInLab(lab, src, out, reporter, say, controller.signal);
    } else {
      say(`running over loopback with a local server (${availability.reason})`);
      server = await PunchlineServer.start({
        host: '127.0.0.1',
        udpPort: 0,
        port: 0,
        metricsPort: null,
        dataDir: join(work, 'server'),
      });
      const serverOptions = { server: server.info.address };
      say(`server ${serverOptions.server}`);
      let resolveCode: (code: string) => void = () => undefined;
      const codeReady = new Promise<string>((resolve) => (resolveCode = resolve));
      const sending = sendByCode({
        ...serverOptions,
        host: '127.0.0.1',
        entries,
        onCode: resolveCode,
        signal: controller.signal,
      });
      sending.catch(() => undefined);
      const code = await codeReady;
      say(`$ punchline send ${src}\n${code}\n$ punchline receive ${code} --out ${out} --yes`);
      received = await receiveByCode({
        ...serverOptions,
        host: '127.0.0.1',
        code,
        out,
        onConnected: (path) => reporter.connected(path),
        onProgress: (progress) => reporter.progress(progress),
        signal: controller.signal,
      });
      await sending;
    }
    reporter.done(received);

    let verified = 0;
    for (const entry of entries) {
      if (entry.kind !== 'file') continue;
      const target = join(out, entry.path);
      if (!blake2b(entry.source).equals(blake2b(target))) {
        process.stderr.write(`punchline demo: ${entry.path} differs after the transfer\n`);
        return 1;
      }
      verified++;
    }
    const rate = (received.bytesTransferred * 8) / received.seconds / 1e6;
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ files: received.files, bytes: received.bytes, verified, seconds: received.seconds, mbitPerSecond: Math.round(rate), path: received.path })}\n`,
      );
    } else {
      say(`verified all ${verified} files against their source (BLAKE2b): ${rate.toFixed(0)} Mbit/s, ${received.path}`);
    }
    return 0;
  } catch (error) {
    process.stderr.write(
      `punchline demo: ${(error as Error).message}${error instanceof PunchlineError ? ` (${error.code})` : ''}\n`,
    );
    return 1;
  } finally {
    clearTimeout(timer);
    await server?.close();
    await lab?.down();
    rmSync(work, { recursive: true, force: true });
  }
}
