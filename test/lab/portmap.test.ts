/**
 * Port mapping against real miniupnpd (UPnP IGD, NAT-PMP, PCP) on lab routers: each protocol alone,
 * two of them, all three; inbound UDP through the granted mapping; the mapping gone from nftables
 * after close; a router restart noticed through the epoch and remapped; a mapping that expires when
 * its owner dies. Prints the time from bind to mapping per protocol.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostProcess } from '../../src/lab/host-process.js';
import { Lab } from '../../src/lab/lab.js';
import { miniupnpdMappings, restartMiniupnpd } from '../../src/lab/portmap.js';
import { labAvailable, labName, reportSkip, LabGuard } from './helpers.js';

reportSkip('portmap.test.ts');

const RUNNER = fileURLToPath(new URL('./fixtures/port-mapper-run.ts', import.meta.url));

interface Line {
  event: string;
  ms?: number;
  port?: number;
  mapping?: { external: { host: string; port: number }; protocol: string; lifetimeS: number };
  offers?: { protocol: string; status: string }[];
  protocol?: string;
  data?: string;
}

function lines(process_: HostProcess): Line[] {
  return process_.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!labAvailable)('port mapping against miniupnpd', { timeout: 120_000 }, () => {
  let lab: Lab;
  const labs = new LabGuard();
  let upAt = 0;
  const figures: string[] = [];

  beforeAll(async () => {
    lab = await labs.track(
      Lab.up({
        name: labName('portmap'),
        servers: 1,
        sites: [
          { name: 'all', profile: 'portmap', variant: 'hard' },
          { name: 'pcp', profile: 'portmap', portmapProtocols: ['pcp'] },
          { name: 'pmp', profile: 'portmap', portmapProtocols: ['nat-pmp'] },
          { name: 'upnp', profile: 'portmap', portmapProtocols: ['upnp'] },
          { name: 'two', profile: 'portmap', portmapProtocols: ['upnp', 'nat-pmp'] },
        ],
      }),
    );
    upAt = Date.now();
  }, 120_000);

  afterAll(async () => {
    if (figures.length > 0) console.log(`[portmap] bind -> mapping: ${figures.join(', ')}`);
    await labs.down();
  });

  const start = (site: string, config: Record<string, unknown> = {}): HostProcess =>
    lab.spawnNode(`${site}-host1`, RUNNER, [JSON.stringify({ retryAfterMs: 2000, ...config })]);

  for (const [site, protocol] of [
    ['pcp', 'pcp'],
    ['pmp', 'nat-pmp'],
    ['upnp', 'upnp'],
    ['all', 'pcp'],
  ] as const) {
    it(`${site}: maps the socket's port by ${protocol}, forwards inbound UDP, deletes on close`, async () => {
      const runner = start(site);
      try {
        const line = JSON.parse(await runner.waitForLine(/"event":"mapping"/, 10_000)) as Line;
        const bound = lines(runner).find((l) => l.event === 'bound');
        expect(line.mapping?.protocol).toBe(protocol);
        expect(line.mapping?.external.host).toBe(lab.site(site).publicAddress);
        // Behaviour: discovery is bounded (2 s) and the mapping follows it. The 1 s target is a timing,
        // measured by `npm run bench:portmap`; the figure is printed here too.
        expect(line.ms).toBeLessThan(5000);
        figures.push(`${site}/${protocol} ${line.ms} ms`);
        const installed = await miniupnpdMappings(lab, site);
        expect(installed).toContainEqual({
          externalPort: line.mapping?.external.port,
          internalHost: lab.host(`${site}-host1`).addresses[0],
          internalPort: bound?.port,
        });
        // Unsolicited UDP from the internet reaches the socket through the mapping (and the echo returns).
        const { external } = line.mapping as NonNullable<Line['mapping']>;
        const send = `const s=require('dgram').createSocket('udp4');s.on('message',m=>{console.log('echo '+m);process.exit(0)});let n=0;const t=setInterval(()=>{s.send('hello',${external.port},'${external.host}');if(++n===20)process.exit(1)},100)`;
        const sent = await lab.run('server1', [process.execPath, '-e', send], { timeoutMs: 10_000 });
        expect(sent.stdout.trim()).toBe('echo hello');
        expect(lines(runner).some((l) => l.event === 'inbound' && l.data === 'hello')).toBe(true);
      } finally {
        await runner.kill('SIGTERM', 8000);
      }
      expect(lines(runner).some((l) => l.event === 'closed')).toBe(true);
      expect(await miniupnpdMappings(lab, site)).toEqual([]);
    });
  }

  it('all (hard NAT): an Endpoint maps its one shared socket and a peer on the internet connects directly', async () => {
    const script = fileURLToPath(new URL('./fixtures/endpoint-portmap.ts', import.meta.url));
    const listener = lab.spawnNode('all-host1', script, ['listen']);
    try {
      const line = JSON.parse(await listener.waitForLine(/"event":"mapping"/, 15_000)) as Line & {
        local: number;
        publicKey: string;
      };
      expect(line.mapping?.external.host).toBe(lab.site('all').publicAddress);
      const installed = await miniupnpdMappings(lab, 'all');
      expect(installed.map((m) => m.internalPort)).toEqual([line.local]);
      const { external } = line.mapping as NonNullable<Line['mapping']>;
      const dial = await lab.runNode(
        'server1',
        script,
        ['dial', external.host, String(external.port), line.publicKey],
        {
          timeoutMs: 30_000,
        },
      );
      expect(dial.stdout, dial.stderr).toContain('"reply":"PING"');
    } finally {
      await listener.kill('SIGTERM', 8000);
    }
    expect(listener.stdout).toContain('"event":"closed"');
    expect(await miniupnpdMappings(lab, 'all')).toEqual([]);
  });

  it('two: a router offering UPnP and NAT-PMP; PCP is silent, the mapping comes from one that answered', async () => {
    const runner = start('two');
    try {
      const line = JSON.parse(await runner.waitForLine(/"event":"mapping"/, 10_000)) as Line;
      expect(['nat-pmp', 'upnp']).toContain(line.mapping?.protocol);
      const offers = Object.fromEntries((line.offers ?? []).map((o) => [o.protocol, o.status]));
      expect(offers['nat-pmp']).toBe('answered');
      expect(offers.pcp).not.toBe('answered');
    } finally {
      await runner.kill('SIGTERM', 8000);
    }
    expect(await miniupnpdMappings(lab, 'two')).toEqual([]);
  });

  for (const [site, protocol] of [
    ['pcp', 'pcp'],
    ['pmp', 'nat-pmp'],
  ] as const) {
    it(`${site}: a router restart is seen in the ${protocol} epoch and the mapping is re-created`, async () => {
      // The epoch check (RFC 6887 §8.5) allows 2 s of slack: let the daemon be up for a while first.
      const waitMs = 8000 - (Date.now() - upAt);
      if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
      const runner = start(site, { lifetimeS: 6, protocols: [protocol] });
      try {
        const first = JSON.parse(await runner.waitForLine(/"event":"mapping"/, 10_000)) as Line;
        await restartMiniupnpd(lab, site);
        expect(await miniupnpdMappings(lab, site)).toEqual([]);
        await runner.waitForLine(/"event":"gateway-restarted"/, 10_000);
        const port = first.mapping?.external.port;
        await until(
          'the mapping back in nftables',
          async () => {
            const now = await miniupnpdMappings(lab, site);
            return now.some((m) => m.externalPort === port) ? true : undefined;
          },
          10_000,
        );
      } finally {
        await runner.kill('SIGTERM', 8000);
      }
      expect(await miniupnpdMappings(lab, site)).toEqual([]);
    });
  }

  it('upnp: a router restart (new HTTP port, no mappings) is noticed at renewal and the mapping re-created', async () => {
    const runner = start('upnp', { lifetimeS: 4 });
    try {
      const first = JSON.parse(await runner.waitForLine(/"event":"mapping"/, 10_000)) as Line;
      await restartMiniupnpd(lab, 'upnp');
      const port = first.mapping?.external.port;
      await until(
        'the mapping back in nftables',
        async () => {
          const now = await miniupnpdMappings(lab, 'upnp');
          return now.some((m) => m.externalPort === port) ? true : undefined;
        },
        15_000,
      );
    } finally {
      await runner.kill('SIGTERM', 8000);
    }
    expect(await miniupnpdMappings(lab, 'upnp')).toEqual([]);
  });

  for (const [site, protocol] of [
    ['pmp', 'NAT-PMP'],
    ['pcp', 'PCP'],
  ] as const) {
    it(`${site}: a ${protocol} mapping whose owner dies without deleting expires on the router`, async () => {
      const runner = start(site, { lifetimeS: 3 });
      const line = JSON.parse(await runner.waitForLine(/"event":"mapping"/, 10_000)) as Line;
      expect(line.mapping?.lifetimeS).toBe(3);
      await runner.kill('SIGKILL');
      expect((await miniupnpdMappings(lab, site)).length).toBe(1);
      const started = Date.now();
      await until(
        'the expired mapping to be removed',
        async () => ((await miniupnpdMappings(lab, site)).length === 0 ? true : undefined),
        20_000,
      );
      console.log(
        `[portmap] unrenewed 3 s ${protocol} mapping removed ${Date.now() - started} ms after its owner died`,
      );
    });
  }
});
