/** What `PunchlineServer.start` accepts and what a running server reports about itself. */
import type { KeyPair } from '../crypto/keys.js';
import type { Address } from '../transport/api.js';
import { encodePublicKey } from '../crypto/key-text.js';
import { normalizeHost } from '../traversal/stun/address.js';
import { formatServerAddress, type ServerAddress } from '../traversal/rendezvous/server-address.js';
import { isIPv6 } from 'node:net';
import type { Logger } from './log.js';
import type { RelayLimits } from './relay-core.js';
import type { RendezvousLimits } from './rendezvous-api.js';

/** The URL path of the rendezvous WebTransport endpoint. */
export const RENDEZVOUS_PATH = '/punchline';
export const DEFAULT_UDP_PORT = 3478;
export const DEFAULT_TLS_PORT = 4433;
export const DEFAULT_METRICS_PORT = 9464;

export interface PunchlineServerOptions {
  /** Address for the UDP and TLS ports. Default 127.0.0.1. */
  readonly host?: string;
  readonly udpPort?: number;
  readonly port?: number;
  /** Metrics/health HTTP listener; `null` disables it. Default 127.0.0.1:9464. */
  readonly metricsHost?: string;
  readonly metricsPort?: number | null;
  /** Persistent state: server identity and generated certificate. Needed unless keyPair and tls are given. */
  readonly dataDir?: string;
  readonly keyPair?: KeyPair;
  /** PEM strings, or files, of a real certificate. Without: a self-signed one in dataDir. */
  readonly tls?:
    | { readonly cert: string; readonly key: string }
    | { readonly certFile: string; readonly keyFile: string };
  /** Names for the self-signed certificate (default: localhost, 127.0.0.1, ::1 and `host`). */
  readonly certificateNames?: readonly string[];
  /**
   * The host clients reach this server at, written into `info.address`. Default: `host`, or for a
   * wildcard `host` the first non-internal interface address of its family.
   */
  readonly publicHost?: string;
  /**
   * A second IP and port of this host (both different from the primary): STUN answers there too, with
   * OTHER-ADDRESS and CHANGE-REQUEST, so clients learn their NAT's mapping behaviour (RFC 5780 §4.3).
   * Port 0 picks one.
   */
  readonly alternate?: Address;
  /** Validity of a generated certificate (default and maximum: just under 14 days; tests use seconds). */
  readonly certificateValidityMs?: number;
  /** A generated certificate is renewed when less than this is left (default 24 h). */
  readonly certificateRenewBeforeMs?: number;
  /** With certificate files: how often they are re-read for a renewed certificate (default 10 min). */
  readonly certificateReloadMs?: number;
  readonly limits?: Partial<RendezvousLimits>;
  readonly relayLimits?: Partial<RelayLimits>;
  /** Serve STUN on the UDP port (default true). */
  readonly stun?: boolean;
  /** 'auto' (default): HTTP/3 too when the native add-on loads; 'off': HTTP/2 + WebSocket only. */
  readonly http3?: 'auto' | 'off';
  readonly logger?: Logger;
}

export interface ServerInfo {
  /** The one string clients need (`punchline://KEY@host:udp?wt=port&alt=host:port`). */
  readonly address: string;
  readonly serverAddress: ServerAddress;
  readonly udp: Address;
  /** The RFC 5780 alternate address (STUN only), when configured. */
  readonly alternate: Address | null;
  readonly tls: Address;
  readonly metrics: Address | null;
  /** Rendezvous URL clients connect to. */
  readonly url: string;
  readonly publicKey: Uint8Array;
  readonly publicKeyText: string;
  readonly certificateSha256: Uint8Array;
  readonly certificateSelfSigned: boolean;
  readonly certificateNotAfter: Date;
  readonly http3: boolean;
}

// ---- the slice of @fails-components/webtransport used here (its d.ts types are loose) ------------

/** The certificate-independent part of ServerInfo, from what the server bound. */
export function describeServer(bound: {
  readonly publicKey: Uint8Array;
  /** The host clients reach the UDP port at. */
  readonly publicHost: string;
  readonly udp: Address;
  readonly alternate: Address | null;
  readonly tls: Address;
  readonly metrics: Address | null;
  readonly http3: boolean;
}): Omit<ServerInfo, 'certificateSha256' | 'certificateNotAfter' | 'certificateSelfSigned'> {
  const { publicKey, udp, alternate, tls } = bound;
  const serverAddress: ServerAddress = {
    publicKey,
    udp: { host: normalizeHost(bound.publicHost), port: udp.port },
    webTransportPort: tls.port,
    alternate,
  };
  const urlHost = isIPv6(tls.host) ? `[${tls.host}]` : tls.host;
  return {
    address: formatServerAddress(serverAddress),
    serverAddress,
    udp,
    alternate,
    tls,
    metrics: bound.metrics,
    url: `https://${urlHost}:${tls.port}${RENDEZVOUS_PATH}`,
    publicKey,
    publicKeyText: encodePublicKey(publicKey),
    http3: bound.http3,
  };
}
