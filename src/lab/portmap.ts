/**
 * `portmap` profile: an easy or hard NAT router running miniupnpd (UPnP IGD, NAT-PMP and PCP) on its
 * LAN side. miniupnpd (nftables backend) adds its DNAT and filter rules to chains in `table inet
 * filter` that we create first and hook in; the router's own forward chain accepts DNAT'ed flows
 * (`ct status dnat accept`, see nat-profiles.ts).
 *
 * The lab's WAN addresses come from documentation ranges, which miniupnpd 2.3.1 treats as reserved:
 * `ext_ip=` with one is fatal, and without it miniupnpd disables port forwarding (NAT-PMP answers
 * result 3, "network failure", RFC 6886 §3.5). miniupnpd re-enables forwarding when its own STUN
 * check (`ext_perform_stun`: four requests with RFC 5780 CHANGE-REQUEST flags) proves the WAN address
 * is public and unfiltered. So the lab runs our RFC 5780 STUN server (`punchline stun-server`) on
 * server1's two addresses, ports 3480/3481 (3478/3479 stay free for tests), and the router lets
 * exactly those endpoints reach its own sockets.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { LabError, LabErrorCode } from './errors.js';
import { runIn, spawnDaemon, waitForLog } from './host-process.js';
import type { Lab } from './lab.js';
import { PORTMAP_LAB_PROTOCOLS, type PortmapLabProtocol, type RouterPlan } from './topology.js';

/** NAT-PMP and PCP server port (RFC 6886 §3, RFC 6887 §19.1). */
export const NAT_PMP_PORT = 5351;

/** Ports of the lab's STUN server for miniupnpd's check: primary and alternate (RFC 5780). */
export const PORTMAP_STUN_PORTS = [3480, 3481] as const;

/** Where miniupnpd sends its STUN check. */
export interface StunTarget {
  readonly host: string;
  readonly port: number;
}

/**
 * The chains miniupnpd's nftables backend fills, hooked so that its rules take effect. miniupnpd
 * serves NAT-PMP and PCP on one socket with one switch (`enable_natpmp`), so a router that offers
 * only one of the two drops the other at its input by the version byte (the first byte of the UDP
 * payload: 0 for NAT-PMP, RFC 6886 §3; 2 for PCP, RFC 6887 §7) — to a client that is a router
 * without that protocol: no answer.
 */
export function miniupnpdRuleset(protocols: readonly PortmapLabProtocol[] = PORTMAP_LAB_PROTOCOLS): string {
  const drops = [
    protocols.includes('nat-pmp') ? '' : '    udp dport 5351 @th,64,8 0 drop comment "no NAT-PMP on this router"\n',
    protocols.includes('pcp') ? '' : '    udp dport 5351 @th,64,8 2 drop comment "no PCP on this router"\n',
  ].join('');
  return `# chains for miniupnpd (nftables backend): port-mapping DNAT and filter rules
table inet filter {
  chain input {
    type filter hook input priority filter - 5; policy accept;
${drops}  }
  chain forward {
    type filter hook forward priority filter - 5; policy accept;
    jump miniupnpd
  }
  chain miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority dstnat - 5; policy accept;
    jump prerouting_miniupnpd
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting {
    type nat hook postrouting priority srcnat - 5; policy accept;
    jump postrouting_miniupnpd
  }
  chain postrouting_miniupnpd {
  }
}
`;
}

/**
 * Script and arguments of the lab's STUN server for miniupnpd (`punchline stun-server`, RFC 5780 on
 * both addresses of `server`): compiled `.js` next to this module when present, else the `.ts` source.
 */
export function stunServerCommand(addresses: readonly string[]): { script: string; args: string[] } {
  const [primary, alternate] = addresses;
  if (primary === undefined || alternate === undefined) {
    throw new LabError(LabErrorCode.Spec, 'the portmap profile needs server1 with two addresses for its STUN check');
  }
  const js = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  const script = existsSync(js) ? js : fileURLToPath(new URL('../cli/main.ts', import.meta.url));
  const [port, altPort] = PORTMAP_STUN_PORTS;
  return {
    script,
    args: [
      'stun-server',
      '--host',
      primary,
      '--port',
      String(port),
      '--alt-host',
      alternate,
      '--alt-port',
      String(altPort),
    ],
  };
}

