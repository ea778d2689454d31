/**
 * `punchline lab`: real NATs in network namespaces on this machine (root only). See spec/lab.md.
 * Every subcommand names its lab with `--name NAME` (default: the only lab that is up; `up` makes
 * `lab`); status/check/down also take the name as their one positional, as before.
 *
 *   punchline lab up --site a:easy --site b:hard [--name NAME] [--server] [--servers N]
 *                    [--hairpin] [--loss PCT] [--rate 10mbit] [--queue BYTES] [--udp-timeout SEC]
 *   punchline lab status [--name NAME]
 *   punchline lab run [--name NAME] HOST -- COMMAND [ARGS...]
 *   punchline lab check [--name NAME]
 *   punchline lab down [--name NAME | --all]
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Lab } from '../../lab/lab.js';
import { LabError, LabErrorCode } from '../../lab/errors.js';
import { nodeArgv, runInteractive } from '../../lab/host-process.js';
import { cliScript } from '../../lab/rendezvous-server.js';
import { SERVER_ENV } from '../server-option.js';
import { describeProfile, selfCheck } from '../../lab/nat-check.js';
import { isProcessAlive, type LabState } from '../../lab/state.js';
import { parseSiteArg, PROFILES, type LabSpec, type SiteSpec } from '../../lab/topology.js';
import { UsageError as CliUsageError } from '../usage-error.js';

export const summary = 'real NATs in network namespaces: lab up | run | status | check | down';

const USAGE = `usage:
  punchline lab up --site NAME:PROFILE[/easy|hard][:HOSTS][,OPTIONS] [--site ...] [--name NAME] [--server]
                   [--servers N] [--hairpin] [--loss PCT] [--rate RATE] [--queue BYTES] [--udp-timeout SEC]
  punchline lab status [--name NAME]
  punchline lab run [--name NAME] HOST -- COMMAND [ARGS...]
  punchline lab check [--name NAME]
  punchline lab down [--name NAME | --all]

--name NAME picks the lab (default for up: 'lab'; otherwise the only lab that is up).
--server starts a punchline server on server1 (192.0.2.10, RFC 5780 alternate 192.0.2.11); 'lab run'
then sets ${SERVER_ENV} to its address in every command, and runs 'punchline' as this punchline.

profiles: ${PROFILES.join(', ')}  (cgnat/hard = hard carrier NAT, portmap/hard = hard router)
site options: hairpin, loss=PCT, rate=RATE, queue=BYTES, timeout=SEC (override the global flags)
              portmap=upnp+nat-pmp+pcp (portmap sites: what miniupnpd offers; default all three)
hosts: inet, server1, server2, <site>-router, <site>-carrier (cgnat), <site>-host1..N
example:
  punchline lab up --site a:easy --site b:hard --server
  punchline lab run a-host1 -- punchline listen
  punchline lab run b-host1 -- punchline connect KEY
  punchline lab down
Needs root. Labs made here persist until 'punchline lab down'.
`;

export async function run(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (error) {
    // Bad flags (node:util parseArgs) and bad site specs are usage errors: exit 2 with the usage,
    // before anything was created. Everything else (not root, a failed command) is exit 1 via main.
    if (error instanceof UsageError) {
      process.stderr.write(`punchline lab ${error.subcommand}: ${error.message} (see 'punchline lab --help')\n`);
      return 2;
    }
    if (error instanceof LabError && error.code === LabErrorCode.Spec) {
      process.stderr.write(`punchline lab: ${error.message} (${error.code})\n`);
      return 2;
    }
    throw error;
  }
}

async function dispatch(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const flags = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (sub !== undefined && (flags.includes('--help') || flags.includes('-h'))) {
    process.stdout.write(USAGE);
    return 0;
  }
  switch (sub) {
    case 'up':
      return up(rest);
    case 'status':
      return status(rest);
    case 'run':
      return runCommand(rest);
    case 'check':
      return check(rest);
    case 'down':
      return down(rest);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE);
      return sub === undefined ? 2 : 0;
    default:
      process.stderr.write(`punchline lab: unknown subcommand '${sub}'\n${USAGE}`);
      return 2;
  }
}

/** A bad command line for a subcommand: one line naming the problem, exit code 2. */
class UsageError extends CliUsageError {
  constructor(
    readonly subcommand: string,
    message: string,
  ) {
    super(message);
  }
}

/** node:util parseArgs, with its errors turned into one-line usage errors of `subcommand`. */
function parse<T extends ParseArgsConfig>(subcommand: string, config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? String(error);
    // parseArgs suggests '--' for positionals that look like options; not what lab users need.
    throw new UsageError(subcommand, message.replace(/\. To specify a positional argument.*$/, ''));
  }
}

