/**
 * The Node endpoint's public option and statistics types, and the checks that reject bad options
 * before a core or a socket exists.
 */
import { isIP } from 'node:net';
import type { ConnectionStats, RandomSource, SansIoEndpoint } from '../transport/api.js';
import type { KeyPair } from '../crypto/keys.js';
import type { TransportConfig } from '../transport/config.js';
import type { DatagramKind } from '../wire/types.js';
import type { TraversalLimits } from '../traversal/agent/limits.js';
import type { ServerAddress } from '../traversal/rendezvous/server-address.js';
import { invalidArgument } from './endpoint-errors.js';
import type { UdpBackendChoice, UdpSocketStats } from './udp/udp-socket.js';

/** What the adapter hands to a core factory. */
export interface CoreContext {
  readonly keyPair: KeyPair;
  readonly random: RandomSource;
  readonly now: number;
  readonly transport: Partial<TransportConfig>;
  /** Pre-shared key required from incoming handshakes (psk patterns). */
  readonly psk?: Uint8Array;
}

export type CoreFactory = (context: CoreContext) => SansIoEndpoint;

export interface BindOptions {
  /** UDP port; 0 (default) lets the OS choose. */
  readonly port?: number;
  /** Local address; default '0.0.0.0'. An IPv6 literal binds an 'udp6' socket. */
  readonly host?: string;
  readonly keyPair: KeyPair;
  /** Kernel socket buffers (bytes); default 4 MiB each. */
  readonly recvBufferSize?: number;
  readonly sendBufferSize?: number;
  /** Pre-shared key (32 bytes) required from peers dialling in (e.g. derived from a code phrase). */
  readonly psk?: Uint8Array;
  /** Transport settings (windows, payload size, congestion controller) for every connection. */
  readonly transport?: Partial<TransportConfig>;
  /** Builds the sans-IO core; default: the transport layer's Endpoint. Tests inject fakes here. */
  readonly core?: CoreFactory;
  /**
   * UDP backend: 'native' (batched sendmmsg/GSO + recvmmsg add-on), 'dgram' (node:dgram) or 'auto'
   * (default: native where its add-on is built). PUNCHLINE_UDP_BACKEND overrides it.
   */
  readonly udpBackend?: UdpBackendChoice;
  /**
   * A `punchline server` (its address string or parsed address): the endpoint registers with it and
   * can then `connect(publicKey)` and receive connections by public key from behind NATs.
   */
  readonly server?: string | ServerAddress;
  /** With `server`: which peers' connect requests to answer (default: every peer). */
  readonly acceptPeer?: (publicKey: Uint8Array) => boolean;
  /** With `server`: extra sockets this endpoint consents to open for a birthday search (default 256, 0 = none). */
  readonly birthdaySockets?: number;
  /** With `server`: traversal timers and limits (spec/traversal.md §Timers and limits). */
  readonly traversal?: Partial<TraversalLimits>;
  /**
   * With `server`: ask the default gateway for a port mapping of the socket (NAT-PMP, PCP, UPnP IGD;
   * src/node/port-mapper.ts) and offer it as a `mapped` candidate, which lets peers behind any NAT
   * reach us directly. Off by default: it talks to the gateway and sends SSDP multicast on the LAN.
   */
  readonly portMapping?: boolean;
  /**
   * With `server`, behind a NAT: measure the NAT's UDP binding lifetime in the background against the
   * server's STUN service (RFC 5780 §4.6; two extra sockets, about a minute at most) and match every
   * connection's keepalive to it (default true; false turns it off).
   */
  readonly measureBindingLifetime?: boolean;
}

/** Options of `connect(publicKey)`. */
export interface PeerDialOptions {
  readonly psk?: Uint8Array;
  readonly signal?: AbortSignal;
  /** Whole connect (rendezvous, first path, handshake); default the transport's handshake timeout (10 s). */
  readonly timeoutMs?: number;
}

/** Connection statistics plus how the connection was made (connections by public key). */
export interface PeerConnectionStats extends ConnectionStats {
  /** From connect() (or the peer's request) until the connection could carry data; null before. */
  readonly timeToFirstByteMs: number | null;
  /** From the same start until a direct pair carried the connection; null if it never did. */
  readonly timeToDirectMs: number | null;
  /** Punch probes this side sent for the connection. */
  readonly probesSent: number;
}

export interface DialOptions {
  readonly host: string;
  readonly port: number;
  /** Peer's static public key (Noise IK); omit to learn it during the handshake (Noise XX). */
  readonly publicKey?: Uint8Array;
  readonly psk?: Uint8Array;
  /** Abort the handshake (and the connection). */
  readonly signal?: AbortSignal;
}

export interface RemoteInfo {
  readonly host: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

/** Handler for a non-transport datagram kind on the shared socket (STUN, punch probes, relay). */
export type DatagramHandler = (datagram: Buffer, from: RemoteInfo) => void;

export interface EndpointStats {
  readonly datagramsReceived: number;
  readonly datagramsSent: number;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  /** Non-transport datagrams with no registered handler, and send errors. */
  readonly datagramsDropped: number;
  readonly sendErrors: number;
  /** Times the kernel send buffer was full and flushing paused until it had room again. */
  readonly sendStalls: number;
  readonly received: Readonly<Record<DatagramKind, number>>;
  /** The UDP socket's own counters (backend, system calls, GSO segments, truncated datagrams). */
  readonly socket: UdpSocketStats;
}

/** X25519 keys and pre-shared keys are 32 bytes. */
const KEY_BYTES = 32;

export function checkKey(name: string, key: unknown): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    const got = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    throw invalidArgument(`${name} must be a ${KEY_BYTES}-byte Uint8Array, got ${got}`);
  }
}

export function checkPort(name: string, port: unknown, min: number): void {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < min || port > 65_535) {
    throw invalidArgument(`${name} must be an integer ${min}..65535, got ${String(port)}`);
  }
}

/** Rejects bad bind() options before the core or the socket exists. */
export function checkBindOptions(options: BindOptions): void {
  if (options === null || typeof options !== 'object') throw invalidArgument('bind options must be an object');
  if (options.port !== undefined) checkPort('port', options.port, 0);
  if (options.host !== undefined && (typeof options.host !== 'string' || isIP(options.host) === 0)) {
    throw invalidArgument(`host must be an IPv4 or IPv6 literal, got '${String(options.host)}'`);
  }
  if (options.keyPair === null || typeof options.keyPair !== 'object') throw invalidArgument('keyPair is required');
  checkKey('keyPair.publicKey', options.keyPair.publicKey);
  checkKey('keyPair.secretKey', options.keyPair.secretKey);
  if (options.psk !== undefined) checkKey('psk', options.psk);
  for (const name of ['recvBufferSize', 'sendBufferSize'] as const) {
    const size = options[name];
    if (size !== undefined && !(Number.isInteger(size) && size > 0)) {
      throw invalidArgument(`${name} must be a positive integer, got ${String(size)}`);
    }
  }
}

/** Rejects bad connect() options before the core sees them. */
export function checkDialOptions(options: DialOptions): void {
  if (options === null || typeof options !== 'object') throw invalidArgument('connect options must be an object');
  if (typeof options.host !== 'string' || isIP(options.host) === 0) {
    throw invalidArgument(`host must be an IPv4 or IPv6 literal, got '${String(options.host)}'`);
  }
  checkPort('port', options.port, 1);
  if (options.publicKey !== undefined) checkKey('publicKey', options.publicKey);
  if (options.psk !== undefined) checkKey('psk', options.psk);
}
