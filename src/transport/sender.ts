/**
 * What goes into the connection's next datagram (cf. aioquic `_write_application`): the congestion
 * window and the pacer decide whether data may go (RFC 9002 §7); then ACK, path frames, stream and
 * flow-control frames, PING, DATAGRAMs (RFC 9221) and STREAM data fill one short-header packet, which
 * is recorded for loss recovery. Also the packets outside congestion control: PATH_CHALLENGE probes
 * of other paths and CLOSE.
 *
 * Hot path: no allocation per packet. Packets are built and sealed in txBuf, then copied into the
 * caller's buffer (or built in that buffer directly when the caller passes the same one every time,
 * see pollData). The packet layouts repeat in these fixed buffers, so the AEAD views
 * (PacketProtection) are reused instead of made per packet; a copy is one memcpy.
 */
import type { PacketProtection } from '../crypto/packet-protection.js';
import { packetNumberLength } from '../wire/packet-number.js';
import { MIN_INITIAL_DATAGRAM_SIZE } from '../wire/types.js';
import type { TransportConfig } from './config.js';
import type { ConnectionIds } from './connection-ids.js';
import type { OutgoingClose } from './connection-state.js';
import type { IdleClock } from './idle-clock.js';
import { PacketBuilder } from './packet-builder.js';
import { Pacer } from './pacer.js';
import type { Path } from './path.js';
import type { PathMtuDiscovery } from './pmtud.js';
import type { Paths } from './paths.js';
import type { AckTracker } from './recovery/ack-tracker.js';
import type { LossDetection } from './recovery/loss-detection.js';
import type { RttEstimator } from './recovery/rtt-estimator.js';
import { SentFrame } from './recovery/sent-packets.js';
import type { Streams } from './streams/streams.js';
import { Timer, type TimerTable } from './timers.js';

/** Smallest packet worth building (header, a few frames, tag). */
export const MIN_PACKET_SIZE = 64;
/** Entries of the txBuf view cache (power of two). */
const TX_VIEW_CACHE_SIZE = 8;

/** The parts of the connection a packet is assembled from. */
export interface SenderParts {
  readonly recovery: LossDetection;
  readonly rtt: RttEstimator;
  readonly ackTracker: AckTracker;
  readonly paths: Paths;
  readonly streams: Streams;
  readonly idle: IdleClock;
  /** Path MTU discovery (RFC 8899): the size of data packets and of probes; null: fixed size. */
  readonly pmtud: PathMtuDiscovery | null;
  /** Connection IDs once established (NEW/RETIRE_CONNECTION_ID owed); null before. */
  connectionIds: ConnectionIds | null;
  /** The sender sets the Pacing row. */
  readonly timers: TimerTable;
}

export class PacketSender {
  private readonly builder = new PacketBuilder();
  private readonly pacer: Pacer;
  /** Allocated by the first data packet (see txBuf): a half-open connection sends none. */
  private txStorage: Uint8Array | null = null;
  private readonly maxSize: number;
  /** Views txBuf[0, length) for the copy out, direct-mapped by length. */
  private readonly txViews: Uint8Array[] = [];
  /** The buffer of the previous pollData (see there). */
  private lastTxTarget: Uint8Array | null = null;
  private readonly datagrams: Uint8Array[] = [];
  private ping = false;
  /** PTO probes still to send (RFC 9002 §6.2.4): they ignore the congestion window. */
  private probes = 0;
  // Numbers from the start (not undefined): V8 then stores the fractional times in place.
  private lastAckElicitingSentAt = 0;
  private bytes = 0;
  private packets = 0;
  private datagramsDroppedCount = 0;

  constructor(
    private readonly config: TransportConfig,
    maxSize: number,
    private readonly parts: SenderParts,
    now: number,
  ) {
    this.pacer = new Pacer(maxSize);
    this.maxSize = maxSize;
    this.lastAckElicitingSentAt = now;
  }

  /** The buffer packets are built and sealed in, allocated once, on first use. */
  private get txBuf(): Uint8Array {
    if (this.txStorage !== null) return this.txStorage;
    const tx = new Uint8Array(this.maxSize);
    for (let i = 0; i < TX_VIEW_CACHE_SIZE; i++) this.txViews.push(tx.subarray(0, 0));
    this.txStorage = tx;
    return tx;
  }

  get pingPending(): boolean {
    return this.ping;
  }
  get probesPending(): number {
    return this.probes;
  }
  get lastAckElicitingSent(): number {
    return this.lastAckElicitingSentAt;
  }
  get bytesSent(): number {
    return this.bytes;
  }
  get packetsSent(): number {
    return this.packets;
  }
  get datagramsDropped(): number {
    return this.datagramsDroppedCount;
  }
  get hasQueuedDatagrams(): boolean {
    return this.datagrams.length > 0;
  }

  /** Something ack-eliciting must go out (handshake confirmation, keep-alive). */
  requestPing(): void {
    this.ping = true;
  }