/** The lab a subcommand means: --name, else its one positional (status/check/down), else the only lab up. */
function labNameOf(subcommand: string, name: string | undefined, positionals: readonly string[]): string | undefined {
  if (positionals.length > 1)
    throw new UsageError(subcommand, `unexpected arguments: ${positionals.slice(1).join(' ')}`);
  const positional = positionals[0];
  if (name !== undefined && positional !== undefined && positional !== name)
    throw new UsageError(subcommand, `two lab names given: --name ${name} and ${positional}`);
  return name ?? positional;
}

async function up(argv: string[]): Promise<number> {
  const { values } = parse('up', {
    args: argv,
    options: {
      site: { type: 'string', multiple: true },
      name: { type: 'string', default: 'lab' },
      server: { type: 'boolean' },
      servers: { type: 'string' },
      hairpin: { type: 'boolean' },
      loss: { type: 'string' },
      rate: { type: 'string' },
      queue: { type: 'string' },
      'udp-timeout': { type: 'string' },
    },
  });
  const sites = (values.site ?? []).map((arg) => withGlobals(parseSiteArg(arg), values));
  if (sites.length === 0)
    throw new LabError(LabErrorCode.Spec, `give at least one --site (e.g. --site a:easy)\n${USAGE}`);
  const spec: LabSpec = {
    name: values.name,
    sites,
    ...(values.servers === undefined ? {} : { servers: toNumber('--servers', values.servers) }),
  };
  const lab = await Lab.up(spec, { persistent: true, server: values.server === true });
  process.stdout.write(`lab '${lab.name}' is up (namespaces ${lab.prefix}-*)\n\n`);
  printHosts(lab);
  const first = lab.plan.sites[0]?.hosts[0]?.name ?? 'server1';
  const second = lab.plan.sites[1]?.hosts[0]?.name ?? first;
  const named = lab.name === 'lab' ? '' : ` --name ${lab.name}`;
  if (lab.serverAddress !== undefined) {
    process.stdout.write(
      `\npunchline server on server1: ${lab.serverAddress}\n` +
        `('lab run' passes it to commands as ${SERVER_ENV})\n\n` +
        `listen: punchline lab run${named} ${first} -- punchline listen\n` +
        `connect: punchline lab run${named} ${second} -- punchline connect KEY\n`,
    );
  } else {
    process.stdout.write(`\nrun a command: punchline lab run${named} ${first} -- ip addr\n`);
  }
  return 0;
}

function withGlobals(
  site: SiteSpec,
  values: {
    hairpin?: boolean | undefined;
    loss?: string | undefined;
    rate?: string | undefined;
    queue?: string | undefined;
    'udp-timeout'?: string | undefined;
  },
): SiteSpec {
  const out: { -readonly [K in keyof SiteSpec]: SiteSpec[K] } = { ...site };
  const isNat = site.profile !== 'open' && site.profile !== 'firewall';
  if (values.hairpin === true && isNat && out.hairpin === undefined) out.hairpin = true;
  if (values.loss !== undefined && out.loss === undefined) out.loss = toNumber('--loss', values.loss);
  if (values.rate !== undefined && out.rate === undefined) out.rate = values.rate;
  if (values.queue !== undefined && out.queueBytes === undefined) out.queueBytes = toNumber('--queue', values.queue);
  if (values['udp-timeout'] !== undefined && out.udpTimeout === undefined)
    out.udpTimeout = toNumber('--udp-timeout', values['udp-timeout']);
  return out;
}

function toNumber(flag: string, value: string): number {
  const n = Number(value);
  if (value === '' || !Number.isFinite(n))
    throw new LabError(LabErrorCode.Spec, `${flag} needs a number, got '${value}'`);
  return n;
}

