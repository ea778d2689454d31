/**
 * `punchline server` in the NAT lab (src/lab): the server on server1, a peer behind a udp-blocked
 * site and a peer behind a hard (symmetric) NAT. The udp-blocked peer cannot reach the server over
 * UDP, registers over WebTransport (TCP), and exchanges datagrams with the other peer through the
 * stream relay (her leg) and the UDP relay (his leg, bound through his NAT). Needs root and network
 * namespaces; skips with the reason otherwise.
 */
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailability, type HostProcess } from '../../src/lab/index.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { LabGuard } from '../lab/helpers.js';

const availability = await labAvailability();
if (!availability.available) console.warn(`skipping server lab test: ${availability.reason}`);

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const PEER = fileURLToPath(new URL('./fixtures/lab-peer.ts', import.meta.url));

describe.skipIf(!availability.available)('punchline server in the NAT lab', () => {
  let lab: Lab;
  const labs = new LabGuard();
  let server: HostProcess;
  let dataDir: string;
  let listening: { url: string; udp: string; publicKey: string; certificateSha256: string };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'punchline-lab-server-'));
    lab = await labs.track(
      Lab.up({
        name: `srv-${process.pid}`,
        sites: [
          { name: 'u', profile: 'udp-blocked' },
          { name: 'h', profile: 'hard' },
        ],
        servers: 1,
      }),
    );
    const address = lab.host('server1').addresses[0]!;
    server = lab.spawnNode('server1', CLI, [
      'server',
      '--host',
      address,
      '--udp-port',
      '3478',
      '--port',
      '4433',
      '--metrics-port',
      'off',
      '--data-dir',
      dataDir,
    ]);
    const line = await server.waitForLine(/"msg":"server listening"/, 30_000);
    listening = JSON.parse(line) as typeof listening;
  }, 120_000);

  afterAll(async () => {
    try {
      await server?.kill();
    } finally {
      await labs.down();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a udp-blocked peer reaches a peer behind a hard NAT through the stream relay', async () => {
    const alice = generateKeyPair();
    const bob = generateKeyPair();
    const common = [
      '--url',
      listening.url,
      '--hash',
      listening.certificateSha256,
      '--server-key',
      listening.publicKey,
      '--udp',
      listening.udp,
    ];
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    const bobProcess = lab.spawnNode(lab.site('h').hosts[0]!.name, PEER, [
      '--role',
      'bob',
      '--secret',
      hex(bob.secretKey),
      '--peer',
      hex(alice.publicKey),
      ...common,
    ]);
    try {
      const bobUdp = JSON.parse(await bobProcess.waitForLine(/"udp":/, 30_000)) as {
        udp: string;
        observed?: { host: string };
      };
      expect(bobUdp.udp).toBe('ok');
      expect(bobUdp.observed?.host).toBe(lab.site('h').publicAddress); // his NAT's public address
      const aliceRun = await lab.runNode(
        lab.site('u').hosts[0]!.name,
        PEER,
        [
          '--role',
          'alice',
          '--secret',
          hex(alice.secretKey),
          '--peer',
          hex(bob.publicKey),
          '--count',
          '200',
          ...common,
        ],
        {
          timeoutMs: 60_000,
        },
      );
      const lines = aliceRun.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toContainEqual({ udp: 'blocked' }); // the site really blocks UDP
      const result = lines.find((l) => 'echoed' in l);
      console.log(`[lab] udp-blocked ↔ hard NAT via stream+UDP relay: ${JSON.stringify(result)}`);
      expect(result).toMatchObject({ sent: 200, echoed: 200 });
      expect(aliceRun.code, aliceRun.stderr).toBe(0);
      expect(JSON.parse(await bobProcess.waitForLine(/"bound":/, 5000))).toMatchObject({
        bound: { host: lab.site('h').publicAddress },
      });
    } finally {
      await bobProcess.kill();
    }
  }, 120_000);
});
