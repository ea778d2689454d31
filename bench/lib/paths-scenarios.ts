/**
 * Path-fault scenarios over the NAT lab (real netfilter NATs in namespaces), shared by
 * `npm run bench:paths` and test/lab/paths*.test.ts. Each runs two bench/lib/paths-peer.ts processes:
 * the listener on the public host `o-host1`, the dialler behind a NAT (`a-host1` easy, `h-host1` hard),
 * injects one fault and returns what the peers measured.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostProcess } from '../../src/lab/host-process.js';
import { Lab } from '../../src/lab/lab.js';
import { PORTMAP_STUN_PORTS, stunServerCommand } from '../../src/lab/portmap.js';
import type { SiteSpec } from '../../src/lab/topology.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PEER_SCRIPT = path.join(here, 'paths-peer.ts');
/** The public listener. */
export const PUBLIC_HOST = 'o-host1';
const LISTEN_PORT = 47_000;

export interface PeerEvent {
  readonly event: string;
  readonly at: number;
  readonly [key: string]: unknown;
}

/** A peer process and the JSON lines it printed so far. */
export class Peer {
  readonly events: PeerEvent[] = [];
  private offset = 0;

  constructor(readonly process: HostProcess) {
    process.child.stdout?.on('data', () => this.parse());
  }

  private parse(): void {
    const text = this.process.stdout;
    let nl = text.indexOf('\n', this.offset);
    while (nl >= 0) {
      const line = text.slice(this.offset, nl);
      this.offset = nl + 1;
      try {
        this.events.push(JSON.parse(line) as PeerEvent);
      } catch {
        // not ours
      }
      nl = text.indexOf('\n', this.offset);
    }
  }

  find(event: string): PeerEvent | undefined {
    this.parse();
    return this.events.find((e) => e.event === event);
  }

  all(event: string): PeerEvent[] {
    this.parse();
    return this.events.filter((e) => e.event === event);
  }

