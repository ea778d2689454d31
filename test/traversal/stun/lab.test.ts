/**
 * RFC 5780 discovery in the NAT lab (src/lab): our stun-server on server1's two addresses, and
 * `punchline nat-check --json` in one host of each site; every profile must be classified as the
 * lab says it behaves. Needs root and network namespaces; skips with the reason otherwise.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectedBehaviour,
  Lab,
  labAvailability,
  type HostProcess,
  type RunResult,
  type SiteSpec,
} from '../../../src/lab/index.js';
import { LabGuard } from '../../lab/helpers.js';

const availability = await labAvailability();
if (!availability.available) console.warn(`skipping STUN lab test: ${availability.reason}`);

const HAVE_STUN = spawnSync('sh', ['-c', 'command -v stun']).status === 0;
const CLI = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
const SITES: SiteSpec[] = [
  { name: 'open', profile: 'open' },
  { name: 'fw', profile: 'firewall' },
  { name: 'easy', profile: 'easy' },
  { name: 'hard', profile: 'hard' },
  { name: 'pin', profile: 'easy', hairpin: true },
  { name: 'cg', profile: 'cgnat', variant: 'easy' },
];

interface NatCheckJson {
  mapped: { host: string; port: number };
  natPresent: boolean | null;
  behaviourDiscovery: boolean;
  mapping: string;
  filtering: string;
  hairpinning: boolean | null;
}

describe.skipIf(!availability.available)('NAT behaviour discovery in the lab', () => {
  let lab: Lab;
  const labs = new LabGuard();
  let server: HostProcess;
  const runs = new Map<string, Promise<RunResult>>();
  const stunRuns = new Map<string, Promise<RunResult>>();

  beforeAll(async () => {
    lab = await labs.track(Lab.up({ name: `stun-${process.pid}`, sites: SITES }));
    const [p, a] = lab.host('server1').addresses;
    server = lab.spawnNode('server1', CLI, [
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
    await server.waitForLine(/^STUN server/, 20_000);
    // Every site checks at once: they share only the server, and each run is mostly waiting.
    for (const spec of SITES) {
      const host = lab.site(spec.name).hosts[0]!.name;
      runs.set(
        spec.name,
        lab.runNode(host, CLI, ['nat-check', '--server', `${p!}:3478`, '--json', '--rto', '100'], {
          timeoutMs: 40_000,
        }),
      );
    }
    for (const name of HAVE_STUN ? ['easy', 'hard', 'fw', 'pin'] : []) {
      stunRuns.set(name, lab.run(lab.site(name).hosts[0]!.name, ['stun', `${p!}:3478`], { timeoutMs: 40_000 }));
    }
    await Promise.allSettled([...runs.values(), ...stunRuns.values()]);
  }, 120_000);

  afterAll(async () => {
    await labs.down();
  }, 60_000);

  for (const spec of SITES) {
    it(`classifies site ${spec.name} (${spec.profile}${spec.hairpin ? ', hairpin' : ''})`, async () => {
      const site = lab.site(spec.name);
      const run = await runs.get(spec.name)!;
      expect(run.code, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout) as NatCheckJson;
      const expected = expectedBehaviour(site);
      expect(result.behaviourDiscovery).toBe(true);
      expect(result.natPresent).toBe(expected.translated);
      expect(result.mapping).toBe(expected.mapping);
      expect(result.filtering).toBe(expected.filtering);
      // RFC 5780's hairpinning test sends from the same socket to its own mapping: the lab's hairpin
      // option loops it back, every other NAT site drops it. (Without NAT the "mapping" is the
      // socket itself, which always receives.)
      if (expected.translated) expect(result.hairpinning).toBe(spec.hairpin === true);
    }, 10_000);
  }

  // Debian's stun prints its verdict and exits with its 'Return value' (NAT class | flags).
  const STUN_VERDICTS: Record<string, [RegExp, number]> = {
    easy: [/Primary: Independent Mapping, Port Dependent Filter, preserves ports, no hairpin/, 0x17],
    hard: [/Primary: Dependent Mapping, random port, no hairpin/, 0x18],
    fw: [/Primary: Firewall/, 0x0b],
    pin: [/Primary: Independent Mapping, Port Dependent Filter, preserves ports, will hairpin/, 0x07],
  };
  for (const [name, [verdict, code]] of Object.entries(STUN_VERDICTS)) {
    it.skipIf(!HAVE_STUN)(`Debian stun (RFC 3489 client) classifies site ${name} through our server`, async () => {
      const r = await stunRuns.get(name)!;
      expect(r.stdout, r.stderr).toMatch(verdict);
      expect(r.code).toBe(code);
    });
  }
});