function printHosts(lab: Lab): void {
  const rows: string[][] = [['HOST', 'ROLE', 'ADDRESSES', 'NAMESPACE']];
  for (const node of lab.nodes()) {
    const site = node.site === undefined ? undefined : lab.site(node.site);
    const role =
      site === undefined
        ? node.role
        : node.role === 'host'
          ? `host (${describeProfile(site)})`
          : `${node.role} (${describeProfile(site)})`;
    rows.push([node.name, role, node.addresses.join(' '), node.ns]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const row of rows)
    process.stdout.write(
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd() + '\n',
    );
  for (const site of lab.plan.sites) {
    const o = site.options;
    const extras = [
      o.hairpin === true ? 'hairpin' : '',
      o.udpTimeout === undefined ? '' : `udp-timeout ${o.udpTimeout}s`,
      o.loss === undefined ? '' : `loss ${o.loss}%`,
      o.rate === undefined ? '' : `rate ${o.rate}`,
      o.portmapProtocols === undefined ? '' : `port mapping by ${o.portmapProtocols.join(', ')}`,
    ].filter((e) => e !== '');
    process.stdout.write(
      `site ${site.name}: ${describeProfile(site)}, public address ${site.publicAddress}${extras.length > 0 ? `, ${extras.join(', ')}` : ''}\n`,
    );
  }
}

/** The lab named `name`, or the only lab that is up. */
function openLab(name: string | undefined): Lab {
  if (name !== undefined) return Lab.open(name);
  const labs = Lab.list();
  if (labs.length === 1 && labs[0] !== undefined) return Lab.open(labs[0].name);
  if (labs.length === 0)
    throw new LabError(LabErrorCode.NotFound, "no lab is up (start one with 'punchline lab up --site a:easy')");
  throw new LabError(LabErrorCode.NotFound, `several labs are up (${labs.map((l) => l.name).join(', ')}): name one`);
}

async function status(argv: string[]): Promise<number> {
  const { values, positionals } = parse('status', {
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' } },
  });
  const name = labNameOf('status', values.name, positionals);
  if (process.getuid?.() !== 0) {
    process.stderr.write('punchline lab status: needs root (lab state is readable by root only)\n');
    return 1;
  }
  if (name === undefined && Lab.list().length !== 1) {
    const labs = Lab.list();
    if (labs.length === 0) process.stdout.write('no lab is up\n');
    for (const state of labs) {
      process.stdout.write(
        `${state.name}  ${state.prefix}  ${state.ready ? 'up' : 'incomplete'}  ${state.persistent ? 'persistent' : `owned by pid ${state.ownerPid}`}  since ${state.createdAt}${state.serverAddress === undefined ? '' : `  server ${state.serverAddress}`}\n`,
      );
    }
    return 0;
  }
  const lab = openLab(name);
  process.stdout.write(`lab '${lab.name}' (namespaces ${lab.prefix}-*)\n\n`);
  printHosts(lab);
  if (lab.serverAddress !== undefined) process.stdout.write(`\npunchline server on server1: ${lab.serverAddress}\n`);
  return 0;
}

async function runCommand(argv: string[]): Promise<number> {
  const separator = argv.indexOf('--');
  const before = separator === -1 ? argv : argv.slice(0, separator);
  const command = separator === -1 ? [] : argv.slice(separator + 1);
  const { values, positionals } = parse('run', {
    args: before,
    allowPositionals: true,
    options: { name: { type: 'string' } },
  });
  const host = positionals[0];
  if (host === undefined || command.length === 0) throw new UsageError('run', 'need HOST -- COMMAND');
  if (positionals.length > 1)
    throw new UsageError('run', `unexpected arguments before '--': ${positionals.slice(1).join(' ')}`);
  const lab = openLab(values.name);
  // 'punchline' inside a host is this very punchline (same Node, same build), installed or not.
  const argv_ = command[0] === 'punchline' ? nodeArgv(cliScript(), command.slice(1)) : command;
  const env =
    lab.serverAddress !== undefined && process.env[SERVER_ENV] === undefined
      ? { ...process.env, [SERVER_ENV]: lab.serverAddress }
      : process.env;
  return runInteractive(lab.host(host).ns, argv_, env);
}

async function check(argv: string[]): Promise<number> {
  const { values, positionals } = parse('check', {
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' } },
  });
  const lab = openLab(labNameOf('check', values.name, positionals));
  const checks = await selfCheck(lab);
  let ok = true;
  for (const c of checks) {
    const seen =
      c.observed === undefined
        ? 'no UDP'
        : `${c.observed.mapping} mapping, ${c.observed.filtering} filtering${c.observed.translated ? '' : ', not translated'}`;
    const verdict = c.mismatches.length === 0 ? 'ok' : `MISMATCH: ${c.mismatches.join('; ')}`;
    if (c.mismatches.length > 0) ok = false;
    process.stdout.write(`${c.site.padEnd(8)} ${c.profile.padEnd(12)} ${seen}  ${verdict}\n`);
  }
  return ok ? 0 : 1;
}

async function down(argv: string[]): Promise<number> {
  const { values, positionals } = parse('down', {
    args: argv,
    allowPositionals: true,
    options: { all: { type: 'boolean' }, name: { type: 'string' } },
  });
  const name = labNameOf('down', values.name, positionals);
  if (values.all === true && name !== undefined) throw new UsageError('down', 'give a lab name or --all, not both');
  let names: string[];
  if (values.all === true) {
    // Labs owned by a running program (its tests, say) are that program's to remove.
    const labs = Lab.list();
    for (const s of labs.filter(ownedByLiveProcess))
      process.stdout.write(`lab '${s.name}' belongs to running pid ${s.ownerPid}: left up\n`);
    names = labs.filter((s) => !ownedByLiveProcess(s)).map((s) => s.name);
  } else {
    names = [name ?? openLab(undefined).name];
  }
  for (const name of names) {
    await Lab.downByName(name);
    process.stdout.write(`lab '${name}' is down\n`);
  }
  if (names.length === 0) process.stdout.write('no lab to take down\n');
  return 0;
}

function ownedByLiveProcess(state: LabState): boolean {
  return !state.persistent && isProcessAlive(state.ownerPid);
}
