/**
 * The UDP socket under a Node endpoint, behind one interface with two backends:
 *
 * - `native` (src/node/udp/native-socket.ts): our N-API add-on (native/punchline_udp.c). Datagrams are
 *   built straight into a preallocated send arena and handed to the kernel in batches with sendmmsg(2),
 *   runs to one destination coalesced with UDP GSO (UDP_SEGMENT, Linux ≥ 4.18); reception drains the
 *   socket with recvmmsg(2) into a preallocated receive arena and calls JavaScript once per batch.
 *   node:dgram costs one JS→C++ call, one SendWrap and one sendto(2) per datagram, and one C++→JS
 *   callback plus a fresh Buffer and rinfo object per received datagram; that per-datagram work, not
 *   the protocol, is what capped throughput (bench:throughput and bench:node-alloc measure it).
 * - `dgram` (src/node/udp/dgram-socket.ts): node:dgram, one datagram per call. Used where the add-on is
 *   not built (no compiler at install time, not Linux) or when asked for.
 *
 * Both obey spec/wire.md §Demultiplexing unchanged: one socket, every protocol on it.
 */

import type { Address } from '../../wire/address.js';

export type { Address } from '../../wire/address.js';

export type UdpBackend = 'native' | 'dgram';
/** 'auto': native where the add-on loads, else dgram. Overridden by PUNCHLINE_UDP_BACKEND. */
export type UdpBackendChoice = UdpBackend | 'auto';

export interface UdpSocketOptions {
  readonly family: 'udp4' | 'udp6';
  /** Local address to bind (an IP literal). */
  readonly host: string;
  /** 0: the OS chooses. */
  readonly port: number;
  /** SO_RCVBUF / SO_SNDBUF requests, bytes. */
  readonly recvBufferSize: number;
  readonly sendBufferSize: number;
  /** Bytes of one send slot / receive slot: the largest datagram sent or received whole. */
  readonly datagramRoom: number;
}

/** What the socket calls back into (the endpoint). Every callback runs on the event loop thread. */
export interface UdpReceiver {
  /**
   * One received datagram. `data` may be a view into a reused receive arena: it is valid only during
   * this call (copy what must outlive it). `from` may be an object reused while the source address
   * stays the same: do not mutate it (keeping it is fine).
   */
  onDatagram(data: Buffer, from: Address, family: 'IPv4' | 'IPv6'): void;
  /** After sendSlot() returned null: the kernel has room again. */
  onWritable(): void;
  /** An asynchronous socket error (not a per-datagram send failure, which is counted as loss). */
  onError(error: Error): void;
}

export interface UdpSocketStats {
  readonly backend: UdpBackend;
  /** Datagrams the kernel accepted / refused with an error other than "queue full". */
  readonly datagramsSent: number;
  readonly sendErrors: number;
  /** Send system calls made (sendmmsg counts once per batch) and datagrams coalesced by GSO. */
  readonly sendSyscalls: number;
  readonly gsoSegments: number;
  /** Datagrams received as segments of a coalesced (UDP GRO) message. */
  readonly groSegments: number;
  /** Receive system calls that returned data, and datagrams received. */
  readonly recvSyscalls: number;
  readonly datagramsReceived: number;
  /** Received datagrams longer than datagramRoom (dropped). */
  readonly truncated: number;
  /** Times the kernel send queue was full. */
  readonly sendStalls: number;
}

export interface UdpSocket {
  readonly backend: UdpBackend;
  readonly family: 'udp4' | 'udp6';
  address(): { host: string; port: number; family: 'IPv4' | 'IPv6' };
  /**
   * A buffer of at least datagramRoom bytes to build the next outgoing datagram in, starting at
   * offset 0; null while the send queue is full (onWritable() follows). Hot path: no allocation.
   * The buffer is valid until the next commit() or send() (a send() in between may take the slot).
   */
  sendSlot(): Buffer | null;
  /**
   * The memory onDatagram's `data` views when the backend receives into one reused arena (native), else
   * null (dgram: a new Buffer per datagram). Caches keyed by a datagram's place in the arena are only
   * valid for datagrams in it (see src/node/relay-views.ts).
   */
  readonly receiveArena: ArrayBufferLike | null;
  /**
   * Queues the datagram just built in the last sendSlot() buffer: its first `length` bytes to `to`.
   * The backend may send it at once (dgram) or at the next flush() / when its batch is full (native).
   * A per-datagram send error is counted, not thrown: for the transport it is datagram loss.
   */
  commit(length: number, to: Address): void;
  /** Hands every committed datagram to the kernel (as far as it takes them). */
  flush(): void;
  /**
   * Sends a copy of `data` (other protocols: STUN, probes, relay). The callback reports the outcome
   * once the kernel took it or refused it.
   */
  send(data: Uint8Array, to: Address, callback: (error: Error | null) => void): void;
  /** Datagrams committed or sent but not yet accepted by the kernel. */
  pendingSends(): number;
  stats(): UdpSocketStats;
  ref(): void;
  unref(): void;
  /** Closes the socket; datagrams not yet accepted by the kernel are dropped. Idempotent. */
  close(): void;
}
