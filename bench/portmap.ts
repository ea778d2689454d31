/**
 * `npm run bench:portmap` (root; the NAT lab) — time from bind to a granted port mapping, per protocol,
 * against miniupnpd on lab routers, with the STUN Binding round trip from the same host as the anchor.
 * Each sample runs in a fresh process in the site's host (bench/lib/portmap-once.ts); mappings are
 * deleted after each sample. Printed as a table and one JSON line per row.
 *
 * Environment: BENCH_SAMPLES (default 10).
 */
import { fileURLToPath } from 'node:url';
import { Lab } from '../src/lab/lab.js';
import { PORTMAP_STUN_PORTS } from '../src/lab/portmap.js';

const SAMPLES = Number(process.env['BENCH_SAMPLES'] ?? 10);
const ONCE = fileURLToPath(new URL('./lib/portmap-once.ts', import.meta.url));
const SITES = [
  { name: 'pcp', protocols: ['pcp'] },
  { name: 'pmp', protocols: ['nat-pmp'] },
  { name: 'upnp', protocols: ['upnp'] },
  { name: 'all', protocols: ['upnp', 'nat-pmp', 'pcp'] },
] as const;

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

const lab = await Lab.up({
  name: `bench-portmap-${process.pid}`,
  servers: 1,
  sites: SITES.map((s) => ({ name: s.name, profile: 'portmap' as const, portmapProtocols: [...s.protocols] })),
});
try {
  const stun = `${lab.host('server1').addresses[0]}:${PORTMAP_STUN_PORTS[0]}`;
  const rows: Record<string, unknown>[] = [];
  for (const site of SITES) {
    const samples: Sample[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const run = await lab.runNode(`${site.name}-host1`, ONCE, [JSON.stringify({ stun })], { timeoutMs: 30_000 });
      samples.push(JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Sample);
    }
    const mapped = samples.filter((s) => s.protocol !== null);
    for (const failed of samples.filter((s) => s.protocol === null))
      console.error(`${site.name}: no mapping: ${failed.reason}`);
    const map = mapped.map((s) => s.mapMs);
    const stunMs = samples.map((s) => s.stunMs);
    rows.push({
      bench: 'portmap',
      site: site.name,
      offered: site.protocols.join('+'),
      used: [...new Set(mapped.map((s) => s.protocol))].join('+'),
      samples: samples.length,
      mapped: mapped.length,
      mapP50Ms: +quantile(map, 0.5).toFixed(1),
      mapMaxMs: +Math.max(...map).toFixed(1),
      unmapP50Ms: +quantile(
        mapped.map((s) => s.unmapMs),
        0.5,
      ).toFixed(1),
      stunP50Ms: +quantile(stunMs, 0.5).toFixed(1),
      mapVsStun: +(quantile(map, 0.5) / quantile(stunMs, 0.5)).toFixed(1),
    });
  }
  console.table(rows);
  for (const row of rows) console.log(JSON.stringify(row));
} finally {
  await lab.down();
}
