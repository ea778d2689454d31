/**
 * Loads the native UDP add-on (native/punchline_udp.c, built by scripts/build-native.mjs into
 * build/Release/punchline_udp.node) and types its raw functions. NativeUdpSocket (native-socket.ts)
 * is the only intended caller; everything here is unchecked plumbing.
 *
 * Search order: $PUNCHLINE_NATIVE_PATH, then build/Release relative to this module (src/node/udp/ and
 * dist/node/udp/ are both three levels below the package root; so is the benchmark bundle in
 * node_modules/.cache/punchline-bench/). Never the current directory (loading runs the file's code).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** An opened socket, opaque to JavaScript (a tagged N-API external). */
export type NativeUdpHandle = { readonly __brand: 'punchline_udp handle' };

/** Words of slot metadata per tx slot, in txMeta (Int32Array). */
export const META_WORDS = 8;
/** Words of metadata per rx entry, in rxMeta: the tx layout plus the datagram's offset in the rx arena. */
export const RX_META_WORDS = 9;
/**
 * Slot metadata layout; rx is written by the add-on, tx by JavaScript before send():
 * LENGTH (rx: -1 = truncated, dropped; tx after a failed send: -errno), PORT, FAMILY (4 | 6; tx 0 =
 * unparseable host, counted as a send error), SCOPE (IPv6 scope id), ADDRESS..ADDRESS+3: the address
 * bytes in network order as stored in memory (IPv4: word ADDRESS only, the rest zero).
 */
export const META = { LENGTH: 0, PORT: 1, FAMILY: 2, SCOPE: 3, ADDRESS: 4, RX_OFFSET: 8 } as const;
/**
 * rx arena bytes that let the add-on use UDP GRO: 16 messages of 64 KiB each, planned at 64
 * datagrams each (GRO_RX_ENTRIES = 16 × 64 rx entries; a batch with more, e.g. 128-segment GSO sends
 * that crossed loopback whole, is delivered in several onRead calls). A smaller arena reads plain
 * datagrams, one slot each.
 */
export const GRO_RX_ARENA_BYTES = 16 * 65536;
export const GRO_RX_ENTRIES = 16 * 64;

/** Indices into the counters Float64Array the add-on updates in place (no call needed to read them). */
export const COUNTER = {
  /** sendmmsg/sendmsg calls (each counts once, however many datagrams it carried). */
  SEND_SYSCALLS: 0,
  /** Datagrams the kernel accepted. */
  DATAGRAMS_SENT: 1,
  /** Datagrams refused with an error other than EAGAIN (ENOBUFS included: see do_send). */
  SEND_ERRORS: 2,
  /** errno of the last refused datagram. */
  LAST_SEND_ERRNO: 3,
  /** recvmmsg calls that returned data. */
  RECV_SYSCALLS: 4,
  /** Datagrams received whole (truncated ones are not counted here). */
  DATAGRAMS_RECEIVED: 5,
  /** Datagrams longer than a slot: MSG_TRUNC, dropped. */
  TRUNCATED: 6,
  /** Datagrams sent as segments of a GSO (UDP_SEGMENT) message. */
  GSO_SEGMENTS: 7,
  /** Sends that stopped at EAGAIN (then POLLOUT is awaited). */
  SEND_STALLS: 8,
  /** Datagrams received as segments of a coalesced (UDP GRO) message. */
  GRO_SEGMENTS: 9,
} as const;
export const COUNTER_COUNT = 10;

