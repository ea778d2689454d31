/**
 * `Lab.up(spec, { server: true })` / `punchline lab up --server`: a `punchline server` on server1 with
 * its RFC 5780 alternate; hosts behind real NATs register with nothing but its address string.
 * Every lab subcommand takes --name the same way.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import { nodeArgv } from '../../src/lab/host-process.js';
import { LAB_SERVER_PORTS } from '../../src/lab/rendezvous-server.js';
import { parseServerAddress } from '../../src/traversal/rendezvous/server-address.js';
import { labAvailable, labName, reportSkip } from './helpers.js';

const run = promisify(execFile);
reportSkip('server.test.ts');

const stateDir = mkdtempSync(join(tmpdir(), 'punchline-lab-server-test-'));
const env = { ...process.env, PUNCHLINE_LAB_STATE_DIR: stateDir };
const fixture = new URL('./fixtures/register.ts', import.meta.url).pathname;
const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const cliArgv = (...args: string[]): [string, string[]] => {
  const [file, ...rest] = nodeArgv(cli, args);
  return [file!, rest];
};

describe.skipIf(!labAvailable)('lab with a punchline server', () => {
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it('serves hosts behind an easy and a hard NAT that know only the address string', async () => {
    const lab = await Lab.up(
      {
        name: labName('server'),
        sites: [
          { name: 'a', profile: 'easy' },
          { name: 'b', profile: 'hard' },
        ],
        servers: 1,
      },
      { server: true },
    );
    try {
      const address = parseServerAddress(lab.serverAddress!);
      expect(address.udp).toEqual({ host: '192.0.2.10', port: LAB_SERVER_PORTS.udp });
      expect(address.webTransportPort).toBe(LAB_SERVER_PORTS.webTransport);
      expect(address.alternate).toEqual({ host: '192.0.2.11', port: LAB_SERVER_PORTS.alternate });
      for (const site of ['a', 'b']) {
        const result = await lab.runNode(`${site}-host1`, fixture, [lab.serverAddress!], { timeoutMs: 30_000 });
        expect(result.code, result.stderr).toBe(0);
        const line = JSON.parse(result.stdout.trim()) as { observed: string; alternate: string | null };
        expect(line.observed).toBe(lab.site(site).publicAddress); // the server saw the NAT's address
        expect(line.alternate).toBe(`192.0.2.11:${LAB_SERVER_PORTS.alternate}`); // STUN answered there
      }
    } finally {
      await lab.down();
    }
  }, 90_000);

  it('CLI: up --server prints the address; status, run (PUNCHLINE_SERVER set) and down take --name', async () => {
    const name = labName('server-cli');
    const up = await run(...cliArgv('lab', 'up', '--name', name, '--site', 'a:easy', '--servers', '1', '--server'), {
      env,
    });
    try {
      const address = /punchline server on server1: (punchline:\/\/\S+)/.exec(up.stdout)?.[1];
      expect(address, up.stdout).toBeDefined();
      expect(parseServerAddress(address!).udp.host).toBe('192.0.2.10');
      const status = await run(...cliArgv('lab', 'status', '--name', name), { env });
      expect(status.stdout).toContain(address);
      const inHost = await run(
        ...cliArgv('lab', 'run', '--name', name, 'a-host1', '--', 'sh', '-c', 'echo "$PUNCHLINE_SERVER"'),
        {
          env,
        },
      );
      expect(inHost.stdout.trim()).toBe(address);
      // 'punchline' inside a host is this punchline.
      const version = await run(...cliArgv('lab', 'run', '--name', name, 'a-host1', '--', 'punchline', '--version'), {
        env,
      });
      expect(version.stdout).toMatch(/^punchline \d+\.\d+\.\d+/);
      const check = await run(...cliArgv('lab', 'check', '--name', name), { env });
      expect(check.stdout).toMatch(/^a\s+easy.*ok$/m); // the self-check's probe ports do not clash
    } finally {
      const down = await run(...cliArgv('lab', 'down', '--name', name), { env });
      expect(down.stdout).toContain('is down');
    }
  }, 120_000);

  it('CLI: a bad flag on any subcommand is one line and exit 2', async () => {
    for (const sub of ['status', 'check', 'down', 'up']) {
      const result = await run(...cliArgv('lab', sub, '--bogus'), { env }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
