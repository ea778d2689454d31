/**
 * Mapped candidates end to end: a peer behind a hard NAT whose router grants a port mapping
 * (portmap/hard) and a peer behind a plain hard NAT connect by public key through the lab's
 * server; the mapping (published to the endpoint's traversal as its mapped candidate) gives them a
 * direct path where hard ↔ hard alone stays on the relay.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostProcess } from '../../src/lab/host-process.js';
import { Lab } from '../../src/lab/lab.js';
import { miniupnpdMappings } from '../../src/lab/portmap.js';
import { labAvailable, labName, reportSkip, LabGuard } from './helpers.js';

reportSkip('portmap-direct.test.ts');

const PEER = fileURLToPath(new URL('./fixtures/portmap-peer.ts', import.meta.url));

describe.skipIf(!labAvailable)('a port-mapped peer and a hard-NAT peer connect directly', { timeout: 120_000 }, () => {
  let lab: Lab;
  const labs = new LabGuard();
  let listener: HostProcess;
  let key: string;
  let mapped: { external: { host: string; port: number } };

  beforeAll(async () => {
    lab = await labs.track(
      Lab.up(
        {
          name: labName('pm-direct'),
          servers: 1,
          sites: [
            { name: 'pm', profile: 'portmap', variant: 'hard' },
            { name: 'h', profile: 'hard' },
          ],
        },
        { server: true },
      ),
    );
    listener = lab.spawnNode('pm-host1', PEER, ['--role', 'listen', '--server', lab.serverAddress!]);
    const line = JSON.parse(await listener.waitForLine(/"listening"/, 30_000)) as {
      listening: string;
      mapping: { external: { host: string; port: number } } | null;
    };
    key = line.listening;
    expect(line.mapping).not.toBeNull();
    mapped = line.mapping!;
  }, 120_000);

  afterAll(async () => {
    try {
      await listener?.kill('SIGTERM', 8000);
    } finally {
      await labs.down();
    }
  });

  it('hard → portmap/hard: the path ends direct, to the mapped address', async () => {
    expect(mapped.external.host).toBe(lab.site('pm').publicAddress);
    const run = await lab.runNode(
      'h-host1',
      PEER,
      ['--role', 'connect', '--server', lab.serverAddress!, '--peer', key],
      {
        timeoutMs: 90_000,
      },
    );
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    const result = JSON.parse(run.stdout.split('\n').find((l) => l.includes('"reply"'))!) as {
      reply: string;
      path: string;
      remote: { host: string; port: number };
      paths: string[];
    };
    console.log(
      `[portmap] hard → portmap/hard: ${result.paths.join(' → ')}, remote ${result.remote.host}:${result.remote.port}`,
    );
    expect(result.reply).toBe('PING');
    expect(result.path).toBe('direct');
    expect(result.remote).toEqual(mapped.external);
  });

  it('portmap/hard → hard: the mapped side dials, and the path ends direct too', async () => {
    const hard = lab.spawnNode('h-host1', PEER, ['--role', 'listen', '--server', lab.serverAddress!]);
    try {
      const line = JSON.parse(await hard.waitForLine(/"listening"/, 30_000)) as { listening: string; mapping: unknown };
      expect(line.mapping).toBeNull(); // no port mapping behind the plain hard NAT
      const run = await lab.runNode(
        'pm-host1',
        PEER,
        ['--role', 'connect', '--server', lab.serverAddress!, '--peer', line.listening, '--map'],
        { timeoutMs: 90_000 },
      );
      expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
      const result = JSON.parse(run.stdout.split('\n').find((l) => l.includes('"reply"'))!) as {
        reply: string;
        path: string;
        paths: string[];
      };
      console.log(`[portmap] portmap/hard → hard: ${result.paths.join(' → ')}`);
      expect(result.reply).toBe('PING');
      expect(result.path).toBe('direct');
    } finally {
      await hard.kill('SIGTERM', 8000);
    }
  });

  it('the mapping is gone from the router once the listener closes', async () => {
    await listener.kill('SIGTERM', 8000);
    expect(await miniupnpdMappings(lab, 'pm')).toEqual([]);
  });
});
