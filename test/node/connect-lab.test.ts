/**
 * Connecting by public key between real Linux NATs (src/lab): a `punchline server` with its two
 * addresses on server1, peers behind easy (endpoint-independent mapping) and hard (symmetric,
 * random ports) NATs and two hosts of one site. Each pair opens a stream through
 * `Endpoint.connect(publicKey)` and checks the bytes by hash; easy ↔ easy and same-site end direct
 * by simultaneous open / host candidates, easy ↔ hard ends direct by the birthday search, hard ↔ hard
 * stays on the UDP relay, and a UDP-blocked peer uses the stream relay. Needs root and network namespaces; skips with the reason otherwise.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailability, type HostProcess } from '../../src/lab/index.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { encodePublicKey } from '../../src/crypto/key-text.js';
import { LabGuard } from '../lab/helpers.js';

const availability = await labAvailability();
if (!availability.available) console.warn(`skipping connect-by-key lab test: ${availability.reason}`);

const PEER = fileURLToPath(new URL('./fixtures/lab-punch-peer.ts', import.meta.url));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

interface Result {
  sent: string;
  path: string;
  remote: { host: string; port: number };
  paths: string[];
  stats: { timeToFirstByteMs: number; timeToDirectMs: number | null; probesSent: number };
}

describe.skipIf(!availability.available)('connect by public key across lab NATs', () => {
  let lab: Lab;
  const labs = new LabGuard();
  let address: string;
  const listeners = new Map<string, { process: HostProcess; key: string }>();

  beforeAll(async () => {
    lab = await labs.track(
      Lab.up(
        {
          name: `pa-${process.pid}`,
          sites: [
            { name: 'a', profile: 'easy', hosts: 2 },
            { name: 'b', profile: 'easy' },
            { name: 'c', profile: 'hard' },
            { name: 'd', profile: 'hard' },
            { name: 'u', profile: 'udp-blocked', hosts: 2 },
            { name: 'g', profile: 'cgnat', variant: 'hard' },
            { name: 'f', profile: 'firewall' },
            { name: 'p', profile: 'portmap', variant: 'hard' },
          ],
          servers: 1,
        },
        { server: true },
      ),
    );
    address = lab.serverAddress!;
  }, 120_000);

  afterAll(async () => {
    await labs.down();
  }, 60_000);

  async function listener(host: string, extra: string[] = []): Promise<{ process: HostProcess; key: string }> {
    const existing = listeners.get(host);
    if (existing) return existing;
    const keys = generateKeyPair();
    const process = lab.spawnNode(host, PEER, [
      '--role',
      'listen',
      '--server',
      address,
      '--secret',
      hex(keys.secretKey),
      ...extra,
    ]);
    await process.waitForLine(/"listening"/, 30_000);
    const entry = { process, key: encodePublicKey(keys.publicKey) };
    listeners.set(host, entry);
    return entry;
  }

  async function connect(from: string, to: string, waitDirectMs: number): Promise<Result> {
    const target = await listener(to);
    const before = target.process.stdout.split('\n').filter((l) => l.includes('"received"')).length;
    const keys = generateKeyPair();
    const run = await lab.runNode(
      from,
      PEER,
      [
        '--role',
        'connect',
        '--server',
        address,
        '--secret',
        hex(keys.secretKey),
        '--peer',
        target.key,
        '--wait-direct-ms',
        String(waitDirectMs),
      ],
      { timeoutMs: 90_000 },
    );
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    const result = JSON.parse(run.stdout.split('\n').find((l) => l.includes('"sent"'))!) as Result;
    const received = target.process.stdout.split('\n').filter((l) => l.includes('"received"'));
    expect(received.length, target.process.stderr).toBe(before + 1);
    const got = JSON.parse(received.at(-1)!) as { received: string; bytes: number; path: string };
    expect(got.received).toBe(result.sent);
    expect(got.bytes).toBe(4 * 1024 * 1024);
    console.log(
      `[lab] ${from} → ${to}: ${result.paths.join(' → ')} ttfb ${Math.round(result.stats.timeToFirstByteMs)} ms, ` +
        `direct after ${result.stats.timeToDirectMs === null ? '-' : Math.round(result.stats.timeToDirectMs)} ms, ` +
        `${result.stats.probesSent} probes`,
    );
    return result;
  }

  it('easy ↔ easy: relay first, then direct by simultaneous open', async () => {
    const r = await connect(lab.site('a').hosts[0]!.name, lab.site('b').hosts[0]!.name, 20_000);
    expect(r.path).toBe('direct');
    expect(r.remote.host).toBe(lab.site('b').publicAddress);
  }, 120_000);

  it('easy ↔ hard: direct by the birthday search', async () => {
    const r = await connect(lab.site('a').hosts[0]!.name, lab.site('c').hosts[0]!.name, 30_000);
    expect(r.path).toBe('direct');
    expect(r.remote.host).toBe(lab.site('c').publicAddress);
  }, 120_000);

  it('cgnat/hard ↔ easy: the birthday search through a home NAT and a symmetric carrier NAT', async () => {
    const r = await connect(lab.site('g').hosts[0]!.name, lab.site('b').hosts[0]!.name, 30_000);
    expect(r.path).toBe('direct');
    expect(r.remote.host).toBe(lab.site('b').publicAddress);
  }, 120_000);

  it('firewall ↔ hard: direct (the firewalled public host sprays)', async () => {
    const r = await connect(lab.site('f').hosts[0]!.name, lab.site('d').hosts[0]!.name, 30_000);
    expect(r.path).toBe('direct');
  }, 120_000);

  it('hard ↔ portmap/hard with bind({ portMapping: true }): direct through the mapped candidate', async () => {
    const target = lab.site('p').hosts[0]!.name;
    const entry = await listener(target, ['--portmap']);
    const line = await entry.process.waitForLine(/"portmap"/, 15_000);
    expect(JSON.parse(line).portmap, 'miniupnpd granted a mapping').not.toBeNull();
    const r = await connect(lab.site('c').hosts[0]!.name, target, 20_000);
    expect(r.path).toBe('direct');
    expect(r.remote.host).toBe(lab.site('p').publicAddress);
  }, 120_000);

  it('hard ↔ hard: stays on the UDP relay', async () => {
    const r = await connect(lab.site('c').hosts[0]!.name, lab.site('d').hosts[0]!.name, 3000);
    expect(r.path).toBe('relay-udp');
  }, 120_000);

  it('udp-blocked ↔ hard: the stream relay (WebTransport) on one side, the UDP relay on the other', async () => {
    const r = await connect(lab.site('u').hosts[0]!.name, lab.site('c').hosts[0]!.name, 2000);
    expect(r.path).toBe('relay-stream');
    const back = await connect(lab.site('c').hosts[0]!.name, lab.site('u').hosts[0]!.name, 2000);
    expect(back.path).toBe('relay-udp');
  }, 120_000);

  it('same site behind a UDP-blocking router: direct over the LAN', async () => {
    const [h1, h2] = lab.site('u').hosts;
    const r = await connect(h1!.name, h2!.name, 20_000);
    expect(r.path).toBe('direct');
    expect(r.remote.host).toBe(h2!.addresses[0]);
  }, 120_000);

  it('same site: direct over the LAN (host candidates)', async () => {
    const [h1, h2] = lab.site('a').hosts;
    const r = await connect(h1!.name, h2!.name, 20_000);
    expect(r.path).toBe('direct');
    expect(r.remote.host).toBe(h2!.addresses[0]);
  }, 120_000);
});
