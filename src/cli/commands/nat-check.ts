/** `punchline nat-check`: what this host looks like from a STUN server, and what NAT it is behind. */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { discoverNatBehaviour } from '../../node/stun-client.js';
import { probeBindingLifetime } from '../../node/stun-lifetime.js';
import { PunchlineError } from '../../errors.js';
import { describeNatBehaviour, normalizeHost } from '../../traversal/stun/index.js';
import type { Address } from '../../transport/api.js';
import { parseCommandLine } from '../args.js';

export const summary = 'discover the mapped address and NAT behaviour (RFC 5780) via a STUN server';

const HELP = `usage: punchline nat-check --server HOST:PORT [--json] [--no-hairpin] [--rto MS] [--lifetime]

Runs the RFC 5780 tests from one UDP socket: mapping and filtering behaviour
(endpoint-independent / address-dependent / address-and-port-dependent) and hairpinning.
The server needs two IPs and two ports for mapping and filtering (e.g. 'punchline stun-server
--alt-host ... --alt-port ...', or coturn); any STUN server gives the mapped address.

options:
  --server HOST:PORT  STUN server (required; port defaults to 3478; IPv6 as [addr]:port)
  --json              print one JSON object instead of text
  --no-hairpin        skip the hairpinning test
  --rto MS            initial retransmission timeout per test (default 500)
  --lifetime          also measure the UDP binding lifetime (RFC 5780 §4.6; takes minutes)
  --lifetime-max S    give up doubling the silence beyond S seconds (default 300)
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
  let server: Address;
  try {
    server = await resolveServer(values.server);
  } catch (error) {
    process.stderr.write(`punchline nat-check: ${(error as Error).message}\n`);
    return 2;
  }
  try {
    const result = await discoverNatBehaviour(null, server, {
      hairpinning: !values['no-hairpin'],
      retransmission: { rto, rc: 4, rm: 4 },
      ...(values.json
        ? {}
        : { onStep: (step: string) => step !== 'done' && step !== 'failed' && process.stderr.write(`  ${step}...\n`) }),
    });
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
        })}\n`,
      );
    } else {
      process.stdout.write(`${describeNatBehaviour(result)}\n`);
      if (lifetime) {
        const upper = lifetime.expiredMs === null ? 'more' : `less than ${lifetime.expiredMs / 1000} s`;
        process.stdout.write(`binding lifetime at least ${lifetime.aliveMs / 1000} s, ${upper}\n`);
      }
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
