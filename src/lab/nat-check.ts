/**
 * Self-check of the lab: runs the plain-UDP probe server (probes/probe-server) on server1's two
 * addresses and the probe client (probes/probe-client) in a site's host, and compares the observed
 * RFC 4787 mapping and filtering behaviour with what the site's profile claims. (When the STUN
 * layer lands, `punchline nat-check` against our STUN server can run the same comparison.)
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LabError, LabErrorCode } from './errors.js';
import type { HostProcess } from './host-process.js';
import type { Lab } from './lab.js';
import {
  PROBE_ALT_PORT,
  PROBE_PORT,
  type BehaviourReport,
  type FilteringBehaviour,
  type MappingBehaviour,
} from './probes/protocol.js';
import { PORTMAP_LAB_PROTOCOLS, type PortmapLabProtocol, type SitePlan } from './topology.js';

/** What a site's profile promises (RFC 4787 terms). `udp: false` = UDP does not get out at all. */
export interface ExpectedBehaviour {
  readonly udp: boolean;
  readonly translated: boolean;
  readonly portPreserved: boolean;
  readonly mapping: MappingBehaviour;
  readonly filtering: FilteringBehaviour;
}

export function expectedBehaviour(site: SitePlan): ExpectedBehaviour {
  const hard =
    site.profile === 'hard' || ((site.profile === 'cgnat' || site.profile === 'portmap') && site.variant === 'hard');
  switch (site.profile) {
    case 'open':
      return {
        udp: true,
        translated: false,
        portPreserved: true,
        mapping: 'endpoint-independent',
        filtering: 'endpoint-independent',
      };
    case 'firewall':
      return {
        udp: true,
        translated: false,
        portPreserved: true,
        mapping: 'endpoint-independent',
        filtering: 'address-and-port-dependent',
      };
    case 'udp-blocked':
      return {
        udp: false,
        translated: true,
        portPreserved: true,
        mapping: 'endpoint-independent',
        filtering: 'address-and-port-dependent',
      };
    default:
      return {
        udp: true,
        translated: true,
        portPreserved: !hard,
        mapping: hard ? 'address-and-port-dependent' : 'endpoint-independent',
        filtering: 'address-and-port-dependent',
      };
  }
}

/** The port-mapping protocols a site's gateway offers (miniupnpd on `portmap` routers; none elsewhere). */
export function expectedPortmap(site: SitePlan): readonly PortmapLabProtocol[] {
  if (site.profile !== 'portmap') return [];
  return site.options.portmapProtocols ?? PORTMAP_LAB_PROTOCOLS;
}

/** Path of a probe script next to this module: compiled `.js` when present, else the `.ts` source. */
function probeScript(name: 'probe-server' | 'probe-client'): string {
  const js = fileURLToPath(new URL(`./probes/${name}.js`, import.meta.url));
  if (existsSync(js)) return js;
  return fileURLToPath(new URL(`./probes/${name}.ts`, import.meta.url));
}

/** The probe endpoints of server `server` (default server1, which has two addresses). */
export function probeEndpoints(
  lab: Lab,
  server = 'server1',
): { primary: string; alternate: string; port: number; altPort: number } {
  const node = lab.host(server);
  const [primary, alternate] = node.addresses;
  if (primary === undefined || alternate === undefined) {
    throw new LabError(LabErrorCode.Spec, `${server} needs two addresses for behaviour probes`);
  }
  return { primary, alternate, port: PROBE_PORT, altPort: PROBE_ALT_PORT };
}

/** Starts the probe server (UDP on both addresses x both ports, TCP on primary:port) and waits until ready. */
export async function startProbeServer(lab: Lab, server = 'server1'): Promise<HostProcess> {
  const e = probeEndpoints(lab, server);
  const udp = [e.primary, e.alternate].flatMap((a) => [`${a}:${e.port}`, `${a}:${e.altPort}`]).join(',');
  const process_ = lab.spawnNode(server, probeScript('probe-server'), [
    '--udp',
    udp,
    '--tcp',
    `${e.primary}:${e.port}`,
  ]);
  await process_.waitForLine(/^ready$/, 20_000);
  return process_;
}

/** Runs one probe-client command in `host` and parses its JSON result. */
export async function probe<T>(
  lab: Lab,
  host: string,
  command: Record<string, unknown>,
  timeoutMs = 30_000,
): Promise<T> {
  const result = await lab.runNode(host, probeScript('probe-client'), [JSON.stringify(command)], { timeoutMs });
  if (result.code !== 0) {
    throw new LabError(
      LabErrorCode.Process,
      `probe ${String(command['op'])} in ${host} failed (exit ${String(result.code)}): ${result.stderr.trim()}`,
    );
  }
  try {
    return JSON.parse(result.stdout.trim().split('\n').pop() ?? '') as T;
  } catch (error) {
    throw new LabError(LabErrorCode.Process, `probe in ${host} printed no JSON: ${result.stdout}`, { cause: error });
  }
}

