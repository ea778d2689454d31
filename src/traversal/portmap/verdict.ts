/**
 * One plain verdict on what a host can expect when a peer tries to reach it, from its NAT behaviour
 * (RFC 5780 discovery, RFC 4787 terms) and the port mappings its gateway grants:
 *
 * - `direct`      — "direct connections likely": the host is reachable from anywhere it has sent
 *                   from (public address / endpoint-independent filtering), or the gateway maps a
 *                   port whose external address is the one the internet sees.
 * - `cooperation` — "need the other side's cooperation": endpoint-independent mapping with filtering:
 *                   coordinated simultaneous open (hole punching) works unless the peer's NAT is hard.
 * - `relay`       — "relay needed": the NAT picks a new port per destination (address(-and-port)-
 *                   dependent mapping) and grants no mapping; only a peer with a public address or a
 *                   port mapping of its own can meet it directly.
 */
import type { NatBehaviour } from '../stun/nat-discovery.js';
import type { Address } from '../../wire/address.js';

export type VerdictKind = 'direct' | 'cooperation' | 'relay';

export interface PortmapResult {
  readonly protocol: 'pcp' | 'nat-pmp' | 'upnp';
  readonly offered: boolean;
  /** The external address:port granted by a test mapping, when one was granted. */
  readonly external: Address | undefined;
}

export interface Verdict {
  readonly kind: VerdictKind;
  /** "direct connections likely" / "need the other side's cooperation" / "relay needed". */
  readonly text: string;
  readonly reason: string;
}

const TEXT: Record<VerdictKind, string> = {
  direct: 'direct connections likely',
  cooperation: "need the other side's cooperation",
  relay: 'relay needed',
};

function verdict(kind: VerdictKind, reason: string): Verdict {
  return { kind, text: TEXT[kind], reason };
}

/** RFC 1918, RFC 6598 (shared CGN space), link-local and loopback: not reachable from the internet. */
export function isPrivateIPv4(host: string): boolean {
  const m = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(host);
  if (!m) return false;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return (
    a === 10 ||
    a === 127 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254)
  );
}

/**
 * The verdict for `behaviour` (null when UDP discovery failed) and the port-mapping results. A mapping
 * counts only when its external address is the public one STUN saw (else another NAT sits above the
 * gateway that granted it) or, without STUN, when it is not a private address.
 */
export function connectivityVerdict(behaviour: NatBehaviour | null, portmap: readonly PortmapResult[]): Verdict {
  const granted = portmap.filter((p) => p.external !== undefined);
  const publicHost = behaviour?.mapped.host;
  const useful = granted.find((p) =>
    publicHost !== undefined ? p.external?.host === publicHost : !isPrivateIPv4(p.external?.host ?? ''),
  );
  if (useful?.external) {
    const on = granted.filter((p) => p.external?.host === useful.external?.host).map((p) => p.protocol);
    return verdict(
      'direct',
      `the gateway maps ports on request (${on.join(', ')}) on ${useful.external.host}: peers can send straight to a mapped socket (test mapping ${useful.external.host}:${useful.external.port}, deleted again)`,
    );
  }
  const upstream =
    granted.length > 0
      ? `; the gateway grants port mappings (${granted.map((p) => p.protocol).join(', ')}) but on ${granted[0]?.external?.host}, not the public address — another NAT sits above it`
      : '';
  if (behaviour === null) {
    return verdict(
      'relay',
      `no answer from the STUN server over UDP (UDP blocked or the server unreachable)${upstream}`,
    );
  }
  if (behaviour.natPresent === false && behaviour.filtering === 'endpoint-independent') {
    return verdict('direct', 'public address and no filtering: anyone can send to it');
  }
  if (!behaviour.behaviourDiscovery || behaviour.mapping === 'unknown') {
    return verdict(
      'cooperation',
      `NAT behaviour unknown (the STUN server has no alternate address); hole punching may work with the peer's help${upstream}`,
    );
  }
  if (behaviour.mapping === 'endpoint-independent') {
    if (behaviour.filtering === 'endpoint-independent') {
      return verdict(
        'direct',
        `endpoint-independent mapping and filtering: peers can send to ${behaviour.mapped.host}:${behaviour.mapped.port} once this host has sent anything${upstream}`,
      );
    }
    return verdict(
      'cooperation',
      `endpoint-independent mapping, ${behaviour.filtering} filtering: coordinated hole punching works unless the peer's NAT is hard${upstream}`,
    );
  }
  return verdict(
    'relay',
    `${behaviour.mapping} mapping (a new port per destination) and no port mapping: only a peer with a public address or a port mapping can meet this host directly${upstream}`,
  );
}