  async wait(event: string, timeoutMs: number): Promise<PeerEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.find(event);
      if (e !== undefined) return e;
      if (!this.process.running) {
        const e2 = this.find(event);
        if (e2 !== undefined) return e2;
        throw new Error(
          `${this.process.host}: exited before '${event}' (stderr: ${this.process.stderr.trim().slice(-400)})`,
        );
      }
      if (Date.now() > deadline) throw new Error(`${this.process.host}: no '${event}' within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

export interface PathsLabOptions {
  readonly name: string;
  /** UDP mapping lifetime of the NATed sites (s); Linux default otherwise. */
  readonly udpTimeout?: number;
}

/** The lab every scenario runs in: `a` easy NAT, `h` hard NAT, `o` a public host. */
export function pathsLab(options: PathsLabOptions): Promise<Lab> {
  const nat = (name: string, profile: 'easy' | 'hard'): SiteSpec => ({
    name,
    profile,
    ...(options.udpTimeout !== undefined ? { udpTimeout: options.udpTimeout } : {}),
  });
  return Lab.up({ name: options.name, sites: [nat('a', 'easy'), nat('h', 'hard'), { name: 'o', profile: 'open' }] });
}

export interface PairOptions {
  /** Where the dialler runs (behind a NAT). */
  readonly natHost: string;
  readonly listenArgs: readonly string[];
  readonly dialArgs: readonly string[];
  readonly transport?: Record<string, unknown>;
  /** UDP backend of both peers (default: the native batched one where built). */
  readonly udpBackend?: 'auto' | 'dgram';
}

/** Starts the listener on the public host and the dialler behind a NAT; resolves once both are connected. */
export async function startPair(lab: Lab, options: PairOptions): Promise<{ listener: Peer; dialler: Peer }> {
  const transport = JSON.stringify(options.transport ?? {});
  const listener = new Peer(
    lab.spawnNode(PUBLIC_HOST, PEER_SCRIPT, [
      '--role',
      'listen',
      '--port',
      String(LISTEN_PORT),
      '--transport',
      transport,
      '--udp-backend',
      options.udpBackend ?? 'auto',
      ...options.listenArgs,
    ]),
  );
  const ready = await listener.wait('ready', 20_000);
  const publicAddress = lab.host(PUBLIC_HOST).addresses[0] as string;
  const dialler = new Peer(
    lab.spawnNode(options.natHost, PEER_SCRIPT, [
      '--role',
      'dial',
      '--host',
      publicAddress,
      '--port',
      String(LISTEN_PORT),
      '--peer-key',
      String(ready['key']),
      '--transport',
      transport,
      '--udp-backend',
      options.udpBackend ?? 'auto',
      ...options.dialArgs,
    ]),
  );
  await Promise.all([listener.wait('connected', 20_000), dialler.wait('connected', 20_000)]);
  return { listener, dialler };
}

export async function stopPair(pair: { listener: Peer; dialler: Peer } | undefined): Promise<void> {
  if (pair === undefined) return;
  await Promise.all([pair.listener.process.kill('SIGKILL', 0), pair.dialler.process.kill('SIGKILL', 0)]);
}

/** The router in front of a NATed host (`a-host1` → `a-router`). */
export function routerOf(host: string): string {
  return `${host.split('-')[0]}-router`;
}

/** The NAT forgets every UDP mapping (a rebinding: the next packet out gets a new mapping). */
export async function forgetMappings(lab: Lab, natHost: string): Promise<void> {
  // conntrack exits 1 when it deleted nothing: fine.
  await lab.run(routerOf(natHost), ['conntrack', '-D', '-p', 'udp']);
}

export interface BulkResult {
  readonly bytes: number;
  readonly expectedBytes: number;
  readonly hashesMatch: boolean;
  /** Longest gap between two deliveries at the reader (ms). */
  readonly stallMs: number;
  readonly pathChanges: number;
  readonly durationMs: number;
  /** The writer's last ConnectionStats (pathMtu, packetsLost, ...). */
  readonly writerStats: Record<string, number> | undefined;
  /** The fault was in place before the reader had everything (false: the transfer outran it). */
  readonly faultMidTransfer: boolean;
}

export interface BulkOptions {
  readonly natHost: string;
  /** 'to-nat': the public host writes, the NATed host reads; 'from-nat' the other way. */
  readonly direction: 'to-nat' | 'from-nat';
  readonly bytes: number;
  /** Called once, `faultAfterMs` after the reader's first byte. */
  readonly fault?: (lab: Lab) => Promise<void>;
  readonly faultAfterMs?: number;
  readonly transport?: Record<string, unknown>;
  readonly timeoutMs?: number;
  readonly udpBackend?: 'auto' | 'dgram';
}

/** One bulk transfer with an optional fault in the middle. */
export async function runBulk(lab: Lab, options: BulkOptions): Promise<BulkResult> {
  const bytes = String(options.bytes);
  const toNat = options.direction === 'to-nat';
  const writerArgs = ['--mode', 'bulk', '--send', '--bytes', bytes];
  const readerArgs = ['--mode', 'bulk', '--bytes', bytes];
  let pair: { listener: Peer; dialler: Peer } | undefined;
  try {
    pair = await startPair(lab, {
      natHost: options.natHost,
      listenArgs: toNat ? writerArgs : readerArgs,
      dialArgs: toNat ? readerArgs : writerArgs,
      ...(options.transport ? { transport: options.transport } : {}),
      ...(options.udpBackend ? { udpBackend: options.udpBackend } : {}),
    });
    const reader = toNat ? pair.dialler : pair.listener;
    const writer = toNat ? pair.listener : pair.dialler;
    await reader.wait('first-byte', 20_000);
    let faultDoneAt = Number.NaN;
    if (options.fault) {
      await new Promise((r) => setTimeout(r, options.faultAfterMs ?? 500));
      await options.fault(lab);
      faultDoneAt = Date.now();
    }
    const timeout = options.timeoutMs ?? 120_000;
    const [got, sent] = await Promise.all([reader.wait('done', timeout), writer.wait('done', timeout)]);
    return {
      bytes: Number(got['bytes']),
      expectedBytes: options.bytes,
      hashesMatch: got['sha256'] === sent['sha256'] && Number(got['bytes']) === options.bytes,
      stallMs: Number(got['maxGapMs']),
      pathChanges: writer.all('path').length + reader.all('path').length,
      durationMs: Number(got['durationMs']),
      writerStats: writer.all('stats').at(-1)?.['stats'] as Record<string, number> | undefined,
      faultMidTransfer: faultDoneAt < Number(got.at),
    };
  } finally {
    await stopPair(pair);
  }
}

export interface IdleResult {
  /** Delivery latency of the public side's first write after the idle period (ms; NaN: never). */
  readonly publicWriteMs: number;
  /** Delivery latency of the NATed side's first write after it (ms; NaN: never). */
  readonly natWriteMs: number;
  /** Datagrams the NATed side sent over the whole run (keepalives and their ACKs mostly). */
  readonly natPacketsSent: number;
  readonly publicPacketsSent: number;
  readonly keepAliveIntervalMs: number | undefined;
  readonly publicKeepAliveIntervalMs: number | undefined;
  readonly closed: boolean;
  /** The NATed side's measured binding lifetime (probeLifetime), or its error. */
  readonly lifetime: Record<string, unknown> | undefined;
}

/**
 * Connect, stay idle for `idleMs`, then each side writes once (the public side first). With
 * `probeLifetime`, the NATed side measures its NAT's binding lifetime against an RFC 5780 STUN server
 * on server1 meanwhile and seeds its keepalive with it.
 */
export async function runIdle(
  lab: Lab,
  options: { natHost: string; idleMs: number; transport?: Record<string, unknown>; probeLifetime?: boolean },
): Promise<IdleResult> {
  let pair: { listener: Peer; dialler: Peer } | undefined;
  let stun: HostProcess | undefined;
  try {
    const hold = String(options.idleMs + 6_000);
    const lifetimeArgs: string[] = [];
    if (options.probeLifetime) {
      const server = lab.host('server1');
      const { script, args } = stunServerCommand(server.addresses);
      stun = lab.spawnNode(server.name, script, args);
      lifetimeArgs.push('--lifetime-stun', `${server.addresses[0]}:${PORTMAP_STUN_PORTS[0]}`);
      await new Promise((r) => setTimeout(r, 1_500)); // the STUN server binds
    }
    pair = await startPair(lab, {
      natHost: options.natHost,
      listenArgs: ['--mode', 'idle', '--write-at-ms', String(options.idleMs), '--hold-ms', hold],
      dialArgs: ['--mode', 'idle', '--write-at-ms', String(options.idleMs + 2_000), '--hold-ms', hold, ...lifetimeArgs],
      ...(options.transport ? { transport: options.transport } : {}),
    });
    const { listener, dialler } = pair;
    const deadline = options.idleMs + 5_000;
    const natGot = await dialler.wait('msg', deadline + 5_000).catch(() => undefined);
    const publicGot = await listener.wait('msg', 6_000).catch(() => undefined);
    const lastStats = (p: Peer) => p.all('stats').at(-1)?.['stats'] as Record<string, number> | undefined;
    await new Promise((r) => setTimeout(r, 1_100));
    const natStats = lastStats(dialler);
    const publicStats = lastStats(listener);
    return {
      publicWriteMs: natGot ? Number(natGot['latencyMs']) : Number.NaN,
      natWriteMs: publicGot ? Number(publicGot['latencyMs']) : Number.NaN,
      natPacketsSent: natStats?.['packetsSent'] ?? Number.NaN,
      publicPacketsSent: publicStats?.['packetsSent'] ?? Number.NaN,
      keepAliveIntervalMs: natStats?.['keepAliveIntervalMs'],
      publicKeepAliveIntervalMs: publicStats?.['keepAliveIntervalMs'],
      closed: dialler.find('closed') !== undefined || listener.find('closed') !== undefined,
      lifetime: (dialler.find('lifetime') ?? dialler.find('lifetime-failed')) as Record<string, unknown> | undefined,
    };
  } finally {
    await stopPair(pair);
    await stun?.kill('SIGKILL', 0);
  }
}

export interface KillResult {
  /** ms from the kill to the survivor's 'closed' (NaN: not within the wait). */
  readonly detectedMs: number;
  readonly code: number | undefined;
  /** The survivor's typed error code (ERR_PUNCHLINE_PEER_UNREACHABLE / _RESET), or null. */
  readonly error: string | null | undefined;
}

/** A bulk transfer towards the NATed host; one side is killed with SIGKILL; the other must notice. */
export async function runKill(
  lab: Lab,
  options: { natHost: string; victim: 'public' | 'nat'; idleTimeoutMs: number; transport?: Record<string, unknown> },
): Promise<KillResult> {
  let pair: { listener: Peer; dialler: Peer } | undefined;
  try {
    pair = await startPair(lab, {
      natHost: options.natHost,
      listenArgs: ['--mode', 'bulk', '--send', '--bytes', '0'],
      dialArgs: ['--mode', 'bulk', '--bytes', '0'],
      transport: { idleTimeoutMs: options.idleTimeoutMs, ...(options.transport ?? {}) },
    });
    await pair.dialler.wait('first-byte', 20_000);
    await new Promise((r) => setTimeout(r, 1_000));
    const victim = options.victim === 'public' ? pair.listener : pair.dialler;
    const survivor = options.victim === 'public' ? pair.dialler : pair.listener;
    const killedAt = Date.now();
    victim.process.child.kill('SIGKILL');
    const closed = await survivor.wait('closed', options.idleTimeoutMs * 2 + 20_000).catch(() => undefined);
    return {
      detectedMs: closed ? closed.at - killedAt : Number.NaN,
      code: closed ? Number(closed['code']) : undefined,
      error: closed ? ((closed['error'] as string | null) ?? null) : undefined,
    };
  } finally {
    await stopPair(pair);
  }
}

/** Sets the MTU of the NATed site's WAN link (both ends), so the path carries at most `mtu` bytes of IP. */
export async function limitWanMtu(lab: Lab, natHost: string, mtu: number): Promise<void> {
  const router = routerOf(natHost);
  await lab.run(router, ['ip', 'link', 'set', 'dev', 'wan', 'mtu', String(mtu)]);
}

/** The attacker's host (a server on the internet) and the port its copy forwarder listens on. */
const ATTACKER_HOST = 'server1';
const ATTACKER_PORT = 46_000;
/** Sites of pathsLab in spec order: the internet namespace's bridge port of site i is `site<i>`. */
const SITE_ORDER = ['a', 'h', 'o'];

/** The attacker's counts; null when its forwarder never reported them (not the same as none). */
export interface CopyAttackCounts {
  /** Copies of genuine datagrams the attacker re-sent to the victim from its own address. */
  readonly copiesSent: number | null;
  readonly copyBytes: number | null;
  /** What the victim then sent to the attacker's address (must stay ≤ 3 × copyBytes). */
  readonly fromVictim: number | null;
  readonly fromVictimBytes: number | null;
}

/** A count the forwarder reported, or null when it reported none. */
function reported(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * An off-path observer that re-sends copies of genuine packets, ahead of the originals, from its own
 * address (RFC 9000 §9.3.3, §21.1.3): every datagram from `natHost`'s site to the public listener is
 * duplicated as it enters the internet (nftables netdev `dup`) to the attacker host, whose forwarder
 * (copy-attacker.ts) re-sends it to the listener at once. The originals wait in a queue that the
 * copies bypass (an htb class on the listener site's port, `originalRate`), so the copies arrive
 * first and carry the highest packet numbers the listener has seen. Returns a function that stops
 * the attack (rules, shaping, forwarder) and reports the attacker's counts.
 */
export async function startCopyAttack(
  lab: Lab,
  options: { natHost: string; originalRate?: string; queueBytes?: number },
): Promise<() => Promise<CopyAttackCounts>> {
  const site = options.natHost.split('-')[0] as string;
  const natPort = `site${SITE_ORDER.indexOf(site)}`;
  const publicPort = `site${SITE_ORDER.indexOf(PUBLIC_HOST.split('-')[0] as string)}`;
  const natAddress = lab.site(site).publicAddress;
  const victim = lab.host(PUBLIC_HOST).addresses[0] as string;
  const attacker = lab.host(ATTACKER_HOST).addresses[0] as string;
  const mac = async (host: string, dev: string) =>
    (await lab.run(host, ['cat', `/sys/class/net/${dev}/address`])).stdout.trim();
  const attackerMac = await mac(ATTACKER_HOST, 'eth0');
  const bridgeMac = await mac('inet', 'br0');
  const forwarder = new Peer(
    lab.spawnNode(ATTACKER_HOST, path.join(here, 'copy-attacker.ts'), [
      String(ATTACKER_PORT),
      victim,
      String(LISTEN_PORT),
    ]),
  );
  const nft = async (host: string, ruleset: string) => {
    const r = await lab.run(host, ['nft', '-f', '-'], { input: ruleset });
    if (r.code !== 0) throw new Error(`nft on ${host}: ${r.stderr.trim()}`);
  };
  const tc = (args: string[]) => lab.run('inet', ['tc', ...args]);
  try {
    await forwarder.wait('ready', 20_000);
    // The attacker's host takes the copies (addressed to the listener) for its forwarder.
    await nft(
      ATTACKER_HOST,
      `table ip copyattack {
        chain pre { type nat hook prerouting priority -100; ip daddr ${victim} udp dport ${LISTEN_PORT} dnat to ${attacker}:${ATTACKER_PORT}; }
      }`,
    );
    // Originals from the NATed site queue in a slow class towards the listener; the rest is not shaped.
    const rate = options.originalRate ?? '40mbit';
    const queue = String(options.queueBytes ?? 200_000);
    await tc(['qdisc', 'replace', 'dev', publicPort, 'root', 'handle', '1:', 'htb', 'default', '10']);
    await tc(['class', 'add', 'dev', publicPort, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit']);
    await tc(['class', 'add', 'dev', publicPort, 'parent', '1:', 'classid', '1:20', 'htb', 'rate', rate, 'ceil', rate]);
    await tc(['qdisc', 'add', 'dev', publicPort, 'parent', '1:20', 'handle', '20:', 'bfifo', 'limit', queue]);
    const filter = ['filter', 'add', 'dev', publicPort, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32'];
    await tc([...filter, 'match', 'ip', 'src', `${natAddress}/32`, 'flowid', '1:20']);
    // Every datagram of the NATed site to the listener is copied to the attacker as it enters.
    await nft(
      'inet',
      `table netdev copyattack {
        chain in {
          type filter hook ingress device "${natPort}" priority 0;
          ip saddr ${natAddress} ip daddr ${victim} udp dport ${LISTEN_PORT} ether daddr set ${attackerMac} dup to "srv1" ether daddr set ${bridgeMac};
        }
      }`,
    );
  } catch (error) {
    await forwarder.process.kill('SIGKILL', 0);
    throw error;
  }
  return async () => {
    await lab.run('inet', ['nft', 'delete', 'table', 'netdev', 'copyattack']);
    await tc(['qdisc', 'del', 'dev', publicPort, 'root']);
    await lab.run(ATTACKER_HOST, ['nft', 'delete', 'table', 'ip', 'copyattack']);
    await forwarder.process.kill('SIGTERM', 2_000);
    const last = forwarder.all('counts').at(-1);
    return {
      copiesSent: reported(last?.['copiesSent']),
      copyBytes: reported(last?.['copyBytes']),
      fromVictim: reported(last?.['fromVictim']),
      fromVictimBytes: reported(last?.['fromVictimBytes']),
    };
  };
}
