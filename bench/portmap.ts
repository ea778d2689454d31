/**
 * `npm run bench:portmap` (root; the NAT lab) — time from bind to a granted port mapping, per protocol,
 * against miniupnpd on lab routers, with the STUN Binding round trip from the same host as the anchor.
 * Each sample runs in a fresh process in the site's host (bench/lib/portmap-once.ts); mappings are
 * deleted after each sample. Printed as a table and one JSON line per row.
 *
 *   sudo npm run bench:portmap -- [--samples 10] [--only pcp,pmp,upnp,all]
 *
 * Environment: BENCH_SAMPLES (default 10; --samples wins).
 * Exit status: 0 done (or skipped without root: one line says why), 1 a sample found no mapping or
 * the run failed, 2 usage error.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { labAvailability } from '../src/lab/availability.js';
import { Lab } from '../src/lab/lab.js';
import { PORTMAP_STUN_PORTS } from '../src/lab/portmap.js';

const USAGE = 'usage: npm run bench:portmap -- [--samples 10] [--only pcp,pmp,upnp,all]\n';
const ONCE = fileURLToPath(new URL('./lib/portmap-once.ts', import.meta.url));
const SITES = [
  { name: 'pcp', protocols: ['pcp'] },
  { name: 'pmp', protocols: ['nat-pmp'] },
  { name: 'upnp', protocols: ['upnp'] },
  { name: 'all', protocols: ['upnp', 'nat-pmp', 'pcp'] },
] as const;

/** The options, or a usage error message. */
function options(argv: string[]): { samples: number; sites: (typeof SITES)[number][]; help: boolean } | string {
  let values: { samples?: string | undefined; only?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { samples: { type: 'string' }, only: { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
    }));
  } catch (error) {
    return (error as Error).message;
  }
  const samples = Number(values.samples ?? process.env['BENCH_SAMPLES'] ?? 10);
  if (!Number.isInteger(samples) || samples < 1) return `--samples must be a positive integer, got '${values.samples}'`;
  const names = values.only?.split(',') ?? SITES.map((s) => s.name);
  const unknown = names.filter((n) => !SITES.some((s) => s.name === n));
  if (unknown.length > 0)
    return `--only: unknown site '${unknown.join(',')}' (sites: ${SITES.map((s) => s.name).join(',')})`;
  return { samples, sites: SITES.filter((s) => names.includes(s.name)), help: values.help === true };
}

interface Sample {
  protocol: string | null;
  mapMs: number;
  unmapMs: number;
  stunMs: number;
  reason?: string;
}

const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
};

/** A figure over no samples is null (JSON) and '-' in the table, not NaN or 0. */
const figure = (value: number): number | null => (Number.isFinite(value) ? +value.toFixed(1) : null);

async function main(argv: string[]): Promise<number> {
  const opts = options(argv);
  if (typeof opts === 'string') {
    process.stderr.write(`bench:portmap: ${opts}\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const availability = await labAvailability();
  if (!availability.available) {
    console.log(`bench:portmap skipped: ${availability.reason}`);
    return 0;
  }
  let failed = false;
  const lab = await Lab.up({
    name: `bench-portmap-${process.pid}`,
    servers: 1,
    sites: opts.sites.map((s) => ({ name: s.name, profile: 'portmap' as const, portmapProtocols: [...s.protocols] })),
  });
  try {
    const stun = `${lab.host('server1').addresses[0]}:${PORTMAP_STUN_PORTS[0]}`;
    const rows: Record<string, unknown>[] = [];
    for (const site of opts.sites) {
      const samples: Sample[] = [];
      for (let i = 0; i < opts.samples; i++) {
        const run = await lab.runNode(`${site.name}-host1`, ONCE, [JSON.stringify({ stun })], { timeoutMs: 30_000 });
        samples.push(JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Sample);
      }
      const mapped = samples.filter((s) => s.protocol !== null);
      for (const miss of samples.filter((s) => s.protocol === null)) {
        failed = true;
        console.error(`${site.name}: no mapping: ${miss.reason}`);
      }
      const map = mapped.map((s) => s.mapMs);
      const stunMs = samples.map((s) => s.stunMs);
      rows.push({
        bench: 'portmap',
        site: site.name,
        offered: site.protocols.join('+'),
        used: [...new Set(mapped.map((s) => s.protocol))].join('+'),
        samples: samples.length,
        mapped: mapped.length,
        mapP50Ms: figure(quantile(map, 0.5)),
        mapMaxMs: figure(map.length > 0 ? Math.max(...map) : Number.NaN),
        unmapP50Ms: figure(
          quantile(
            mapped.map((s) => s.unmapMs),
            0.5,
          ),
        ),
        stunP50Ms: figure(quantile(stunMs, 0.5)),
        mapVsStun: figure(quantile(map, 0.5) / quantile(stunMs, 0.5)),
      });
    }
    console.table(rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v ?? '-']))));
    for (const row of rows) console.log(JSON.stringify(row));
  } finally {
    await lab.down();
  }
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench:portmap: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