/** Measures a host's NAT behaviour (needs a running probe server). `undefined` when UDP gets no answer. */
export async function measureBehaviour(lab: Lab, host: string, timeoutMs = 300): Promise<BehaviourReport | undefined> {
  const report = await probe<BehaviourReport | { error: string }>(lab, host, {
    op: 'behaviour',
    ...probeEndpoints(lab),
    timeoutMs,
  });
  return 'error' in report ? undefined : report;
}

export interface HairpinResult {
  /** The owner's external mapping (what the sender addressed). */
  readonly mapped: string | undefined;
  readonly received: boolean;
  /** Source the owner saw: the sender's external address when the NAT hairpins (RFC 4787 §6 REQ-9). */
  readonly from: string | undefined;
}

/**
 * RFC 4787 §6 hairpinning between two hosts of one site: `owner` makes a mapping towards server1,
 * `sender` sends to that external address and port. Needs a running probe server.
 */
export async function measureHairpin(lab: Lab, owner: string, sender: string): Promise<HairpinResult> {
  const { primary, port } = probeEndpoints(lab);
  // The owner listens for up to 60 s; we stop it once the sender is done and had time to arrive,
  // so a slow start of the sender's process (busy machine) cannot close the window early.
  const ownerProcess = lab.spawnNode(owner, probeScript('probe-client'), [
    JSON.stringify({ op: 'hairpin-owner', target: `${primary}:${port}`, waitMs: 60_000 }),
  ]);
  try {
    const line = await ownerProcess.waitForLine(/"mapped"/, 20_000);
    const mapped = (JSON.parse(line) as { mapped?: string }).mapped;
    if (mapped === undefined) return { mapped, received: false, from: undefined };
    await probe(lab, sender, { op: 'send', target: mapped, count: 5, intervalMs: 100 });
    const got = await ownerProcess.waitForLine(/"received"/, 1_000).catch(() => undefined);
    const result = got === undefined ? {} : (JSON.parse(got) as { received?: boolean; from?: string });
    return { mapped, received: result.received === true, from: result.from };
  } finally {
    await ownerProcess.kill('SIGKILL');
  }
}

/**
 * RFC 5780 §4.5 / RFC 4787 §6 hairpinning from one socket to its own mapping: `host` makes a mapping
 * towards server1 and sends to that external address and port from the same socket. A hairpinning
 * NAT delivers it back, from the mapping. Needs a running probe server.
 */
export async function measureSelfHairpin(lab: Lab, host: string): Promise<HairpinResult> {
  const { primary, port } = probeEndpoints(lab);
  const result = await probe<{ mapped?: string; received?: boolean; from?: string }>(lab, host, {
    op: 'hairpin-self',
    target: `${primary}:${port}`,
    count: 5,
    intervalMs: 100,
  });
  return { mapped: result.mapped, received: result.received === true, from: result.from };
}

export interface SiteCheck {
  readonly site: string;
  readonly profile: string;
  readonly expected: ExpectedBehaviour;
  readonly observed: BehaviourReport | undefined;
  /** Human-readable differences; empty when the site behaves as its profile claims. */
  readonly mismatches: readonly string[];
}

/** Compares observation with expectation. */
export function compareBehaviour(expected: ExpectedBehaviour, observed: BehaviourReport | undefined): string[] {
  if (!expected.udp) return observed === undefined ? [] : ['UDP got through although the profile blocks it'];
  if (observed === undefined) return ['no UDP answer from the probe server'];
  const out: string[] = [];
  if (observed.translated !== expected.translated)
    out.push(`translated: expected ${String(expected.translated)}, saw ${String(observed.translated)}`);
  if (observed.mapping !== expected.mapping)
    out.push(`mapping: expected ${expected.mapping}, saw ${observed.mapping} (${observed.mappings.join(' ')})`);
  if (observed.filtering !== expected.filtering)
    out.push(`filtering: expected ${expected.filtering}, saw ${observed.filtering}`);
  if (expected.portPreserved && !observed.portPreserved)
    out.push(`port not preserved: local ${observed.local}, mapped ${observed.mappings[0]}`);
  return out;
}

/**
 * Checks every site (first host of each) against its profile, `concurrency` sites at a time.
 * Starts and stops its own probe server.
 */
export async function selfCheck(lab: Lab, concurrency = 4): Promise<SiteCheck[]> {
  const server = await startProbeServer(lab);
  try {
    const sites = [...lab.plan.sites];
    const checks = new Array<SiteCheck>(sites.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < sites.length) {
        const index = next++;
        const site = sites[index];
        if (site === undefined) continue;
        const expected = expectedBehaviour(site);
        const observed = await measureBehaviour(lab, site.hosts[0]?.name ?? '');
        checks[index] = {
          site: site.name,
          profile: describeProfile(site),
          expected,
          observed,
          mismatches: compareBehaviour(expected, observed),
        };
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    return checks;
  } finally {
    await server.kill();
  }
}

export function describeProfile(site: SitePlan): string {
  return site.profile === 'cgnat' || site.profile === 'portmap' ? `${site.profile}/${site.variant}` : site.profile;
}
