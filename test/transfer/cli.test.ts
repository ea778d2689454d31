/**
 * `punchline send` / `punchline receive` in-process against a loopback server: the --json events the
 * spec lists (code first, progress, done with files/bytes/bytesTransferred/path), exit codes 0/1/2.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import * as receive from '../../src/cli/commands/receive.js';
import * as send from '../../src/cli/commands/send.js';
import { PunchlineServer } from '../../src/server/server.js';

let server: PunchlineServer;
let dir: string;
const saved = { ...process.env };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'punchline-cli-transfer-'));
  server = await PunchlineServer.start({
    host: '127.0.0.1',
    udpPort: 0,
    port: 0,
    metricsPort: null,
    dataDir: join(dir, 'server'),
  });
  process.env['PUNCHLINE_SERVER'] = server.info.address;
});

afterAll(async () => {
  process.env = saved;
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

let stderr: string[];
let stdout: string[];
beforeEach(() => {
  stderr = [];
  stdout = [];
  vi.spyOn(process.stderr, 'write').mockImplementation(
    (chunk: string | Uint8Array) => (stderr.push(String(chunk)), true),
  );
  vi.spyOn(process.stdout, 'write').mockImplementation(
    (chunk: string | Uint8Array) => (stdout.push(String(chunk)), true),
  );
});
afterEach(() => vi.restoreAllMocks());

function events(): Record<string, unknown>[] {
  return stderr
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function codeFromEvents(): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const code = events().find((e) => e['event'] === 'code');
    if (code) return String(code['code']);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('no code event');
}

describe('punchline send / receive --json', () => {
  it('sends a directory; events code → progress → done; exit 0 both', async () => {
    const src = join(dir, 'tree');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'alpha');
    writeFileSync(join(src, 'sub', 'b.bin'), Buffer.alloc(200_000, 3));
    const sending = send.run([src, '--json']);
    const code = await codeFromEvents();
    expect(events()[0]).toMatchObject({ event: 'code', code, files: 2, bytes: 200_005 });
    const out = join(dir, 'out');
    expect(await receive.run([code, '--out', out, '--yes', '--json'])).toBe(0);
    expect(await sending).toBe(0);
    const done = events().filter((e) => e['event'] === 'done');
    expect(done).toHaveLength(2);
    for (const d of done) {
      expect(d).toMatchObject({ files: 2, bytes: 200_005, bytesTransferred: 200_005, path: 'direct' });
    }
    expect(events().some((e) => e['event'] === 'progress')).toBe(true);
    expect(readFileSync(join(out, 'tree', 'sub', 'b.bin')).length).toBe(200_000);
  });

  it('a used code: exit 1 with one error event', async () => {
    expect(await receive.run(['999999-acid-acorn', '--out', join(dir, 'never'), '--yes', '--json'])).toBe(1);
    const errors = events().filter((e) => e['event'] === 'error');
    expect(errors).toHaveLength(1);
    expect(String(errors[0]!['message'])).toMatch(/no transfer waits under that code/);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it.each([
    [send, []],
    [send, ['x', '--words', '4']],
    [send, ['x', '--streams', '0']],
    [send, ['x', '--bogus']],
    [receive, []],
    [receive, ['a', 'b']],
  ])('usage errors exit 2', async (command, argv) => {
    expect(await command.run(argv as string[])).toBe(2);
  });

  it('a bad code is exit 1 with a clear message', async () => {
    expect(await receive.run(['7-acid-xyzzy', '--yes'])).toBe(1);
    expect(stderr.join('')).toMatch(/'xyzzy' is not a word of the code list/);
  });
});
