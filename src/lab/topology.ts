/**
 * Declarative lab spec -> concrete plan (namespace names, interfaces, addresses, routes). Pure: no
 * I/O, so the plan is unit-tested without root and stored verbatim in the lab's state file.
 *
 * Shape of every lab:
 *
 *   serverN ──┐                          ┌── <site>-router ── lan bridge ── <site>-host1..K
 *   serverM ──┤ inet (bridge br0, router)├── <site>-carrier ── <site>-router ── ... (cgnat)
 *             └──────────────────────────┘
 */
import {
  INTERNET_GATEWAYS,
  MAX_HOSTS_PER_SITE,
  MAX_SERVERS,
  MAX_SITES,
  SERVER_GATEWAY,
  SITE_WAN_GATEWAY,
  carrierLink,
  privateLan,
  publicLan,
  serverAddresses,
  siteWanAddress,
} from './addressing.js';
import { LabError, LabErrorCode } from './errors.js';

export const PROFILES = ['open', 'firewall', 'easy', 'hard', 'cgnat', 'udp-blocked', 'portmap'] as const;
export type NatProfile = (typeof PROFILES)[number];
/** The mapping behaviour of a NAT that can be chosen: `easy` (EIM, port-preserving) or `hard` (random). */
export type NatKind = 'easy' | 'hard';

export interface SiteOptions {
  /** Hairpinning (RFC 4787 §6): LAN hosts reach each other through the router's public mappings. */
  readonly hairpin?: boolean;
  /** UDP mapping lifetime in seconds (conntrack timeout); Linux default is 30 s unreplied, 120 s stream. */
  readonly udpTimeout?: number;
  /** Random loss in percent, applied to every forwarded packet in both directions. */
  readonly loss?: number;
  /** Bandwidth limit in both directions, a `tc` rate such as `10mbit`. */
  readonly rate?: string;
  /** Bottleneck queue size in bytes (bfifo); default ~100 ms worth of `rate`. */
  readonly queueBytes?: number;
  /** `portmap`: the port-mapping protocols miniupnpd offers (default all three). */
  readonly portmapProtocols?: readonly PortmapLabProtocol[];
}

export const PORTMAP_LAB_PROTOCOLS = ['upnp', 'nat-pmp', 'pcp'] as const;
export type PortmapLabProtocol = (typeof PORTMAP_LAB_PROTOCOLS)[number];

export interface SiteSpec extends SiteOptions {
  /** Short lowercase name, also the prefix of its hosts' names (`a` -> `a-host1`). */
  readonly name: string;
  readonly profile: NatProfile;
  /** Number of LAN hosts (default 1). */
  readonly hosts?: number;
  /** `cgnat`: the carrier NAT's mapping; `portmap`: the router's mapping. Default `easy`. */
  readonly variant?: NatKind;
}

export interface LabSpec {
  /** Lab name (letters, digits, dashes); names the state file. */
  readonly name: string;
  readonly sites: readonly SiteSpec[];
  /** Number of server hosts on the internet (default 2; server1 always has two addresses). */
  readonly servers?: number;
}

/** A network namespace the lab creates, with what lives in it. */
export interface NodePlan {
  /** Name users type: `inet`, `server1`, `a-router`, `a-carrier`, `a-host1`. */
  readonly name: string;
  readonly ns: string;
  readonly role: 'internet' | 'server' | 'router' | 'carrier' | 'host';
  readonly site?: string;
  /** Addresses without prefix length, first one primary. */
  readonly addresses: readonly string[];
}

interface HostPlan extends NodePlan {
  readonly role: 'server' | 'host';
  readonly gateway: string;
}

export interface RouterPlan extends NodePlan {
  readonly role: 'router' | 'carrier';
  /** `wan` side address and its gateway. */
  readonly wan: { readonly address: string; readonly prefix: number; readonly gateway: string };
  /** Inside side: interface (`lan` bridge or `cpe` veth), address, prefix and the subnet it serves. */
  readonly inside: {
    readonly iface: 'lan' | 'cpe';
    readonly address: string;
    readonly prefix: number;
    readonly subnet: string;
  };
  /** The NAT behaviour of this router (`none` = routes a public subnet). */
  readonly nat: 'none' | NatKind;
  /** Filtering when nat === 'none': `open` forwards everything, `firewall` is stateful. */
  readonly filter: 'open' | 'stateful';
}

