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
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { LabError, LabErrorCode } from './errors.js';
import { spawnDaemon, waitForLog } from './host-process.js';
import type { RouterPlan } from './topology.js';

/** NAT-PMP and PCP server port (RFC 6886 §3, RFC 6887 §19.1). */
export const NAT_PMP_PORT = 5351;

/** Ports of the lab's STUN server for miniupnpd's check: primary and alternate (RFC 5780). */
export const PORTMAP_STUN_PORTS = [3480, 3481] as const;

/** Where miniupnpd sends its STUN check. */
export interface StunTarget {
  readonly host: string;
  readonly port: number;
}

/** The chains miniupnpd's nftables backend fills, hooked so that its rules take effect. */
export function miniupnpdRuleset(): string {
  return `# chains for miniupnpd (nftables backend): port-mapping DNAT and filter rules
table inet filter {
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
export function miniupnpdConfig(router: RouterPlan, leaseFile: string, stun?: StunTarget): string {
  const stunLines =
    stun === undefined ? [] : ['ext_perform_stun=yes', `ext_stun_host=${stun.host}`, `ext_stun_port=${stun.port}`];
  return [
    ...stunLines,
    'ext_ifname=wan',
    `listening_ip=${router.inside.iface}`,
    'http_port=0',
    'enable_upnp=yes',
    'enable_natpmp=yes',
    'secure_mode=yes',
    'system_uptime=yes',
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
): Promise<void> {
  const configPath = join(dir, 'miniupnpd.conf');
  const logFile = join(dir, 'miniupnpd.log');
  writeFileSync(configPath, miniupnpdConfig(router, join(dir, 'leases'), stun));
  spawnDaemon(router.ns, ['miniupnpd', '-d', '-f', configPath, '-P', join(dir, 'miniupnpd.pid')], logFile, detached);
  const log = await waitForLog(
    logFile,
    /Listening for NAT-PMP\/PCP traffic on port|Error:|Failed to open sockets/,
    15_000,
    `miniupnpd in ${router.name}`,
  );
  if (!/Listening for NAT-PMP\/PCP traffic on port/.test(log)) {
    throw new LabError(LabErrorCode.Process, `miniupnpd in ${router.name} did not start: ${lastLines(log)}`);
  }
  if (stun !== undefined && !/Port forwarding is now enabled/.test(log)) {
    throw new LabError(
      LabErrorCode.Process,
      `miniupnpd in ${router.name}: STUN check did not enable port forwarding: ${lastLines(log)}`,
    );
  }
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ');
}