export interface NativeUdpBinding {
  /**
   * Creates a non-blocking UDP socket (IPv6: dual stack, IPV6_V6ONLY off, as node:dgram) on Node's
   * event loop. The tx arena is `txSlots × slotSize` bytes; slot i is bytes [i·slotSize, (i+1)·slotSize),
   * its metadata META_WORDS words at i·META_WORDS. The rx arena is laid out by the add-on (UDP GRO
   * buffers when it is ≥ GRO_RX_ARENA_BYTES and rxSlots ≥ GRO_RX_ENTRIES and the kernel has GRO, else
   * slotSize-byte slots); rx entry i's metadata is RX_META_WORDS words at i·RX_META_WORDS, its datagram
   * at RX_OFFSET. The add-on keeps references to all arguments until close. onRead(n): rx entries
   * [0, n) hold datagrams (n < 0: -errno of a receive error). onWritable(): once, after a send() that
   * consumed fewer slots than asked.
   */
  open(
    ipv6: boolean,
    rxArena: Buffer,
    rxMeta: Int32Array,
    rxSlots: number,
    txArena: Buffer,
    txMeta: Int32Array,
    txSlots: number,
    slotSize: number,
    counters: Float64Array,
    onRead: (count: number) => void,
    onWritable: () => void,
  ): NativeUdpHandle;
  /** Throws a system error (code 'EADDRINUSE', errno, syscall 'bind'). */
  bind(handle: NativeUdpHandle, host: string, port: number): void;
  /** SO_RCVBUF / SO_SNDBUF requests (0: leave as is). */
  setBufferSizes(handle: NativeUdpHandle, recv: number, send: number): void;
  /** [SO_RCVBUF, SO_SNDBUF] as the kernel has them (it doubles requests, capped by sysctls). */
  bufferSizes(handle: NativeUdpHandle): [number, number];
  localAddress(handle: NativeUdpHandle): [host: string, port: number, family: 4 | 6];
  startReading(handle: NativeUdpHandle): void;
  /**
   * Sends tx slots [first, first + count) (first + count ≤ txSlots). Returns how many leading slots were
   * consumed: sent, or refused and counted (their LENGTH word then holds -errno). Fewer than count
   * only when the kernel send buffer is full; onWritable() follows.
   */
  send(handle: NativeUdpHandle, first: number, count: number): number;
  /** Turns UDP GSO coalescing on or off; returns whether it is now on (false without kernel support). */
  setGso(handle: NativeUdpHandle, enabled: boolean): boolean;
  /**
   * Turns UDP GRO on receive on or off (on by default where possible); returns whether it is now on.
   * Before traffic only: a coalesced message queued when it is turned off would be truncated.
   * Throws ERR_PUNCHLINE_UDP_IN_READ from inside onRead (the batch may still be being handed out).
   */
  setGro(handle: NativeUdpHandle, enabled: boolean): boolean;
  ref(handle: NativeUdpHandle, ref: boolean): void;
  /** Idempotent; no callback runs after it. */
  close(handle: NativeUdpHandle): void;
  /** Parses an IP literal (IPv6 with optional %zone) into meta[offset + FAMILY .. ADDRESS+3]; 4 | 6, or 0. */
  parseAddress(host: string, meta: Int32Array, offset: number): 0 | 4 | 6;
  /** The address at meta[offset..] as node:dgram's rinfo.address would spell it. */
  formatAddress(meta: Int32Array, offset: number): string;
  readonly counterCount: number;
}

const ADDON = 'punchline_udp.node';
let loaded: NativeUdpBinding | null | undefined;
let loadError: string | null = null;

function candidates(): string[] {
  const list: string[] = [];
  const override = process.env.PUNCHLINE_NATIVE_PATH;
  if (override) list.push(path.resolve(override));
  const here = path.dirname(fileURLToPath(import.meta.url));
  list.push(path.resolve(here, '..', '..', '..', 'build', 'Release', ADDON));
  // Never the current directory: loading runs the module's code, and a punchline command started in
  // someone else's folder must not run a .node file found there.
  return [...new Set(list)];
}

/** The add-on, or null when it is not built or does not load (see nativeUdpLoadError). Cached. */
export function loadNativeUdp(): NativeUdpBinding | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.platform !== 'linux') {
    loadError = `the native UDP add-on is Linux-only (this is ${process.platform})`;
    return null;
  }
  const require = createRequire(import.meta.url);
  const tried = candidates();
  const failures: string[] = [];
  for (const file of tried) {
    if (!existsSync(file)) continue;
    try {
      const binding = require(file) as NativeUdpBinding;
      if (binding.counterCount !== COUNTER_COUNT) {
        failures.push(`${file}: counter layout ${binding.counterCount} ≠ ${COUNTER_COUNT} (stale build?)`);
        continue;
      }
      loaded = binding;
      loadError = null;
      return binding;
    } catch (error) {
      failures.push(`${file}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  loadError =
    failures.length > 0
      ? `the native UDP add-on failed to load (${failures.join('; ')})`
      : `the native UDP add-on is not built (no ${tried.join(', ')}); run 'npm run build:native'`;
  return null;
}

/** Why loadNativeUdp() returned null (null if it loaded or was not tried yet). */
export function nativeUdpLoadError(): string | null {
  if (loaded === undefined) loadNativeUdp();
  return loadError;
}
