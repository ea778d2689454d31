/**
 * `punchline nat-check`: what this host looks like from a STUN server, what NAT it is behind, which
 * port-mapping protocols its gateway offers (and the external address each grants), and one plain
 * verdict on whether peers will reach it directly.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { checkPortMapping, type PortMappingCheck } from '../../node/port-mapping-check.js';
import { discoverNatBehaviour } from '../../node/stun-client.js';
import { probeBindingLifetime } from '../../node/stun-lifetime.js';
import { PunchlineError } from '../../errors.js';
import { connectivityVerdict, type Verdict } from '../../traversal/portmap/verdict.js';
import { describeNatBehaviour, type NatBehaviour, normalizeHost } from '../../traversal/stun/index.js';
import type { Address } from '../../transport/api.js';
import { parseCommandLine } from '../args.js';

export const summary = 'NAT behaviour (RFC 5780), port mapping (PCP, NAT-PMP, UPnP) and a verdict';

const HELP = `usage: punchline nat-check --server HOST:PORT [--json] [--no-hairpin] [--rto MS] [--lifetime]
                           [--no-portmap] [--gateway IP] [--portmap-timeout MS]

Runs the RFC 5780 tests from one UDP socket: mapping and filtering behaviour
(endpoint-independent / address-dependent / address-and-port-dependent) and hairpinning.
The server needs two IPs and two ports for mapping and filtering (e.g. 'punchline stun-server
--alt-host ... --alt-port ...', or coturn); any STUN server gives the mapped address.
Then asks the default gateway for a short test mapping by PCP, NAT-PMP and UPnP IGD at once,
reports what each granted, deletes them, and ends with a verdict: direct connections likely /
need the other side's cooperation / relay needed, with the reason.

options:
  --server HOST:PORT  STUN server (required; port defaults to 3478; IPv6 as [addr]:port)
  --json              print one JSON object instead of text
  --no-hairpin        skip the hairpinning test
  --rto MS            initial retransmission timeout per test (default 500)
  --lifetime          also measure the UDP binding lifetime (RFC 5780 §4.6; takes minutes)
  --lifetime-max S    give up doubling the silence beyond S seconds (default 300)
  --no-portmap        skip the port-mapping check
  --gateway IP        gateway to ask for port mappings (default: the default route's)
  --portmap-timeout MS  how long each protocol may take to answer (default 2000)
  -h, --help          this help
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine('nat-check', HELP, {
    args: argv,
    options: {
      server: { type: 'string' },
      json: { type: 'boolean', default: false },
      'no-hairpin': { type: 'boolean', default: false },
      rto: { type: 'string', default: '500' },
      lifetime: { type: 'boolean', default: false },
      'lifetime-max': { type: 'string', default: '300' },
      'no-portmap': { type: 'boolean', default: false },
      gateway: { type: 'string' },
      'portmap-timeout': { type: 'string', default: '2000' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (values.server === undefined) {
    process.stderr.write('punchline nat-check: --server HOST:PORT is required (there is no default public server)\n');
    return 2;
  }
  const rto = Number(values.rto);
  if (!(rto >= 10 && rto <= 10_000)) {
    process.stderr.write(`punchline nat-check: --rto must be 10..10000 ms, got '${values.rto}'\n`);
    return 2;
  }
  const lifetimeMax = Number(values['lifetime-max']);
  if (!(lifetimeMax >= 1 && lifetimeMax <= 3600)) {
    process.stderr.write(`punchline nat-check: --lifetime-max must be 1..3600 s, got '${values['lifetime-max']}'\n`);
    return 2;
  }
  const portmapTimeout = Number(values['portmap-timeout']);
  if (!(portmapTimeout >= 100 && portmapTimeout <= 30_000)) {
    process.stderr.write(
      `punchline nat-check: --portmap-timeout must be 100..30000 ms, got '${values['portmap-timeout']}'\n`,
    );
    return 2;
  }
  if (values.gateway !== undefined && isIP(values.gateway) !== 4) {
    process.stderr.write(`punchline nat-check: --gateway must be an IPv4 address, got '${values.gateway}'\n`);
    return 2;
  }
  let server: Address;
  try {
    server = await resolveServer(values.server);
  } catch (error) {
    process.stderr.write(`punchline nat-check: ${(error as Error).message}\n`);
    return 2;
  }
  const portmapCheck = async (): Promise<PortMappingCheck[] | null> => {
    if (values['no-portmap']) return null;
    if (!values.json) process.stderr.write('  port mapping (PCP, NAT-PMP, UPnP IGD)...\n');
    return checkPortMapping({
      timeoutMs: portmapTimeout,
      ...(values.gateway === undefined ? {} : { gateway: values.gateway }),
    });
  };
  let result: NatBehaviour;
  try {
    result = await discoverNatBehaviour(null, server, {
      hairpinning: !values['no-hairpin'],
      retransmission: { rto, rc: 4, rm: 4 },
      ...(values.json
        ? {}
        : { onStep: (step: string) => step !== 'done' && step !== 'failed' && process.stderr.write(`  ${step}...\n`) }),
    });
  } catch (error) {
    if (!(error instanceof PunchlineError)) throw error;
    process.stderr.write(`punchline nat-check: ${error.message} (${error.code})\n`);
    // Even without STUN the verdict says what follows (and whether a port mapping rescues it).
    const portmap = await portmapCheck();
    const verdict = connectivityVerdict(null, toResults(portmap));
    if (values.json) process.stdout.write(`${JSON.stringify({ error: error.code, portMapping: portmap, verdict })}\n`);
    else process.stdout.write(`${describePortMapping(portmap)}${describeVerdict(verdict)}\n`);
    return 1;
  }
  try {
    let lifetime: { aliveMs: number; expiredMs: number | null } | null = null;
    if (values.lifetime) {
      const maxMs = lifetimeMax * 1000;
      const r = await probeBindingLifetime(server, {
        maxMs,
        initialMs: Math.min(10_000, maxMs),
        resolutionMs: Math.max(1_000, Math.min(5_000, maxMs / 8)),
        retransmission: { rto, rc: 4, rm: 4 },
        ...(values.json
          ? {}
          : { onTrial: (ms: number) => process.stderr.write(`  binding lifetime: ${ms / 1000} s of silence...\n`) }),
      });
      lifetime = { aliveMs: r.aliveMs, expiredMs: r.expiredMs };
    }
    const portmap = await portmapCheck();
    const verdict = connectivityVerdict(result, toResults(portmap));
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({
          server: result.server,
          local: result.local ?? null,
          mapped: result.mapped,
          natPresent: result.natPresent,
          behaviourDiscovery: result.behaviourDiscovery,
          mapping: result.mapping,
          filtering: result.filtering,
          hairpinning: result.hairpinning,
          ...(lifetime ? { bindingLifetime: lifetime } : {}),
          ...(portmap ? { portMapping: portmap } : {}),
          verdict,
        })}\n`,
      );
    } else {
      process.stdout.write(`${describeNatBehaviour(result)}\n`);
      if (lifetime) {
        const upper = lifetime.expiredMs === null ? 'more' : `less than ${lifetime.expiredMs / 1000} s`;
        process.stdout.write(`binding lifetime at least ${lifetime.aliveMs / 1000} s, ${upper}\n`);
      }
      process.stdout.write(`${describePortMapping(portmap)}${describeVerdict(verdict)}\n`);
    }
    return 0;
  } catch (error) {
    if (error instanceof PunchlineError) {
      process.stderr.write(`punchline nat-check: ${error.message} (${error.code})\n`);
      return 1;
    }
    throw error;
  }
}

function toResults(checks: readonly PortMappingCheck[] | null): Parameters<typeof connectivityVerdict>[1] {
  return (checks ?? []).map((c) => ({ protocol: c.protocol, offered: c.offered, external: c.external }));
}

/** One line per protocol: what the gateway granted, or why not. */
export function describePortMapping(checks: readonly PortMappingCheck[] | null): string {
  if (checks === null) return 'port mapping     not checked\n';
  const names = { pcp: 'PCP', 'nat-pmp': 'NAT-PMP', upnp: 'UPnP IGD' } as const;
  return checks
    .map((c, i) => {
      const label = i === 0 ? 'port mapping     ' : '                 ';
      const what = c.external
        ? `${c.external.host}:${c.external.port} (granted ${c.lifetimeS === 0 ? 'permanently' : `for ${c.lifetimeS} s`} in ${c.elapsedMs} ms, deleted)`
        : `${c.offered ? 'offered, but no mapping' : 'not offered'}${c.reason ? ` (${c.reason})` : ''}`;
      return `${label}${names[c.protocol].padEnd(9)} ${what}\n`;
    })
    .join('');
}

export function describeVerdict(verdict: Verdict): string {
  return `verdict          ${verdict.text}: ${verdict.reason}`;
}

/** `host:port`, `[v6]:port`, `host` → a literal address (DNS for names). */
export async function resolveServer(text: string): Promise<Address> {
  let host = text;
  let port = 3478;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if ((text.match(/:/g) ?? []).length === 1) {
    const [h, p] = text.split(':') as [string, string];
    host = h;
    if (!/^\d+$/.test(p)) throw new Error(`bad port in '${text}'`);
    port = Number(p);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port in '${text}'`);
  if (host === '') throw new Error(`no host in '${text}'`);
  if (!isIP(host)) host = (await lookup(host)).address;
  return { host: normalizeHost(host), port };
}
