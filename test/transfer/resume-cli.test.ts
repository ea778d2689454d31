/**
 * Resume through the real CLI (spec/transfer.md §Resume; issue: "interrupted (kill -9, Ctrl-C), the
 * same receive with the same output directory continues each partial file after verifying what is
 * already there; only the remainder crosses the network"). `receive` runs as its own process and is
 * interrupted by SIGINT (Ctrl-C) or SIGKILL once a quarter of the file has arrived (chunks still on
 * their way to the disk at that moment are lost with the process: whole verified chunks on disk are
 * what counts); a new `send` (the first code is spent) and a `receive` into the same --out then finish
 * the file, moving exactly what was not verified on disk.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PunchlineServer } from '../../src/server/server.js';
import { partialPath } from '../../src/transfer/partial-files.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** Large enough that the receiver is interrupted mid-file over loopback (progress events come ≤ 4/s). */
const SIZE = 160 * 1024 * 1024;

let server: PunchlineServer;
let dir: string;
let source: string;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'punchline-resume-cli-'));
  server = await PunchlineServer.start({
    host: '127.0.0.1',
    udpPort: 0,
    port: 0,
    metricsPort: null,
    dataDir: join(dir, 'server'),
  });
  source = join(dir, 'large.bin');
  const fd = openSync(source, 'w');
  const block = Buffer.allocUnsafe(4 * 1024 * 1024);
  for (let done = 0; done < SIZE; done += block.length) writeSync(fd, randomFillSync(block));
  closeSync(fd);
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
});

interface Proc {
  readonly child: ChildProcess;
  /** The first JSON event on stderr that `match` accepts. */
  next(match: (e: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function punchline(args: string[]): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PUNCHLINE_SERVER: server.info.address },
  });
  children.add(child);
  let stderr = '';
  const events: Record<string, unknown>[] = [];
  const listeners = new Set<() => void>();
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    const lines = stderr.split('\n');
    for (const line of lines.slice(events.length, lines.length - 1)) {
      try {
        events.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        events.push({ event: 'not-json', line });
      }
    }
    for (const listener of [...listeners]) listener();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return {
    child,
    exited,
    next: (match, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const found = events.find(match);
          if (!found) return;
          cleanup();
          resolve(found);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching event in ${timeoutMs} ms; stderr:\n${stderr}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
        void exited.then(() => setTimeout(check, 10));
      }),
  };
}

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('punchline receive resumes after an interruption', () => {
  for (const signal of ['SIGINT', 'SIGKILL'] as const) {
    it(`${signal === 'SIGINT' ? 'Ctrl-C' : 'kill -9'} mid-file: the next receive into the same --out moves only the rest`, async () => {
      const out = join(dir, `out-${signal}`);
      const target = join(out, 'large.bin');
      // First run, interrupted once some data (not all) has arrived.
      const sender1 = punchline(['send', source, '--json']);
      const code1 = String((await sender1.next((e) => e['event'] === 'code'))['code']);
      const receiver1 = punchline(['receive', code1, '--out', out, '--yes', '--json']);
      const progress = await receiver1.next((e) => e['event'] === 'progress' && Number(e['bytes']) > SIZE / 4);
      expect(Number(progress['bytes'])).toBeLessThan(SIZE);
      receiver1.child.kill(signal);
      const first = await receiver1.exited;
      if (signal === 'SIGINT') {
        // Ctrl-C: one error line (exit 1), and the connection closes, so the sender stops too, from
        // the receiver's CLOSE rather than its own idle timeout (30 s).
        expect(first.code).toBe(1);
        expect(first.stderr).toMatch(/"event":"error","code":"ERR_PUNCHLINE_INTERRUPTED"/);
        const sent = await Promise.race([
          sender1.exited,
          new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000)),
        ]);
        expect(sent?.code).toBe(1);
      } else {
        expect(first.signal).toBe('SIGKILL');
        sender1.child.kill('SIGKILL');
        await sender1.exited;
      }
      expect(existsSync(target)).toBe(false);
      const partial = partialPath(target);
      expect(existsSync(partial)).toBe(true);
      const kept = statSync(partial).size;

      // Second run: a new code (the first one is spent), the same --out.
      const sender2 = punchline(['send', source, '--json']);
      const code2 = String((await sender2.next((e) => e['event'] === 'code'))['code']);
      expect(code2).not.toBe(code1);
      const receiver2 = punchline(['receive', code2, '--out', out, '--yes', '--json']);
      const offer = await receiver2.next((e) => e['event'] === 'offer');
      const done = await receiver2.next((e) => e['event'] === 'done', 120_000);
      expect((await receiver2.exited).code).toBe(0);
      expect((await sender2.exited).code).toBe(0);
      expect(sha(target)).toBe(sha(source));
      expect(existsSync(partial)).toBe(false);
      // What was verified on disk did not cross the network again.
      const present = Number(offer['bytesPresent']);
      expect(present).toBeGreaterThan(0);
      expect(present).toBeLessThanOrEqual(kept);
      expect(Number(done['bytes'])).toBe(SIZE);
      expect(Number(done['bytesTransferred'])).toBe(SIZE - present);
    }, 180_000);
  }
});
