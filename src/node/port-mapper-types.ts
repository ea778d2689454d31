/** The options, results and socket interface of PortMapper (port-mapper.ts). */
import type { Address, RandomSource } from '../transport/api.js';
import type { PortmapProtocol } from '../traversal/portmap/index.js';

/** The socket whose port is mapped: the endpoint's shared socket, or any bound UDP socket. */
export interface PortMapperSocket {
  /** Its bound local port — the only port this mapper ever maps. */
  readonly port: number;
  send(datagram: Uint8Array, to: Address): unknown;
}

export type PortMapperLog = (message: string, fields?: Record<string, unknown>) => void;

export interface PortMapperOptions {
  readonly socket: PortMapperSocket;
  /** The gateway to ask (NAT-PMP/PCP); default: the IPv4 default route's gateway. */
  readonly gateway?: string;
  /** Our address towards the gateway; default: what the kernel picks to reach it. */
  readonly clientIp?: string;
  /** Protocols to try (default all three). */
  readonly protocols?: readonly PortmapProtocol[];
  /** Lifetime to request, s (default 7200, RFC 6886 §3.3). */
  readonly lifetimeS?: number;
  /** Longest lifetime believed, s (default max(lifetimeS, 7200)). */
  readonly maxLifetimeS?: number;
  /** How long discovery may take before giving up, ms (default 2000). */
  readonly discoveryTimeoutMs?: number;
  /** Wait after a failure (no gateway, refused) before trying again, ms (default 60 s; Infinity: never). */
  readonly retryAfterMs?: number;
  readonly random?: RandomSource;
  readonly log?: PortMapperLog;
  /** UPnP NewPortMappingDescription (default 'punchline'). */
  readonly description?: string;
}

/** What the gateway granted: datagrams to `external` reach the socket. */
export interface PortMapping {
  readonly external: Address;
  readonly protocol: PortmapProtocol;
  /** Granted lifetime (bounded), s; 0 = permanent (UPnP gateways that only support those). */
  readonly lifetimeS: number;
}

/** What discovery learned about one protocol. */
export interface ProtocolOffer {
  readonly protocol: PortmapProtocol;
  readonly status: 'answered' | 'refused' | 'silent';
  /** External address the protocol reported during discovery (NAT-PMP, UPnP). */
  readonly external?: string;
  readonly reason?: string;
}
