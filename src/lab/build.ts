/**
 * Turns a LabPlan into namespaces, links, addresses, routes and router rules. Each namespace is
 * configured with one `ip -n NS -batch -` (argument lines, no shell) so a lab of ten sites costs
 * about a hundred short processes instead of several hundred.
 *
 * Order: namespaces -> veth pairs (each created in one namespace with its peer placed straight into
 * the other) -> one ip batch per namespace (bridges, ports, addresses, routes) -> routers
 * (forwarding, nftables ruleset incl. loss, conntrack timeouts, tc shaping).
 */
import { exec, sysctlIn } from './exec.js';
import { INTERNET_GATEWAYS } from './addressing.js';
import { createNamespace, createVeth, disableBridgeNetfilter, enableForwarding, loadRuleset } from './namespaces.js';
import { routerRuleset } from './nat-profiles.js';
import { PORTMAP_STUN_PORTS } from './portmap.js';
import { defaultQueueBytes, lossRuleset, shapingCommands } from './shaping.js';
import { planNamespaces, type LabPlan, type RouterPlan, type SitePlan } from './topology.js';

/** Builds everything in `plan` except daemons (miniupnpd). Namespaces must be recorded beforehand. */
export async function buildNetwork(plan: LabPlan): Promise<void> {
  const namespaces = planNamespaces(plan);
  await Promise.all(namespaces.map((ns) => createNamespace(ns)));
  await Promise.all(plan.links.map((link) => createVeth(link.aNs, link.a, link.bNs, link.b)));
  const batches = ipBatches(plan);
  await Promise.all([...batches].map(([ns, lines]) => ipBatch(ns, lines)));
  const stunServer = plan.servers[0]?.addresses ?? [];
  await Promise.all([
    enableForwarding(plan.internet.ns),
    ...plan.sites.map(async (site) => {
      if (site.carrier !== undefined) await configureRouter(site.carrier, site, stunServer);
      await configureRouter(site.router, site, stunServer);
    }),
  ]);
}

/** The `ip` batch lines for every namespace of the plan. */
export function ipBatches(plan: LabPlan): Map<string, string[][]> {
  const batches = new Map<string, string[][]>();
  const add = (ns: string, ...lines: string[][]): void => {
    const list = batches.get(ns) ?? [['link', 'set', 'lo', 'up']];
    list.push(...lines);
    batches.set(ns, list);
  };
  const inet = plan.internet.ns;
  add(inet, ['link', 'add', 'br0', 'type', 'bridge'], ['link', 'set', 'br0', 'up']);
  for (const cidr of INTERNET_GATEWAYS) add(inet, ['addr', 'add', cidr, 'dev', 'br0']);
  for (const site of plan.sites)
    add(site.router.ns, ['link', 'add', 'lan', 'type', 'bridge'], ['link', 'set', 'lan', 'up']);
  for (const link of plan.links) {
    add(link.aNs, ['link', 'set', link.a, 'up']);
    if (link.bridge !== undefined) add(link.bNs, ['link', 'set', link.b, 'master', link.bridge]);
    add(link.bNs, ['link', 'set', link.b, 'up']);
  }
  for (const [subnet, via] of plan.internetRoutes) add(inet, ['route', 'add', subnet, 'via', via]);
  for (const server of plan.servers) {
    for (const address of server.addresses) add(server.ns, ['addr', 'add', `${address}/24`, 'dev', 'eth0']);
    add(server.ns, ['route', 'add', 'default', 'via', server.gateway]);
  }
  for (const site of plan.sites) {
    for (const router of site.carrier === undefined ? [site.router] : [site.carrier, site.router]) {
      add(
        router.ns,
        ['addr', 'add', `${router.wan.address}/${router.wan.prefix}`, 'dev', 'wan'],
        ['addr', 'add', `${router.inside.address}/${router.inside.prefix}`, 'dev', router.inside.iface],
        ['route', 'add', 'default', 'via', router.wan.gateway],
      );
    }
    for (const host of site.hosts) {
      add(
        host.ns,
        ['addr', 'add', `${host.addresses[0] ?? ''}/${site.router.inside.prefix}`, 'dev', 'eth0'],
        ['route', 'add', 'default', 'via', host.gateway],
      );
    }
  }
  return batches;
}

async function ipBatch(ns: string, lines: readonly (readonly string[])[]): Promise<void> {
  await exec(['ip', '-n', ns, '-batch', '-'], { input: lines.map((line) => line.join(' ')).join('\n') + '\n' });
}

/** Forwarding, NAT/filter ruleset (plus loss), mapping timeout and shaping of one router. */
async function configureRouter(router: RouterPlan, site: SitePlan, stunServer: readonly string[]): Promise<void> {
  const ns = router.ns;
  const isHome = router.role === 'router';
  const { options } = site;
  const timeout = options.udpTimeout;
  await enableForwarding(ns);
  // The interfaces already exist, so conf.all/default=0 did not reach them; a hairpinned packet
  // leaves through the interface it came in on and would otherwise make the router send ICMP
  // redirects telling the sender to reach the public address via the other LAN host.
  await sysctlIn(ns, {
    'net.ipv4.conf.wan.send_redirects': 0,
    [`net.ipv4.conf.${router.inside.iface}.send_redirects`]: 0,
  });
  // Hairpinning needs LAN packets to be routed, not bridged (see disableBridgeNetfilter).
  await disableBridgeNetfilter(ns);
  let ruleset = routerRuleset({
    router,
    blockUdp: isHome && site.profile === 'udp-blocked',
    hairpin: isHome && options.hairpin === true,
    hairpinTimeoutSeconds: timeout ?? 120,
    ...(isHome && site.profile === 'portmap'
      ? { allowStunFrom: { addresses: stunServer, ports: PORTMAP_STUN_PORTS } }
      : {}),
  });
  if (isHome && options.loss !== undefined && options.loss > 0) ruleset += lossRuleset(options.loss);
  // The ruleset (ct / nat expressions) loads nf_conntrack, so its sysctls exist only afterwards.
  await loadRuleset(ns, ruleset);
  if (timeout !== undefined && router.nat !== 'none') {
    // RFC 4787 §4.3 mapping lifetime: conntrack UDP timeouts are per network namespace.
    await sysctlIn(ns, {
      'net.netfilter.nf_conntrack_udp_timeout': timeout,
      'net.netfilter.nf_conntrack_udp_timeout_stream': timeout,
    });
  }
  if (isHome && options.rate !== undefined) {
    const queue = options.queueBytes ?? defaultQueueBytes(options.rate);
    const lines = ['wan', router.inside.iface].flatMap((iface) =>
      shapingCommands(ns, iface, options.rate ?? '', queue),
    );
    // shapingCommands yields full `tc -n NS ...` argv; the batch takes the part after `tc -n NS`.
    await exec(['tc', '-n', ns, '-batch', '-'], {
      input: lines.map((argv) => argv.slice(3).join(' ')).join('\n') + '\n',
    });
  }
}
