/**
 * The sans-IO transport contract (quinn-proto style). Nothing here touches a socket, a timer, the
 * clock or a random source: the caller passes `now` (milliseconds, monotonic, may be fractional) and
 * an injected `random` function, feeds received datagrams in, and pulls datagrams to send out.
 *
 * Driving loop of an adapter (node adapter, simulator, tests):
 *   endpoint.receive(datagram, from, now)          for each datagram that arrives
 *   while ((t = endpoint.pollTransmit(now, buf)))  send buf[0..t.length) to t.destination
 *   while ((e = endpoint.pollEvent()))             hand events to the application
 *   arm one timer for endpoint.nextDeadline(); when it fires: endpoint.onTimeout(now)
 */

import type { Address } from '../wire/address.js';

export type { Address } from '../wire/address.js';
export type { RandomSource } from '../crypto/sodium.js';

/** A datagram produced by pollTransmit: `length` bytes at the start of the caller's buffer. */
export interface Transmit {
  readonly destination: Address;
  readonly length: number;
}

/**
 * A datagram produced by pollTransmit of a core that builds its own small messages (STUN, rendezvous
 * control): `data` is the core's to give away, the caller sends it as is.
 */
export interface DataTransmit {
  readonly destination: Address;
  readonly data: Uint8Array;
}

/** Where a connection reports events (the endpoint's queue). */
export interface EventSink {
  push(event: ConnectionEvent): void;
}

/** Why a connection ended. `application` false means a transport error code (spec/wire.md). */
export interface CloseReason {
  readonly errorCode: number;
  readonly application: boolean;
  readonly reason: string;
  /** true when the peer closed, false when this side did (or a local timeout fired). */
  readonly remote: boolean;
}

export interface ConnectionStats {
  readonly smoothedRttMs: number;
  readonly minRttMs: number;
  readonly rttVarianceMs: number;
  readonly congestionWindowBytes: number;
  readonly bytesInFlight: number;
  /** Current queueing-delay estimate of the congestion controller (LEDBAT), ms. */
  readonly queueingDelayMs: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly packetsSent: number;
  readonly packetsReceived: number;
  readonly packetsLost: number;
  readonly streamBytesSent: number;
  readonly streamBytesReceived: number;
  readonly datagramsDropped: number;
  /** Keepalive interval in use (ms), learned from the NAT's mapping lifetime (keepalive.ts). */
  readonly keepAliveIntervalMs?: number;
  /** Largest UDP payload the active path carries now (DPLPMTUD, RFC 8899; pmtud.ts). */
  readonly pathMtu?: number;
  /** How long the last path MTU search took from its first probe (ms; -1: none completed yet). */
  readonly pathMtuSearchMs?: number;
  /** Times the active path changed to a validated new address. */
  readonly migrations?: number;
}

/** Events a connection reports through TransportEndpoint.pollEvent(). */
export type ConnectionEvent =
  | { readonly type: 'connected'; readonly connection: ConnectionHandle }
  | { readonly type: 'incoming'; readonly connection: ConnectionHandle }
  | { readonly type: 'stream-opened'; readonly connection: ConnectionHandle; readonly streamId: number }
  | { readonly type: 'stream-readable'; readonly connection: ConnectionHandle; readonly streamId: number }
  | { readonly type: 'stream-writable'; readonly connection: ConnectionHandle; readonly streamId: number }
  | {
      readonly type: 'stream-reset';
      readonly connection: ConnectionHandle;
      readonly streamId: number;
      readonly errorCode: number;
    }
  | {
      readonly type: 'stream-stop-sending';
      readonly connection: ConnectionHandle;
      readonly streamId: number;
      readonly errorCode: number;
    }
  | { readonly type: 'datagram'; readonly connection: ConnectionHandle; readonly data: Uint8Array }
  /** The active path changed: the peer's address moved (NAT rebinding), or a probed path validated. */
  | { readonly type: 'path-changed'; readonly connection: ConnectionHandle; readonly remote: Address }
  /** probePath(remote) failed: no PATH_RESPONSE in time; the connection stayed on its path. */
  | { readonly type: 'path-validation-failed'; readonly connection: ConnectionHandle; readonly remote: Address }
  | { readonly type: 'closed'; readonly connection: ConnectionHandle; readonly reason: CloseReason };

/** Result of reading from a stream. */
export type StreamRead =
  | { readonly kind: 'data'; readonly data: Uint8Array }
  | { readonly kind: 'fin' } // every byte was read and the peer finished the stream
  | { readonly kind: 'blocked' } // nothing buffered now; wait for 'stream-readable'
  | { readonly kind: 'reset'; readonly errorCode: number };

