/**
 * Candidates of the traversal agent (spec/traversal.md §Candidates): transport addresses on the
 * endpoint's one socket where the peer may reach us, typed as in RFC 8445 §5.1.1 and prioritised by
 * the formula of RFC 8445 §5.1.2.1:
 *
 *   priority = 2^24 · type preference + 2^8 · local preference + (256 − component ID)
 *
 * with one component (ID 1). Type preferences follow §5.1.2.2's recommendation (host 126,
 * peer-reflexive 110, server-reflexive 100, relayed 0); a port mapping (NAT-PMP/PCP/UPnP) sits just
 * below host, since it is a stable public address the NAT promised (RFC 6886 §1, RFC 6887 §1).
 */
import { BlockList, isIP } from 'node:net';
import type { Address } from '../../transport/api.js';
import { MAX_CANDIDATES, type Candidate, type CandidateType } from '../rendezvous/messages.js';

/** Our own kinds: the rendezvous types plus peer-reflexive (learnt from a check, never exchanged). */
export type LocalCandidateType = CandidateType | 'prflx';

export const TYPE_PREFERENCE: Readonly<Record<LocalCandidateType, number>> = {
  host: 126,
  mapped: 120,
  prflx: 110,
  srflx: 100,
  relay: 0,
};

/** RFC 8445 §5.1.2.1, one component. `localPreference` 0..65535 orders candidates of one type. */
export function candidatePriority(type: LocalCandidateType, localPreference: number): number {
  return TYPE_PREFERENCE[type] * 2 ** 24 + (localPreference & 0xffff) * 2 ** 8 + (256 - 1);
}

/** What the portmap client fills in (the slot for `mapped` candidates). */
export interface PortMapping {
  readonly external: Address;
  readonly protocol: string;
}

/** The inputs the node layer gathered on its socket. */
export interface GatheredAddresses {
  /** Every usable local interface address with the socket's port (host candidates). */
  readonly host: readonly Address[];
  /** The address the server saw (STUN / relay BOUND): server-reflexive. */
  readonly serverReflexive: readonly Address[];
  /** Port mappings granted by the NAT (NAT-PMP / PCP / UPnP IGD). */
  readonly mapped: readonly PortMapping[];
}

function key(a: Address): string {
  return `${a.host}|${a.port}`;
}

/**
 * The candidate list offered to the peer: typed, prioritised, de-duplicated (an address keeps its
 * best type, RFC 8445 §5.1.3) and cut to the rendezvous limit (MAX_CANDIDATES), best first. Relay
 * candidates are not listed: the relay is reached through its allocation, not by address.
 */
export function buildCandidates(gathered: GatheredAddresses): Candidate[] {
  const out = new Map<string, Candidate>();
  const add = (type: CandidateType, address: Address, localPreference: number): void => {
    if (isIP(address.host) === 0 || !(address.port >= 1 && address.port <= 65_535)) return;
    const k = key(address);
    const priority = candidatePriority(type, localPreference);
    const seen = out.get(k);
    if (seen && (seen.priority ?? 0) >= priority) return;
    out.set(k, { type, host: address.host, port: address.port, priority });
  };
  // Earlier addresses of a kind are preferred (the node layer lists the default route's first).
  gathered.host.forEach((a, i) => add('host', a, 65_535 - i));
  gathered.mapped.forEach((m, i) => add('mapped', m.external, 65_535 - i));
  gathered.serverReflexive.forEach((a, i) => add('srflx', a, 65_535 - i));
  return [...out.values()].sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0)).slice(0, MAX_CANDIDATES);
}

/** Candidates received from the peer, cleaned: usable addresses, no duplicates, relay entries dropped. */
export function remoteCandidates(list: readonly Candidate[]): Candidate[] {
  const out = new Map<string, Candidate>();
  for (const c of list.slice(0, MAX_CANDIDATES)) {
    if (c.type === 'relay' || !isUsableRemote(c)) continue;
    const priority = c.priority ?? candidatePriority(c.type, 0);
    const k = key(c);
    const seen = out.get(k);
    if (!seen || (seen.priority ?? 0) < priority) out.set(k, { ...c, priority });
  }
  return [...out.values()];
}

/**
 * True for addresses that are never reachable from the internet (RFC 1918, RFC 6598 shared
 * address space, loopback, link-local, IPv6 ULA): a host candidate in these ranges only works
 * inside its own network.
 */
export function isPrivateHost(host: string): boolean {
  if (isIP(host) === 4) {
    const [a, b] = host.split('.').map(Number) as [number, number];
    return (
      a === 10 ||
      a === 127 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254)
    );
  }
  const h = host.toLowerCase();
  return h === '::1' || h.startsWith('fc') || h.startsWith('fd') || h.startsWith('fe80');
}

const NOT_UNICAST = new BlockList();
NOT_UNICAST.addSubnet('0.0.0.0', 8, 'ipv4'); // unspecified ("this network")
NOT_UNICAST.addSubnet('224.0.0.0', 3, 'ipv4'); // multicast, reserved and the limited broadcast address
NOT_UNICAST.addSubnet('ff00::', 8, 'ipv6'); // multicast
NOT_UNICAST.addAddress('::', 'ipv6'); // unspecified

/**
 * True for a literal unicast IP address: not multicast (224.0.0.0/4, ff00::/8), the limited broadcast
 * address, or unspecified (0.0.0.0/8, ::). Candidates are unicast transport addresses (RFC 8445
 * §5.1.1.1); a peer or server naming anything else gets no probe from us.
 */
export function isUnicastHost(host: string): boolean {
  const family = isIP(host);
  if (family === 0) return false;
  // BlockList parses every spelling (`::0`, `0::`) and checks IPv4-mapped IPv6 (`::ffff:224.0.0.1`)
  // against the IPv4 rules, so no other spelling of a forbidden address slips through.
  return !NOT_UNICAST.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** A remote address a probe may go to: a unicast literal and a port in 1–65535. */
export function isUsableRemote(a: { readonly host: string; readonly port: number }): boolean {
  return Number.isInteger(a.port) && a.port >= 1 && a.port <= 65_535 && isUnicastHost(a.host);
}
