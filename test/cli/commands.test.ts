/** CLI commands in-process: identity round trip, bad identity files and bad flags give typed errors / exit 2. */
import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as keygen from '../../src/cli/commands/keygen.js';
import * as id from '../../src/cli/commands/id.js';
import * as natCheck from '../../src/cli/commands/nat-check.js';
import * as stunServer from '../../src/cli/commands/stun-server.js';
import { PunchlineError } from '../../src/errors.js';

let dir: string;
let out: string[];
let err: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'punchline-cli-'));
  out = [];
  err = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true));
});

afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

describe('punchline keygen / id', () => {
  it('id prints the public key keygen wrote', async () => {
    const path = join(dir, 'identity');
    expect(await keygen.run(['--out', path])).toBe(0);
    const name = out.join('').trim();
    expect(name).toMatch(/^[a-z0-9]{52}$/);
    out.length = 0;
    expect(await id.run(['--key', path])).toBe(0);
    expect(out.join('').trim()).toBe(name);
  });

  it('keygen refuses to replace an identity without --force and leaves it intact', async () => {
    const path = join(dir, 'identity');
    expect(await keygen.run(['--out', path])).toBe(0);
    const before = await readFile(path, 'utf8');
    await expect(keygen.run(['--out', path])).rejects.toMatchObject({ code: 'ERR_PUNCHLINE_CRYPTO_IDENTITY_EXISTS' });
    expect(await readFile(path, 'utf8')).toBe(before);
    expect(await keygen.run(['--out', path, '--force'])).toBe(0);
    expect(await readFile(path, 'utf8')).not.toBe(before);
  });

  it('id rejects a missing or malformed identity file with a PunchlineError', async () => {
    const missing = await id.run(['--key', join(dir, 'nope')]).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(PunchlineError);
    const bad = join(dir, 'bad');
    await writeFile(bad, 'not an identity\n', { mode: 0o600 });
    const malformed = await id.run(['--key', bad]).catch((e: unknown) => e);
    expect(malformed).toBeInstanceOf(PunchlineError);
    expect((malformed as PunchlineError).code).toMatch(/^ERR_PUNCHLINE_/);
    expect(out).toEqual([]);
  });

  it('bad flags exit 2 with one line on stderr that points to --help', async () => {
    expect(await id.run(['--bogus'])).toBe(2);
    expect(await id.run(['extra-positional'])).toBe(2);
    expect(await keygen.run(['--out'])).toBe(2);
    expect(err).toHaveLength(3);
    for (const line of err)
      expect(line).toMatch(/^punchline (id|keygen): .+ \(see 'punchline (id|keygen) --help'\)\n$/);
  });
});

describe('punchline nat-check / stun-server flags', () => {
  it.each([
    [[] as string[]],
    [['--server', '127.0.0.1:70000']],
    [['--server', '127.0.0.1:x']],
    [['--server', '127.0.0.1', '--rto', '5']],
    [['--server', '127.0.0.1', '--lifetime-max', 'abc']],
  ])('nat-check %j exits 2', async (argv) => {
    expect(await natCheck.run(argv)).toBe(2);
  });

  it.each([[['--port', '70000']], [['--port', '-1']], [['--rate', '0']], [['--alt-port', '3479']]])(
    'stun-server %j exits 2',
    async (argv) => {
      expect(await stunServer.run(argv)).toBe(2);
    },
  );
});

describe('punchline demo flags', () => {
  it.each([
    [['--streams', '0']],
    [['--streams', '1.5']],
    [['--bytes=abc']],
    [['--bytes', '2', '--streams', '4']],
    [['--timeout', '1e10']],
    [['--timeout', '0']],
    [['--bogus', '1']],
    [['positional']],
    [['--bytes']],
  ])('demo %j exits 2 before starting anything', async (argv) => {
    const demo = await import('../../src/cli/commands/demo.js');
    expect(await demo.run(argv)).toBe(2);
    expect(out).toEqual([]);
  });

  it('demo --help prints the usage to stdout and exits 0', async () => {
    const demo = await import('../../src/cli/commands/demo.js');
    expect(await demo.run(['--help'])).toBe(0);
    expect(out.join('')).toContain('usage: punchline demo');
  });
});

describe('punchline lab flags', () => {
  it.each([
    [['up', '--bogus']],
    [['up']],
    [['up', '--site', 'nocolon']],
    [['up', '--site', 'a:easy,hairpin=maybe']],
    [['up', '--site', 'a:easy', '--loss', 'lots']],
    [['down', '--bogus']],
    [['frobnicate']],
  ])('lab %j is a usage error (exit 2) and creates nothing', async (argv) => {
    const lab = await import('../../src/cli/commands/lab.js');
    expect(await lab.run(argv)).toBe(2);
    expect(out).toEqual([]);
  });
});