/**
 * What the application (through an adapter) does with one connection. Every method is synchronous and
 * side-effect only on in-memory state; resulting packets come out of TransportEndpoint.pollTransmit().
 */
export interface ConnectionHandle {
  /** Stable per endpoint, for maps in adapters. */
  readonly id: number;
  readonly remoteAddress: Address;
  /** Peer's static public key (32 bytes), known once the handshake authenticated it. */
  readonly remotePublicKey: Uint8Array | null;
  readonly isClient: boolean;
  readonly state: 'handshaking' | 'established' | 'closing' | 'draining' | 'closed';

  /** Opens a new stream; throws TransportError ERR_PUNCHLINE_STREAM_LIMIT if the peer's MAX_STREAMS forbids it. */
  openStream(bidirectional: boolean): number;
  /**
   * Queues bytes on a stream and returns how many were accepted (0..data.length). Fewer than all
   * means the stream's send buffer is full: wait for 'stream-writable'. The data is copied.
   */
  write(streamId: number, data: Uint8Array): number;
  /** Marks the end of what this side sends on the stream (FIN after everything queued). */
  finish(streamId: number): void;
  /** Reads the next in-order chunk of the stream (at most maxBytes). */
  read(streamId: number, maxBytes?: number): StreamRead;
  resetStream(streamId: number, errorCode: number): void;
  stopSending(streamId: number, errorCode: number): void;
  /** Sends an unreliable datagram; false if it exceeds maxDatagramSize() or the queue is full. */
  sendDatagram(data: Uint8Array): boolean;
  maxDatagramSize(): number;
  /**
   * Validates `remote` as a new path to the peer: PATH_CHALLENGE at once (outside the congestion
   * window, on its own timer); 'path-changed' and the switch when it is answered,
   * 'path-validation-failed' (and no change) when it is not. Throws like openStream when not open.
   */
  probePath(remote: Address): void;
  /**
   * This side now sends from another local address (Endpoint.rebind): speak up at once so the peer
   * validates the new address, on a fresh connection ID (RFC 9000 §9.2, §9.5).
   */
  localAddressChanged?(now: number): void;
  /**
   * A measured NAT binding lifetime (RFC 5780 §4.6): `aliveMs` survived, `expiredMs` (null: unknown)
   * did not. The keepalive interval starts from it instead of the default (keepalive.ts).
   */
  seedKeepAlive?(aliveMs: number, expiredMs: number | null): void;
  /**
   * The adapter moved the connection onto another network path behind the same address (a relay ↔
   * direct switch): RTT, congestion and path MTU state start over (RFC 9000 §9.4).
   */
  networkPathChanged?(now: number): void;
  /** Graceful close: everything written before is delivered first unless `errorCode` is non-zero. */
  close(errorCode?: number, reason?: string): void;
  stats(): ConnectionStats;
}

/** Options for dialling a peer. */
export interface ConnectOptions {
  /** The peer's static X25519 public key (32 bytes): Noise IK. Omit to use Noise XX (learn it). */
  readonly remotePublicKey?: Uint8Array;
  /** Pre-shared key (32 bytes) bound into the handshake (psk variant), e.g. from a code phrase. */
  readonly psk?: Uint8Array;
}

/**
 * The sans-IO endpoint: owns every connection on one UDP socket and routes datagrams to them by
 * connection ID. Only transport packets (long/short headers, spec/wire.md) are fed to it; an adapter
 * sharing the socket hands STUN, punch probes and relay frames to their own handlers first
 * (classifyDatagram in src/wire).
 */
export interface SansIoEndpoint {
  connect(remote: Address, options: ConnectOptions, now: number): ConnectionHandle;
  /**
   * One received datagram. Both it and `from` are borrowed for the call only: the adapter may reuse
   * the datagram's memory (the native UDP backend's receive arena) and hands the same frozen `from`
   * for every datagram of a source. An implementation copies what it keeps (and must not detach or
   * transfer the datagram's ArrayBuffer).
   */
  receive(datagram: Uint8Array, from: Address, now: number): void;
  /**
   * Next datagram to send, written into `buffer` (≥ 1500 bytes; borrowed for the call: it is the
   * socket's send slot); null when nothing is due now.
   */
  pollTransmit(now: number, buffer: Uint8Array): Transmit | null;
  pollEvent(): ConnectionEvent | null;
  /** Earliest time onTimeout must be called; Infinity when nothing is scheduled. */
  nextDeadline(): number;
  onTimeout(now: number): void;
  /** Closes every connection gracefully. */
  close(now: number): void;
  readonly connections: ReadonlyMap<number, ConnectionHandle>;
}
