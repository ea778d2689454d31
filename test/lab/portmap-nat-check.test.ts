/**
 * `punchline nat-check` in the lab: which port-mapping protocols each site's gateway offers, the
 * external address each grants (the site's public address), no test mapping left behind, and the
 * verdict per profile.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostProcess } from '../../src/lab/host-process.js';
import { Lab } from '../../src/lab/lab.js';
import { expectedPortmap } from '../../src/lab/nat-check.js';
import { miniupnpdMappings } from '../../src/lab/portmap.js';
import type { SiteSpec } from '../../src/lab/topology.js';
import { labAvailable, labName, reportSkip, LabGuard } from './helpers.js';

reportSkip('portmap-nat-check.test.ts');

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

const SITES: (SiteSpec & { verdict: string })[] = [
  { name: 'pmall', profile: 'portmap', variant: 'hard', verdict: 'direct' },
  { name: 'pmtwo', profile: 'portmap', variant: 'hard', portmapProtocols: ['pcp', 'upnp'], verdict: 'direct' },
  { name: 'hard', profile: 'hard', verdict: 'relay' },
  { name: 'easy', profile: 'easy', verdict: 'cooperation' },
];

interface Json {
  portMapping: { protocol: string; offered: boolean; external?: { host: string; port: number }; reason?: string }[];
  verdict: { kind: string; text: string; reason: string };
}

describe.skipIf(!labAvailable)('nat-check reports port mapping and a verdict', { timeout: 120_000 }, () => {
  let lab: Lab;
  const labs = new LabGuard();
  let stun: HostProcess;
  const results = new Map<string, Json>();
  const texts = new Map<string, string>();

  beforeAll(async () => {
    lab = await labs.track(
      Lab.up({ name: labName('pm-natcheck'), servers: 1, sites: SITES.map(({ verdict: _, ...s }) => s) }),
    );
    const [p, a] = lab.host('server1').addresses;
    stun = lab.spawnNode('server1', CLI, [
      'stun-server',
      '--host',
      p!,
      '--port',
      '3478',
      '--alt-host',
      a!,
      '--alt-port',
      '3479',
    ]);
    await stun.waitForLine(/^STUN server/, 20_000);
    await Promise.all(
      SITES.map(async (site) => {
        const host = `${site.name}-host1`;
        const json = await lab.runNode(
          host,
          CLI,
          [
            'nat-check',
            '--server',
            `${p!}:3478`,
            '--json',
            '--rto',
            '100',
            '--no-hairpin',
            '--portmap-timeout',
            '4000',
          ],
          {
            timeoutMs: 60_000,
          },
        );
        expect(json.code, json.stderr).toBe(0);
        results.set(site.name, JSON.parse(json.stdout) as Json);
      }),
    );
    const text = await lab.runNode(
      'pmtwo-host1',
      CLI,
      ['nat-check', '--server', `${p!}:3478`, '--rto', '100', '--no-hairpin'],
      {
        timeoutMs: 60_000,
      },
    );
    texts.set('pmtwo', text.stdout);
  }, 120_000);

  afterAll(async () => {
    await labs.down();
  });

  for (const site of SITES) {
    it(`${site.name} (${site.profile}${site.portmapProtocols ? ` ${site.portmapProtocols.join('+')}` : ''}): protocols, external addresses, verdict ${site.verdict}`, async () => {
      const result = results.get(site.name)!;
      const plan = lab.site(site.name);
      const offered = expectedPortmap(plan);
      for (const protocol of ['pcp', 'nat-pmp', 'upnp']) {
        const entry = result.portMapping.find((p) => p.protocol === protocol)!;
        expect(entry.offered, `${protocol}: ${entry.reason}`).toBe(offered.includes(protocol as 'pcp'));
        if (offered.includes(protocol as 'pcp')) expect(entry.external?.host).toBe(plan.publicAddress);
        else expect(entry.external).toBeUndefined();
      }
      expect(result.verdict.kind).toBe(site.verdict);
      if (plan.profile === 'portmap') expect(await miniupnpdMappings(lab, site.name)).toEqual([]);
    });
  }

  it('prints one line per protocol and the verdict in plain text', () => {
    const text = texts.get('pmtwo')!;
    expect(text).toMatch(/^port mapping {5}PCP {7}203\.0\.113\.\d+:\d+ \(granted for \d+ s in \d+ ms, deleted\)$/m);
    expect(text).toMatch(/^ {17}NAT-PMP {3}not offered/m);
    expect(text).toMatch(/^ {17}UPnP IGD {2}203\.0\.113\.\d+:\d+ /m);
    expect(text).toMatch(
      /^verdict {10}direct connections likely: the gateway maps ports on request \(pcp, upnp\) on 203\.0\.113\.\d+:/m,
    );
  });
});
