/**
 * Lab lifecycle: up creates exactly the planned namespaces, down leaves `ip netns list` as before,
 * a crashed owner's lab is removed by Lab.cleanupStale(), a normal exit without down() cleans up,
 * and the CLI works from fresh processes (state file).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import { nodeArgv } from '../../src/lab/host-process.js';
import { listNamespaces } from '../../src/lab/namespaces.js';
import { readState } from '../../src/lab/state.js';
import { labAvailable, labName, reportSkip } from './helpers.js';

const run = promisify(execFile);
reportSkip('lifecycle.test.ts');

// A private state directory: other test files' Lab.cleanupStale() must not see this file's crashes.
const stateDir = mkdtempSync(join(tmpdir(), 'punchline-lab-test-'));
process.env['PUNCHLINE_LAB_STATE_DIR'] = stateDir;
const env = { ...process.env, PUNCHLINE_LAB_STATE_DIR: stateDir };
const fixture = new URL('./fixtures/up-and-die.ts', import.meta.url).pathname;
const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;

async function mine(prefix: string): Promise<string[]> {
  return (await listNamespaces()).filter((ns) => ns.startsWith(`${prefix}-`));
}

/**
 * Namespaces that existed before and are not lab-like (`pl...`): they must survive every `down`.
 * (Other test files' labs and benchmarks come and go in parallel, so only these are compared.)
 */
async function expectUntouched(before: readonly string[]): Promise<void> {
  const now = new Set(await listNamespaces());
  expect(before.filter((ns) => !ns.startsWith('pl') && !now.has(ns))).toEqual([]);
}

describe.skipIf(!labAvailable)('lab lifecycle', () => {
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it('up creates the planned namespaces; down restores ip netns list exactly', async () => {
    const before = await listNamespaces();
    const rootForwarding = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const lab = await Lab.up({
      name: labName('life'),
      sites: [
        { name: 'a', profile: 'easy' },
        { name: 'c', profile: 'cgnat' },
      ],
      servers: 1,
    });
    try {
      expect((await mine(lab.prefix)).sort()).toEqual(
        lab
          .nodes()
          .map((n) => n.ns)
          .sort(),
      );
      expect(readState(lab.name)?.ready).toBe(true);
      const ping = await lab.run('c-host1', ['ip', 'route', 'get', '192.0.2.10']);
      expect(ping.stdout).toContain('via 192.168.2.1');
      // The root namespace never sees a lab interface.
      const { stdout } = await run('ip', ['-br', 'link']);
      expect(stdout).not.toMatch(/\b(br0|wan|lan|srv1|site0)\b/);
      // Forwarding is on inside the lab's routers only, never in the root namespace.
      expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(rootForwarding);
      expect((await lab.run('a-router', ['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim()).toBe('1');
      expect((await lab.run('a-host1', ['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim()).toBe('0');
    } finally {
      await lab.down();
    }
    expect(await mine(lab.prefix)).toEqual([]);
    await expectUntouched(before);
    expect(readState(lab.name)).toBeUndefined();
    await lab.down(); // idempotent
  });

  it('refuses a second lab with the same name', async () => {
    const lab = await Lab.up({ name: labName('dup'), sites: [], servers: 1 });
    try {
      await expect(Lab.up({ name: lab.name, sites: [], servers: 1 })).rejects.toMatchObject({
        code: 'ERR_PUNCHLINE_LAB_EXISTS',
      });
    } finally {
      await lab.down();
    }
  });

  it('cleanupStale removes the lab of an owner killed with SIGKILL', async () => {
    const name = labName('crash');
    const [file, ...args] = nodeArgv(fixture, [name, 'kill']);
    const result = await run(file!, args, { env }).catch((error: { stdout: string }) => error);
    const prefix = /up (pl[0-9a-f]{4})/.exec(result.stdout)?.[1];
    expect(prefix).toBeDefined();
    expect((await mine(prefix!)).length).toBe(4);
    expect(readState(name)).toBeDefined();
    expect(await Lab.cleanupStale()).toEqual([name]);
    expect(await mine(prefix!)).toEqual([]);
    expect(readState(name)).toBeUndefined();
  });

  it('a process that exits without down() still removes its lab', async () => {
    const name = labName('exit');
    const [file, ...args] = nodeArgv(fixture, [name, 'exit']);
    const { stdout } = await run(file!, args, { env });
    const prefix = /up (pl[0-9a-f]{4})/.exec(stdout)?.[1];
    expect(prefix).toBeDefined();
    expect(await mine(prefix!)).toEqual([]);
    expect(readState(name)).toBeUndefined();
  });

  it('SIGTERM without a handler of its own removes the lab and still kills the process', async () => {
    const name = labName('term');
    const [file, ...args] = nodeArgv(fixture, [name, 'term']);
    const result = await run(file!, args, { env }).then(
      (ok) => ({ ...ok, signal: null as string | null }),
      (error: { stdout: string; signal: string | null }) => error,
    );
    expect(result.signal).toBe('SIGTERM');
    const prefix = /up (pl[0-9a-f]{4})/.exec(result.stdout)?.[1];
    expect(prefix).toBeDefined();
    expect(await mine(prefix!)).toEqual([]);
    expect(readState(name)).toBeUndefined();
  });

  describe('CLI', () => {
    const name = labName('cli');
    const cliArgv = (...args: string[]): [string, string[]] => {
      const [file, ...rest] = nodeArgv(cli, args);
      return [file!, rest];
    };
    let before: string[] = [];
    beforeAll(async () => {
      before = await listNamespaces();
    });

    it('up, run in a host from a new process, status, down', async () => {
      const up = await run(...cliArgv('lab', 'up', '--name', name, '--site', 'a:easy', '--site', 'b:hard'), { env });
      expect(up.stdout).toMatch(/b-host1\s+host \(hard\)\s+192\.168\.2\.11/);
      expect(up.stdout).toContain('server1');
      const prefix = /namespaces (pl[0-9a-f]{4})-/.exec(up.stdout)?.[1] ?? 'missing';
      try {
        // Output and exit status of the command come back through `lab run`.
        const inHost = await run(
          ...cliArgv('lab', 'run', '--name', name, 'b-host1', '--', 'sh', '-c', 'ip -4 -br addr show eth0; exit 7'),
          { env },
        ).then(
          () => ({ code: 0, stdout: '' }),
          (e: { code: number; stdout: string }) => e,
        );
        expect(inHost.stdout).toContain('192.168.2.11/24');
        expect(inHost.code).toBe(7);
        const status = await run(...cliArgv('lab', 'status', name), { env });
        expect(status.stdout).toContain('a-router');
      } finally {
        const down = await run(...cliArgv('lab', 'down', name), { env });
        expect(down.stdout).toContain('is down');
      }
      expect(await mine(prefix)).toEqual([]);
      await expectUntouched(before);
    });

    it('reports unknown hosts with a stable code', async () => {
      const result = await run(...cliArgv('lab', 'run', '--name', 'no-such-lab', 'x', '--', 'true'), { env }).catch(
        (e: { stderr: string }) => e,
      );
      expect(result.stderr).toContain('ERR_PUNCHLINE_LAB_NOT_FOUND');
    });
  });
});