  /** The connection issues and retires connection IDs from now on (their frames go out with data). */
  useConnectionIds(ids: ConnectionIds): void {
    this.parts.connectionIds = ids;
  }

  /** The handshake completed: elicit an ACK at once so the peer learns it (confirmation). */
  onHandshakeComplete(now: number): void {
    this.lastAckElicitingSentAt = now;
    this.ping = true;
  }

  /** The loss timer fired with `probes` PTO probes to send; a PING when there is nothing else. */
  onProbeTimeout(probes: number): void {
    if (probes <= 0) return;
    this.probes = probes;
    if (!this.hasSendable()) this.ping = true;
  }

  /** Queues an unreliable datagram (copied); false when the queue is full (counted as dropped). */
  queueDatagram(data: Uint8Array): boolean {
    if (this.datagrams.length >= this.config.datagramSendQueueLength) {
      this.datagramsDroppedCount++;
      return false;
    }
    this.datagrams.push(data.slice());
    return true;
  }

  /** A handshake datagram went out (built by handshake.ts). */
  countSent(length: number): void {
    this.bytes += length;
    this.packets++;
  }

  private hasSendable(): boolean {
    return (
      this.ping ||
      this.datagrams.length > 0 ||
      this.parts.streams.hasSendable ||
      this.parts.paths.active.hasPending ||
      (this.parts.connectionIds !== null && this.parts.connectionIds.hasPending)
    );
  }

  /**
   * The next short-header packet on the active path, into buf; its length, or 0 when nothing may or
   * need go now. Hot path.
   */
  pollData(now: number, buf: Uint8Array, protection: PacketProtection, remoteCid: Uint8Array): number {
    const { recovery, rtt, ackTracker, paths, pmtud } = this.parts;
    const active = paths.active;
    // Unvalidated address: stay within the anti-amplification budget (smaller packets are fine).
    const pathSize = pmtud === null ? active.maxDatagramSize : pmtud.mtu;
    const maxSize = Math.min(pathSize, buf.length, active.budget);
    if (maxSize < MIN_PACKET_SIZE) return 0;
    const cc = recovery.cc;
    let canSendData = this.probes > 0 || this.hasSendable();
    if (!canSendData) recovery.onPacingHeld(false); // nothing ready: not held by the pacer
    // A PATH_RESPONSE owed goes at once, whatever the window: the peer's migration waits for it and a
    // full window may be waiting on ACKs that go to the address it left (RFC 9000 §8.2.2, §9.3).
    if (canSendData && this.probes === 0 && !active.hasPending) {
      if (recovery.bytesInFlight + maxSize > cc.window) {
        canSendData = false;
      } else if (this.config.pacing) {
        this.pacer.update(cc, rtt);
        const at = this.pacer.nextSendTime(now, maxSize);
        if (at > now) {
          this.parts.timers.at[Timer.Pacing] = at;
          canSendData = false;
          // Data was ready and only the pacer held it: the next packet counts as cwnd-limited.
          recovery.onPacingHeld(true);
        }
      }
    }
    if (!canSendData && !ackTracker.wantsAck(now)) return 0;
    // A caller that hands us the same buffer every time gets its packets built in place (the AEAD
    // views cached for that buffer are reused); one that rotates buffers (the native socket's send
    // slots) gets them built in txBuf and copied, so that no per-packet views are needed either way.
    // The OpenSSL AEAD (sealsFromSource) takes the packet with offsets and needs no views: always in
    // place, one 1.4-KB copy per datagram less.
    const direct = buf === this.lastTxTarget || protection.sealsFromSource;
    this.lastTxTarget = buf;
    const length = this.buildPacket(now, direct ? buf : this.txBuf, protection, remoteCid, maxSize, canSendData);
    if (length !== 0 && !direct) buf.set(this.txView(length), 0);
    return length;
  }

  /** txBuf[0, length), cached (full-size data packets all have the same length). */
  private txView(length: number): Uint8Array {
    const i = length & (TX_VIEW_CACHE_SIZE - 1);
    let v = this.txViews[i] as Uint8Array;
    if (v.length !== length) {
      v = this.txBuf.subarray(0, length);
      this.txViews[i] = v;
    }
    return v;
  }