export interface SitePlan {
  readonly name: string;
  readonly profile: NatProfile;
  readonly variant: NatKind;
  readonly options: SiteOptions;
  readonly router: RouterPlan;
  readonly carrier?: RouterPlan;
  readonly hosts: readonly HostPlan[];
  /** Address the internet sees for this site (router WAN, or the carrier's for cgnat). */
  readonly publicAddress: string;
  readonly lanSubnet: string;
}

/** A veth pair: `a` end in namespace `aNs`, `b` end in `bNs`; `bridge` enslaves the b end. */
interface LinkPlan {
  readonly aNs: string;
  readonly a: string;
  readonly bNs: string;
  readonly b: string;
  readonly bridge?: string;
}

export interface LabPlan {
  readonly name: string;
  readonly prefix: string;
  readonly internet: NodePlan;
  readonly servers: readonly HostPlan[];
  readonly sites: readonly SitePlan[];
  readonly links: readonly LinkPlan[];
  /** Routes in the internet namespace to routed public LANs: [subnet, via]. */
  readonly internetRoutes: readonly (readonly [string, string])[];
}

const LAB_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
const SITE_NAME = /^[a-z][a-z0-9]{0,7}$/;
const RATE = /^\d+(\.\d+)?(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$/;

/** Validates a spec; throws LabError(ERR_PUNCHLINE_LAB_SPEC) with the first problem found. */
export function validateSpec(spec: LabSpec): void {
  const fail = (message: string): never => {
    throw new LabError(LabErrorCode.Spec, message);
  };
  if (!LAB_NAME.test(spec.name)) fail(`lab name '${spec.name}' must match ${String(LAB_NAME)}`);
  const servers = spec.servers ?? 2;
  if (!Number.isInteger(servers) || servers < 1 || servers > MAX_SERVERS) fail(`servers must be 1..${MAX_SERVERS}`);
  if (spec.sites.length > MAX_SITES) fail(`at most ${MAX_SITES} sites`);
  const seen = new Set<string>();
  for (const site of spec.sites) {
    if (!SITE_NAME.test(site.name)) fail(`site name '${site.name}' must match ${String(SITE_NAME)}`);
    if (site.name === 'server' || site.name === 'inet' || /^server\d/.test(site.name))
      fail(`site name '${site.name}' is reserved`);
    if (seen.has(site.name)) fail(`duplicate site name '${site.name}'`);
    seen.add(site.name);
    if (!(PROFILES as readonly string[]).includes(site.profile))
      fail(`unknown profile '${site.profile}' (one of ${PROFILES.join(', ')})`);
    const hosts = site.hosts ?? 1;
    const maxHosts = site.profile === 'open' || site.profile === 'firewall' ? 13 : MAX_HOSTS_PER_SITE;
    if (!Number.isInteger(hosts) || hosts < 1 || hosts > maxHosts)
      fail(`site '${site.name}': hosts must be 1..${maxHosts}`);
    if (site.variant !== undefined && site.profile !== 'cgnat' && site.profile !== 'portmap') {
      fail(`site '${site.name}': a variant only applies to cgnat and portmap`);
    }
    if (site.variant !== undefined && site.variant !== 'easy' && site.variant !== 'hard')
      fail(`site '${site.name}': variant must be easy or hard`);
    if (site.loss !== undefined && !(site.loss >= 0 && site.loss <= 100))
      fail(`site '${site.name}': loss must be 0..100 percent`);
    if (site.udpTimeout !== undefined && !(Number.isInteger(site.udpTimeout) && site.udpTimeout >= 1)) {
      fail(`site '${site.name}': udpTimeout must be a whole number of seconds >= 1`);
    }
    if (site.rate !== undefined && !RATE.test(site.rate))
      fail(`site '${site.name}': rate '${site.rate}' is not a tc rate like 10mbit`);
    if (site.queueBytes !== undefined && !(Number.isInteger(site.queueBytes) && site.queueBytes >= 1500)) {
      fail(`site '${site.name}': queueBytes must be an integer >= 1500`);
    }
    if (site.queueBytes !== undefined && site.rate === undefined) fail(`site '${site.name}': queueBytes needs rate`);
    if (site.portmapProtocols !== undefined) {
      if (site.profile !== 'portmap') fail(`site '${site.name}': portmap protocols apply to the portmap profile only`);
      const list = site.portmapProtocols;
      if (list.length === 0 || list.some((p) => !(PORTMAP_LAB_PROTOCOLS as readonly string[]).includes(p))) {
        fail(`site '${site.name}': portmap protocols must be some of ${PORTMAP_LAB_PROTOCOLS.join(', ')}`);
      }
    }
    if (site.hairpin === true && (site.profile === 'open' || site.profile === 'firewall')) {
      fail(`site '${site.name}': hairpin applies to NAT profiles only`);
    }
  }
}

/** Builds the full plan for `spec` with namespace-name prefix `prefix` (e.g. `pl3f2a`). */
export function planLab(spec: LabSpec, prefix: string): LabPlan {
  validateSpec(spec);
  const ns = (name: string): string => `${prefix}-${name}`;
  const internet: NodePlan = {
    name: 'inet',
    ns: ns('inet'),
    role: 'internet',
    addresses: INTERNET_GATEWAYS.map((a) => a.split('/')[0] ?? a),
  };
  const links: LinkPlan[] = [];
  const internetRoutes: [string, string][] = [];

  const servers: HostPlan[] = [];
  for (let n = 1; n <= (spec.servers ?? 2); n++) {
    const server: HostPlan = {
      name: `server${n}`,
      ns: ns(`server${n}`),
      role: 'server',
      addresses: serverAddresses(n),
      gateway: SERVER_GATEWAY,
    };
    servers.push(server);
    links.push({ aNs: server.ns, a: 'eth0', bNs: internet.ns, b: `srv${n}`, bridge: 'br0' });
  }

  const sites = spec.sites.map((site, i) => planSite(site, i, ns, internet.ns, links, internetRoutes));
  return { name: spec.name, prefix, internet, servers, sites, links, internetRoutes };
}

function planSite(
  site: SiteSpec,
  i: number,
  ns: (name: string) => string,
  inetNs: string,
  links: LinkPlan[],
  internetRoutes: [string, string][],
): SitePlan {
  const variant: NatKind = site.variant ?? 'easy';
  const isPublic = site.profile === 'open' || site.profile === 'firewall';
  const lan = isPublic ? publicLan(i) : privateLan(i);
  const wanAddress = siteWanAddress(i);
  const routerNs = ns(`${site.name}-router`);
  const options: SiteOptions = pickOptions(site);

  let carrier: RouterPlan | undefined;
  let routerWan: RouterPlan['wan'];
  if (site.profile === 'cgnat') {
    const link = carrierLink(i);
    carrier = {
      name: `${site.name}-carrier`,
      ns: ns(`${site.name}-carrier`),
      role: 'carrier',
      site: site.name,
      addresses: [wanAddress, link.carrier],
      wan: { address: wanAddress, prefix: 24, gateway: SITE_WAN_GATEWAY },
      inside: { iface: 'cpe', address: link.carrier, prefix: 24, subnet: `100.64.${i}.0/24` },
      nat: variant,
      filter: 'stateful',
    };
    links.push({ aNs: carrier.ns, a: 'wan', bNs: inetNs, b: `site${i}`, bridge: 'br0' });
    links.push({ aNs: routerNs, a: 'wan', bNs: carrier.ns, b: 'cpe' });
    routerWan = { address: link.home, prefix: 24, gateway: link.carrier };
  } else {
    links.push({ aNs: routerNs, a: 'wan', bNs: inetNs, b: `site${i}`, bridge: 'br0' });
    routerWan = { address: wanAddress, prefix: 24, gateway: SITE_WAN_GATEWAY };
  }
  if (isPublic) internetRoutes.push([lan.cidr, wanAddress]);

  const routerNat: RouterPlan['nat'] = isPublic
    ? 'none'
    : site.profile === 'portmap'
      ? variant
      : site.profile === 'hard'
        ? 'hard'
        : 'easy';
  const router: RouterPlan = {
    name: `${site.name}-router`,
    ns: routerNs,
    role: 'router',
    site: site.name,
    addresses: [routerWan.address, lan.router],
    wan: routerWan,
    inside: { iface: 'lan', address: lan.router, prefix: isPublic ? 28 : 24, subnet: lan.cidr },
    nat: routerNat,
    filter: site.profile === 'open' ? 'open' : 'stateful',
  };
  const hosts: HostPlan[] = [];
  for (let k = 1; k <= (site.hosts ?? 1); k++) {
    const host: HostPlan = {
      name: `${site.name}-host${k}`,
      ns: ns(`${site.name}-host${k}`),
      role: 'host',
      site: site.name,
      addresses: [lan.host(k)],
      gateway: lan.router,
    };
    hosts.push(host);
    links.push({ aNs: host.ns, a: 'eth0', bNs: routerNs, b: `h${k}`, bridge: 'lan' });
  }
  const plan: SitePlan = {
    name: site.name,
    profile: site.profile,
    variant,
    options,
    router,
    hosts,
    publicAddress: isPublic ? lan.host(1) : wanAddress,
    lanSubnet: lan.cidr,
  };
  return carrier === undefined ? plan : { ...plan, carrier };
}

function pickOptions(site: SiteSpec): SiteOptions {
  const options: { -readonly [K in keyof SiteOptions]: SiteOptions[K] } = {};
  if (site.hairpin !== undefined) options.hairpin = site.hairpin;
  if (site.udpTimeout !== undefined) options.udpTimeout = site.udpTimeout;
  if (site.loss !== undefined) options.loss = site.loss;
  if (site.rate !== undefined) options.rate = site.rate;
  if (site.queueBytes !== undefined) options.queueBytes = site.queueBytes;
  if (site.portmapProtocols !== undefined) options.portmapProtocols = [...site.portmapProtocols];
  return options;
}

/** Every namespace of a plan, in creation order (internet first, hosts last). */
export function planNamespaces(plan: LabPlan): string[] {
  return allNodes(plan).map((n) => n.ns);
}

/** Every node of a plan (internet, servers, carriers, routers, hosts). */
export function allNodes(plan: LabPlan): NodePlan[] {
  const nodes: NodePlan[] = [plan.internet, ...plan.servers];
  for (const site of plan.sites) {
    if (site.carrier) nodes.push(site.carrier);
    nodes.push(site.router, ...site.hosts);
  }
  return nodes;
}

/**
 * Parses the CLI form `NAME:PROFILE[/VARIANT][:HOSTS][,OPTION...]`, e.g. `a:easy`, `c:cgnat/hard`,
 * `b:hard:2,hairpin,loss=5,rate=10mbit,queue=30000,timeout=10`, `p:portmap,portmap=pcp+upnp`.
 */
export function parseSiteArg(arg: string): SiteSpec {
  const [head = '', ...options] = arg.split(',');
  const match = /^([^:]+):([a-z-]+)(?:\/([a-z]+))?(?::(\d+))?$/.exec(head);
  if (!match)
    throw new LabError(
      LabErrorCode.Spec,
      `site '${arg}' must look like NAME:PROFILE[/easy|hard][:HOSTS][,hairpin,loss=N,rate=R,queue=B,timeout=S,portmap=upnp+nat-pmp+pcp]`,
    );
  const [, name = '', profile = '', variant, hosts] = match;
  const site: { -readonly [K in keyof SiteSpec]: SiteSpec[K] } = { name, profile: profile as NatProfile };
  if (variant !== undefined) site.variant = variant as NatKind;
  if (hosts !== undefined) site.hosts = Number(hosts);
  for (const option of options) {
    const [key = '', value] = option.split('=');
    const number = (): number => {
      const n = Number(value);
      if (value === undefined || value === '' || !Number.isFinite(n))
        throw new LabError(LabErrorCode.Spec, `site '${name}': option ${key} needs a number`);
      return n;
    };
    if (key === 'hairpin') {
      if (value === undefined || value === 'on' || value === 'true') site.hairpin = true;
      else if (value === 'off' || value === 'false') site.hairpin = false;
      else throw new LabError(LabErrorCode.Spec, `site '${name}': hairpin takes on/off, got '${value}'`);
    } else if (key === 'loss') site.loss = number();
    else if (key === 'timeout') site.udpTimeout = number();
    else if (key === 'queue') site.queueBytes = number();
    else if (key === 'rate' && value !== undefined) site.rate = value;
    else if (key === 'portmap' && value !== undefined) site.portmapProtocols = value.split('+') as PortmapLabProtocol[];
    else throw new LabError(LabErrorCode.Spec, `site '${name}': unknown option '${option}'`);
  }
  return site;
}
