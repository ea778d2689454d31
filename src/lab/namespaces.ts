/**
 * Network namespaces, veth pairs and bridges. Every link is created *inside* lab namespaces (the
 * peer end is placed straight into its namespace), so the root namespace never sees a lab
 * interface; deleting a namespace destroys its interfaces, its routes and its nftables ruleset.
 */
import { exec, execIn, execQuietSync, sysctlIn } from './exec.js';

/** Creates namespace `ns` (build.ts brings its loopback up with the rest of its configuration). */
export async function createNamespace(ns: string): Promise<void> {
  await exec(['ip', 'netns', 'add', ns]);
}

/** Lists the names of all namespaces (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const out = await exec(['ip', 'netns', 'list']);
  return parseNetnsList(out);
}

function parseNetnsList(out: string): string[] {
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '');
}

/** PIDs of every process running inside `ns` (empty when the namespace does not exist). */
async function namespacePids(ns: string): Promise<number[]> {
  try {
    const out = await exec(['ip', 'netns', 'pids', ns]);
    return out
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** Kills every process inside `ns`, then deletes it. Missing namespaces are not an error. */
export async function deleteNamespace(ns: string): Promise<void> {
  for (const pid of await namespacePids(ns)) killQuietly(pid);
  try {
    await exec(['ip', 'netns', 'delete', ns]);
  } catch (error) {
    if (!(await listNamespaces()).includes(ns)) return;
    throw error;
  }
}

/** Synchronous deletion for process-exit handlers. */
export function deleteNamespaceSync(ns: string): void {
  execQuietSync(['sh', '-c', 'for p in $(ip netns pids "$1" 2>/dev/null); do kill -9 "$p"; done', 'sh', ns]);
  execQuietSync(['ip', 'netns', 'delete', ns]);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Creates veth `a` in `aNs` with peer `b` placed directly in `bNs` (build.ts brings both up). */
export async function createVeth(aNs: string, a: string, bNs: string, b: string): Promise<void> {
  await exec(['ip', '-n', aNs, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', bNs]);
}

/** Turns `ns` into a router: forwarding on, no ICMP redirects, no reverse-path filter. */
export async function enableForwarding(ns: string): Promise<void> {
  await sysctlIn(ns, {
    'net.ipv4.ip_forward': 1,
    'net.ipv4.conf.all.send_redirects': 0,
    'net.ipv4.conf.default.send_redirects': 0,
    'net.ipv4.conf.all.rp_filter': 0,
    'net.ipv4.conf.default.rp_filter': 0,
  });
}

/**
 * Makes the bridges of `ns` plain switches for netfilter: when br_netfilter is loaded (Docker and
 * many distributions load it), `bridge-nf-call-iptables` defaults to 1 and every frame crossing a
 * bridge also passes the IPv4 hooks. A DNAT that sends a packet back into the LAN it came from is
 * then *bridged* instead of routed (br_netfilter's "bridged DNAT": br_nf_pre_routing_finish sees the
 * route leave through the same bridge and hands the frame back to the bridge), and a bridge never
 * sends a frame out of the port it arrived on — so a host's packet to its own public mapping
 * (hairpinning, RFC 4787 §6) vanished after DNAT, before the forward hook, without any counter.
 * With the hooks off, LAN packets for the router reach IP on the `lan` device and are routed back
 * out of it like on a real home router. The sysctls are per network namespace (Linux >= 5.3) and
 * exist only while br_netfilter is loaded; absent files mean there is nothing to turn off.
 */
export async function disableBridgeNetfilter(ns: string): Promise<void> {
  const files = ['iptables', 'ip6tables', 'arptables'].map((t) => `/proc/sys/net/bridge/bridge-nf-call-${t}`);
  await execIn(ns, ['sh', '-c', 'for f in "$@"; do if [ -w "$f" ]; then echo 0 > "$f"; fi; done', 'sh', ...files]);
}

/** Loads an nftables ruleset (text) into namespace `ns`. */
export async function loadRuleset(ns: string, ruleset: string): Promise<void> {
  await execIn(ns, ['nft', '-f', '-'], { input: ruleset });
}
