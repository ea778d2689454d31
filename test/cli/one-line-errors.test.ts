/**
 * Failures a user can reach from the command line end with one line on stderr and exit 1 — never a
 * stack trace, never a hang: an unwritable or uncreatable path, a non-root `lab status`, a demo
 * whose --timeout expires. Runs the real entry point (src/cli/main.ts) in a child process.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function cli(args: string[], prefix: string[] = []): { status: number | null; stderr: string; ms: number } {
  const started = Date.now();
  const [command, ...rest] = [...prefix, process.execPath, '--import', 'tsx', MAIN, ...args];
  const r = spawnSync(command!, rest, { encoding: 'utf8', timeout: 45_000, killSignal: 'SIGKILL' });
  return { status: r.status, stderr: r.stderr, ms: Date.now() - started };
}

function expectOneLineError(r: { status: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.status).toBe(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  const lines = r.stderr.trim().split('\n');
  expect(lines.at(-1)).toMatch(pattern);
  expect(lines.filter((l) => l.startsWith('punchline'))).toHaveLength(1);
}

const root = process.getuid?.() === 0;

describe('one-line CLI errors', () => {
  it('keygen --out under a directory that cannot be created', () => {
    expectOneLineError(cli(['keygen', '--out', '/proc/punchline-nonexistent/identity']), /^punchline: ENOENT.*mkdir/);
  });

  it.skipIf(!root)('keygen --out to an unwritable place', () => {
    expectOneLineError(cli(['keygen', '--out', '/sys/punchline-identity']), /^punchline: EACCES/);
  });

  it('server --data-dir that cannot be created fails at once instead of spinning', () => {
    const r = cli(['server', '--data-dir', '/proc/punchline-x/y', '--port', '0', '--udp-port', '0']);
    expectOneLineError(r, /^punchline: ENOENT.*mkdir/);
    expect(r.ms).toBeLessThan(30_000);
  });

  it.skipIf(!root || !existsSync('/usr/bin/setpriv'))('lab status as a user that is not root', () => {
    const r = cli(['lab', 'status'], ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
    expectOneLineError(r, /needs root/);
  });

  it('demo whose --timeout expires', () => {
    const r = cli(['demo', '--loopback', '--bytes', '256M', '--timeout', '1']);
    expectOneLineError(r, /^punchline demo: failed: transfer did not finish within 1 s$/);
  });
});