/** miniupnpd.conf for `router`: listens on the LAN bridge, maps on `wan`, allows LAN clients only. */
export function miniupnpdConfig(
  router: RouterPlan,
  leaseFile: string,
  stun?: StunTarget,
  protocols: readonly PortmapLabProtocol[] = PORTMAP_LAB_PROTOCOLS,
): string {
  const stunLines =
    stun === undefined ? [] : ['ext_perform_stun=yes', `ext_stun_host=${stun.host}`, `ext_stun_port=${stun.port}`];
  const natPmpOrPcp = protocols.includes('nat-pmp') || protocols.includes('pcp');
  return [
    ...stunLines,
    'ext_ifname=wan',
    `listening_ip=${router.inside.iface}`,
    'http_port=0',
    `enable_upnp=${protocols.includes('upnp') ? 'yes' : 'no'}`,
    `enable_natpmp=${natPmpOrPcp ? 'yes' : 'no'}`,
    // PCP lifetimes below min_lifetime (default 120 s) are raised to it; tests need short ones.
    'min_lifetime=2',
    'secure_mode=yes',
    // The epoch (RFC 6887 §8.5) counts from the daemon's start, not the host's boot: a lab "router
    // reboot" restarts miniupnpd in a namespace whose kernel keeps running.
    'system_uptime=no',
    'notify_interval=60',
    `lease_file=${leaseFile}`,
    `uuid=${randomUUID()}`,
    'upnp_table_name=filter',
    'upnp_nat_table_name=filter',
    'upnp_forward_chain=miniupnpd',
    'upnp_nat_chain=prerouting_miniupnpd',
    'upnp_nat_postrouting_chain=postrouting_miniupnpd',
    `allow 1024-65535 ${router.inside.subnet} 1024-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
    '',
  ].join('\n');
}

/**
 * Writes a config into `dir` and starts miniupnpd (foreground, logging to `dir`/miniupnpd.log) in
 * `router`; resolves once its NAT-PMP/PCP socket is open and — with `stun` — port forwarding is on.
 */
export async function startMiniupnpd(
  router: RouterPlan,
  stun: StunTarget | undefined,
  dir: string,
  detached: boolean,
  protocols: readonly PortmapLabProtocol[] = PORTMAP_LAB_PROTOCOLS,
): Promise<void> {
  const configPath = join(dir, 'miniupnpd.conf');
  const logFile = join(dir, 'miniupnpd.log');
  writeFileSync(configPath, miniupnpdConfig(router, join(dir, 'leases'), stun, protocols));
  await launchMiniupnpd(router, configPath, logFile, detached, stun !== undefined);
}

async function launchMiniupnpd(
  router: RouterPlan,
  configPath: string,
  logFile: string,
  detached: boolean,
  stun: boolean,
): Promise<void> {
  const natPmp = /^enable_natpmp=yes$/m.test(readFileSync(configPath, 'utf8'));
  const pidFile = join(dirname(configPath), 'miniupnpd.pid');
  spawnDaemon(router.ns, ['miniupnpd', '-d', '-f', configPath, '-P', pidFile], logFile, detached);
  const ready = natPmp ? /Listening for NAT-PMP\/PCP traffic on port/ : /HTTP listening on port/;
  const log = await waitForLog(
    logFile,
    new RegExp(`${ready.source}|Error:|Failed to open sockets`),
    15_000,
    `miniupnpd in ${router.name}`,
  );
  if (!ready.test(log)) {
    throw new LabError(LabErrorCode.Process, `miniupnpd in ${router.name} did not start: ${lastLines(log)}`);
  }
  if (stun && !/Port forwarding is now enabled/.test(log)) {
    throw new LabError(
      LabErrorCode.Process,
      `miniupnpd in ${router.name}: STUN check did not enable port forwarding: ${lastLines(log)}`,
    );
  }
}

/** The miniupnpd process running in `router` (found among the namespace's processes), or undefined. */
async function miniupnpdProcess(router: RouterPlan): Promise<{ pid: number; configPath: string } | undefined> {
  const pids = await new Promise<string>((resolve) => {
    execFile('ip', ['netns', 'pids', router.ns], (error, stdout) => resolve(error ? '' : stdout));
  });
  const list = pids.split(/\s+/).filter((p) => /^\d+$/.test(p));
  for (const pid of list) {
    let cmdline: string[];
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!/(^|\/)miniupnpd$/.test(cmdline[0] ?? '')) continue;
    const f = cmdline.indexOf('-f');
    const configPath = f >= 0 ? cmdline[f + 1] : undefined;
    if (configPath !== undefined) return { pid: Number(pid), configPath };
  }
  return undefined;
}

/**
 * Restarts miniupnpd in `site`'s router as a router reboot would: the daemon is stopped, its lease
 * file and its nftables rules are gone, and a new process starts with a new epoch (PCP §8.5,
 * NAT-PMP §3.6). Tests use it to check that clients notice and remap.
 */
export async function restartMiniupnpd(lab: Lab, site: string): Promise<void> {
  const router = lab.site(site).router;
  const running = await miniupnpdProcess(router);
  if (running === undefined) throw new LabError(LabErrorCode.Process, `no miniupnpd runs in ${router.name}`);
  process.kill(running.pid, 'SIGKILL');
  for (let i = 0; i < 100 && existsSync(`/proc/${running.pid}`); i++) await new Promise((r) => setTimeout(r, 20));
  const dir = dirname(running.configPath);
  rmSync(join(dir, 'leases'), { force: true });
  for (const chain of ['miniupnpd', 'prerouting_miniupnpd', 'postrouting_miniupnpd']) {
    await runIn(router.name, router.ns, ['nft', 'flush', 'chain', 'inet', 'filter', chain]);
  }
  const stun = /^ext_perform_stun=yes$/m.test(readFileSync(running.configPath, 'utf8'));
  const logFile = join(dir, `miniupnpd-${Date.now()}.log`);
  await launchMiniupnpd(router, running.configPath, logFile, false, stun);
}

/** A UDP port mapping as miniupnpd installed it in nftables: external port → internal endpoint. */
export interface InstalledMapping {
  readonly externalPort: number;
  readonly internalHost: string;
  readonly internalPort: number;
}

/** The UDP DNAT rules miniupnpd has installed in `site`'s router right now (the ground truth). */
export async function miniupnpdMappings(lab: Lab, site: string): Promise<InstalledMapping[]> {
  const router = lab.site(site).router;
  const result = await runIn(router.name, router.ns, [
    'nft',
    'list',
    'chain',
    'inet',
    'filter',
    'prerouting_miniupnpd',
  ]);
  const out: InstalledMapping[] = [];
  for (const line of result.stdout.split('\n')) {
    // miniupnpd matches the protocol as `udp` or as the IPv4 protocol byte (`@nh,72,8 0x11`, 17).
    if (!/\budp\b|@nh,72,8 0x11\b/.test(line)) continue;
    const m = /dport (\d+).*dnat (?:ip )?to ([\d.]+):(\d+)/.exec(line);
    if (m) out.push({ externalPort: Number(m[1]), internalHost: m[2] as string, internalPort: Number(m[3]) });
  }
  return out;
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ');
}
