/**
 * The lab's plain-UDP probe protocol (one JSON object per datagram), used to verify NAT behaviour
 * before/without STUN. The probe server listens on several address:port pairs of a server host;
 * every reply says which source address and port the server saw (the NAT's mapping).
 *
 *   { id, op: 'echo', delayMs? }          -> reply from the receiving socket (after delayMs)
 *   { id, op: 'reflect', via: 'ip:port' } -> reply sent from another of the server's sockets
 *   reply: { id, seen: 'ip:port', via: 'ip:port' }
 *
 * TCP: the server accepts on its TCP endpoint, writes the seen address and a newline, and closes.
 */

export interface ProbeRequest {
  readonly id: string;
  readonly op: 'echo' | 'reflect';
  readonly delayMs?: number;
  readonly via?: string;
}

export interface ProbeReply {
  readonly id: string;
  readonly seen: string;
  readonly via: string;
}

/** RFC 4787 §4.1 mapping behaviours. */
export type MappingBehaviour = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';
/** RFC 4787 §5 filtering behaviours. */
export type FilteringBehaviour = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';

export interface BehaviourReport {
  /** Local address:port of the mapping socket. */
  readonly local: string;
  /** Mapped address seen by primary:port, alternate:port, alternate:altPort (RFC 5780 §4.3 tests). */
  readonly mappings: readonly [string, string, string];
  /** Whether the seen address differs from the local one (a NAT translates). */
  readonly translated: boolean;
  /** Whether the external port equals the local port (RFC 4787 §4.2.1 port preservation). */
  readonly portPreserved: boolean;
  readonly mapping: MappingBehaviour;
  readonly filtering: FilteringBehaviour;
}

export const PROBE_PORT = 3478;
export const PROBE_ALT_PORT = 3479;

export function splitEndpoint(endpoint: string): { address: string; port: number } {
  const at = endpoint.lastIndexOf(':');
  return { address: endpoint.slice(0, at), port: Number(endpoint.slice(at + 1)) };
}

/**
 * RFC 5780 §4.3 logic: X1 seen by primary:port, X2 by alternate:port, X3 by alternate:altPort.
 * X1 == X2 -> endpoint-independent; else X2 == X3 -> address-dependent; else address-and-port-dependent.
 */
export function classifyMapping(x1: string, x2: string, x3: string): MappingBehaviour {
  if (x1 === x2) return 'endpoint-independent';
  if (x2 === x3) return 'address-dependent';
  return 'address-and-port-dependent';
}

/**
 * RFC 5780 §4.4 logic, with the mapping made towards primary:port only: a reply from
 * alternate:altPort arrives -> endpoint-independent; else one from primary:altPort arrives ->
 * address-dependent; else address-and-port-dependent.
 */
export function classifyFiltering(fromOtherAddress: boolean, fromOtherPort: boolean): FilteringBehaviour {
  if (fromOtherAddress) return 'endpoint-independent';
  if (fromOtherPort) return 'address-dependent';
  return 'address-and-port-dependent';
}