  private buildPacket(
    now: number,
    buf: Uint8Array,
    protection: PacketProtection,
    remoteCid: Uint8Array,
    maxSize: number,
    canSendData: boolean,
  ): number {
    const { recovery, ackTracker, paths, streams } = this.parts;
    const pn = recovery.nextPn;
    const pnLength = packetNumberLength(pn, recovery.largestAcked < 0 ? null : recovery.largestAcked);
    const record = recovery.sent.acquire();
    const b = this.builder;
    b.begin(buf, remoteCid, pn, pnLength, protection.sendKeyPhase, maxSize, record);
    if (ackTracker.pending && b.writeAck(ackTracker, now)) ackTracker.onAckSent();
    if (canSendData) {
      paths.active.writeFrames(b, now);
      const ids = this.parts.connectionIds;
      if (ids !== null && ids.hasPending) ids.writeFrames(b);
      streams.writeControlFrames(b);
      if (this.ping && b.writePing()) this.ping = false;
      const datagrams = this.datagrams;
      while (datagrams.length > 0 && b.writeDatagram(datagrams[0] as Uint8Array)) datagrams.shift();
      streams.writeStreamFrames(b);
      if (this.probes > 0 && !b.ackEliciting) b.writePing();
    }
    if (b.isEmpty) {
      recovery.sent.release(record);
      return 0;
    }
    const length = b.finish(protection);
    record.stamp(now, length, b.ackEliciting, b.ackEliciting);
    recovery.onPacketSent(record);
    paths.active.onSent(length);
    this.bytes += length;
    this.packets++;
    if (b.ackEliciting) {
      if (this.probes > 0) this.probes--;
      else if (this.config.pacing) this.pacer.onSent(now, length);
      this.lastAckElicitingSentAt = now;
      this.parts.idle.onAckElicitingSent(now);
    }
    return length;
  }

  /**
   * A PATH_CHALLENGE to a probed path, padded to 1200 bytes (RFC 9000 §8.2.1). Outside congestion
   * control (not in flight): it is no data and must not wait for the active path's window (RFC 9000
   * §9.1); its repetition is the probe timer's, not loss recovery's.
   */
  probe(now: number, buf: Uint8Array, protection: PacketProtection, remoteCid: Uint8Array, path: Path): number {
    const recovery = this.parts.recovery;
    const pn = recovery.nextPn;
    const pnLength = packetNumberLength(pn, recovery.largestAcked < 0 ? null : recovery.largestAcked);
    const record = recovery.sent.acquire();
    const b = this.builder;
    // An address the peer's packets claimed gets at most 3× what came from it (RFC 9000 §8.2.1: the
    // 1200-byte padding gives way to the anti-amplification limit).
    const size = Math.min(path.maxDatagramSize, buf.length, path.budget);
    b.begin(this.txBuf, remoteCid, pn, pnLength, protection.sendKeyPhase, size, record);
    path.writeProbeChallenge(b, now);
    if (b.isEmpty) {
      recovery.sent.release(record);
      return 0;
    }
    b.padTo(Math.min(MIN_INITIAL_DATAGRAM_SIZE, size));
    const length = b.finish(protection);
    record.stamp(now, length, true, false);
    recovery.onPacketSent(record);
    path.onSent(length);
    this.bytes += length;
    this.packets++;
    buf.set(this.txView(length), 0);
    return length;
  }

  /**
   * A DPLPMTUD probe of exactly `size` bytes: PING and PADDING (RFC 9000 §14.4, RFC 8899 §4.1). Not in
   * flight: its loss means "too big", not congestion (RFC 8899 §4.4); the PmtuProbe record tells
   * the connection when it was acknowledged or lost.
   */
  pmtuProbe(
    now: number,
    buf: Uint8Array,
    protection: PacketProtection,
    remoteCid: Uint8Array,
    size: number,
    timeoutMs: number,
  ): number {
    const { recovery, pmtud } = this.parts;
    if (pmtud === null || size > buf.length || size > this.txBuf.length) return 0;
    const pn = recovery.nextPn;
    const pnLength = packetNumberLength(pn, recovery.largestAcked < 0 ? null : recovery.largestAcked);
    const record = recovery.sent.acquire();
    const b = this.builder;
    b.begin(this.txBuf, remoteCid, pn, pnLength, protection.sendKeyPhase, size, record);
    b.writePing();
    b.padTo(size);
    const length = b.finish(protection);
    record.addFrame(SentFrame.PmtuProbe, pn, length, 0);
    record.stamp(now, length, true, false);
    recovery.onPacketSent(record);
    this.parts.paths.active.onSent(length);
    this.bytes += length;
    this.packets++;
    pmtud.onProbeSent(pn, length, now, timeoutMs);
    buf.set(this.txView(length), 0);
    return length;
  }

  /**
   * A packet with only CLOSE (not ack-eliciting, not recorded), of at most `maxLength` bytes (the reason is cut to fit); 0 when
   * not even the frame without its reason fits (nothing is sent or counted).
   */
  close(
    buf: Uint8Array,
    protection: PacketProtection,
    remoteCid: Uint8Array,
    frame: OutgoingClose,
    maxLength = buf.length,
  ): number {
    const recovery = this.parts.recovery;
    const pn = recovery.nextPn;
    const record = recovery.sent.acquire();
    const b = this.builder;
    b.begin(buf, remoteCid, pn, 4, protection.sendKeyPhase, Math.min(this.txBuf.length, buf.length, maxLength), record);
    if (!b.writeClose(frame.application, frame.errorCode, frame.reason)) {
      recovery.sent.release(record);
      return 0;
    }
    const length = b.finish(protection);
    recovery.sent.release(record);
    recovery.onUnrecordedPacketSent(pn);
    this.bytes += length;
    this.packets++;
    return length;
  }
}
