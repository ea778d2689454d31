import type { AckRange } from '../../wire/types.js';
import type { AckSample, CongestionController } from '../congestion/controller.js';
import { TIMER_GRANULARITY_MS } from '../config.js';
import type { RttEstimator, RttSample } from './rtt-estimator.js';
import { SENT_FRAME_STRIDE, SentPackets, type SentPacket } from './sent-packets.js';

/** Receives what acknowledged or lost packets carried (implemented by the connection). */
/**
 * Sees the size of lost in-flight packets and of the largest newly acknowledged one (DPLPMTUD's
 * black-hole detection, RFC 8899 §4.3). Not on the per-packet ACK path: one call per ACK frame.
 */
export interface PacketSizeObserver {
  onLargestAcked(pn: number, size: number, now: number): void;
  onInFlightLost(pn: number, size: number, now: number): void;
}

export interface SentFrameHandler {
  onFrameAcked(kind: number, a: number, b: number, c: number): void;
  onFrameLost(kind: number, a: number, b: number, c: number): void;
}

/** What LossDetection.onAck reads of an ACK frame (the wire AckFrame has these fields). */
export interface AckInfo {
  /** Descending; ranges[0].largest is the largest acknowledged. */
  readonly ranges: readonly AckRange[];
  readonly ackDelayMicros: number;
  /** Peer's receive time of the largest acknowledged packet, µs on its clock. */
  readonly receiveTimestampMicros: number;
}

/** RFC 9002 §6.1.1 kPacketThreshold. */
export const PACKET_THRESHOLD = 3;
/** Longest probe timeout period after backoff (ms). */
const MAX_PTO_PERIOD_MS = 1000;
/** Largest packet reordering threshold adaptation may reach (RFC 9002 §6.1.1: implementations MAY adapt it). */
const MAX_PACKET_THRESHOLD = 64;
/** Largest multiple of RFC 9002's time threshold (9/8 · RTT) adaptation may reach: 9/4 · RTT. */
const MAX_TIME_THRESHOLD_FACTOR = 2;
/** Packets declared lost remembered for spotting late acknowledgments (spurious losses). */
const LOST_LOG_SIZE = 256;
const NO_LOSSES_F64 = new Float64Array(0);
const NO_LOSSES_U8 = new Uint8Array(0);
/** RFC 9002 §7.6.1 kPersistentCongestionThreshold. */
const PERSISTENT_CONGESTION_THRESHOLD = 3;

/**
 * Loss detection and probe timeout, RFC 9002 §6 (one packet number space: the handshake runs on
 * long-header packets with their own retransmission timer in the connection).
 */
export class LossDetection {
  readonly sent = new SentPackets();
  private nextPacketNumber = 0;
  largestAcked = -1;
  bytesInFlight = 0;
  ackElicitingInFlight = 0;
  lossTime = Infinity;
  ptoCount = 0;
  timeOfLastAckEliciting = -Infinity;
  packetsLost = 0;
  /**
   * The pacer held back data that was ready to send (onPacingHeld); the next in-flight packet counts
   * as cwnd-limited if at least half the window is in flight (RFC 9002 §7.8: pacing-limited sending
   * may still grow the window). Cleared once that packet is registered.
   */
  private pacingLimited = false;
  private readonly sample: { -readonly [K in keyof AckSample]: AckSample[K] } = {
    ackedBytes: 0,
    priorInFlight: 0,
    sentInFlight: 0,
    largestAckedSentTime: 0,
    latestRtt: NaN,
    smoothedRtt: 0,
    minRtt: 0,
    oneWayDelay: NaN,
    appLimited: false,
  };
  /** Reused RTT sample for rtt.updateFrom (hot path: its numbers would be boxed as arguments). */
  private readonly rttSample: { -readonly [K in keyof RttSample]: RttSample[K] } = { latestRtt: 0, ackDelay: 0 };
  /** Peer's max_ack_delay (ms), from its transport parameters. */
  private peerMaxAckDelayMs = 25;
  /**
   * Reordering tolerance, adapted when a packet declared lost is acknowledged after all (RFC 9002
   * §6.1.1 / §6.1.2 allow adapting both thresholds; cf. RACK, RFC 8985 §6.2, and Linux's reordering
   * estimate): the packet threshold grows to the observed reordering distance + 1, the time
   * threshold by 1/8 of itself per spurious loss declared by time, up to the caps above.
   */
  packetThreshold = PACKET_THRESHOLD;
  timeThresholdFactor = 1;
  /** Losses later found spurious (the packet was acknowledged after being declared lost). */
  spuriousLosses = 0;
  /**
   * Recently declared lost packets (ring, in packet-number order): pn, what declared it (1 = packet
   * threshold, 0 = time), the largest acknowledged pn then, the loss episode, and when.
   */
  // Allocated at the first loss (~8.5 KB): a half-open connection, or one that never loses a packet,
  // does not carry it. Only read while lostCount > 0.
  private lostPn = NO_LOSSES_F64;
  private lostByPacketThreshold = NO_LOSSES_U8;
  private lostLargestAcked = NO_LOSSES_F64;
  private lostEpisode = NO_LOSSES_F64;
  private lostAt = NO_LOSSES_F64;
  private lostHead = 0;
  private lostCount = 0;
  /**
   * One loss episode = the losses one congestion response covers (packets sent before the episode
   * began, the controllers' once-per-RTT rule). When every packet of the current episode turns out
   * delivered, the response was spurious and the controller is asked to undo it.
   */
  private episode = 0;
  private episodeStart = -Infinity;
  private episodeLost = 0;
  private episodeSpurious = 0;
  /** The current episode's response was undone already (undo once: later losses may be real). */
  private episodeUndone = false;
  private congestion: CongestionController;

  constructor(
    readonly rtt: RttEstimator,
    cc: CongestionController,
    private readonly handler: SentFrameHandler,
    /** Max datagram size (bytes): a packet is cwnd-limited when in flight ≥ window − this. */
    private readonly maxDatagramSize = 1200,
    /** DPLPMTUD's black-hole detection (pmtud.ts), when path MTU discovery runs. */
    private readonly sizeObserver: PacketSizeObserver | null = null,
  ) {
    this.congestion = cc;
  }

  /** The congestion controller of the active path. */
  get cc(): CongestionController {
    return this.congestion;
  }

  /** The packet number the next packet sent gets. */
  get nextPn(): number {
    return this.nextPacketNumber;
  }

  /** Peer's max_ack_delay (ms): 25 until its transport parameters say otherwise. */
  get peerMaxAckDelay(): number {
    return this.peerMaxAckDelayMs;
  }

  /** The peer's transport parameters arrived (RFC 9000 §18.2 max_ack_delay). */
  setPeerMaxAckDelay(ms: number): void {
    this.peerMaxAckDelayMs = ms;
  }

  /**
   * Whether the pacer held back data that was ready (true), or there was nothing ready to send
   * (false): see pacingLimited.
   */
  onPacingHeld(held: boolean): void {
    this.pacingLimited = held;
  }

  /** A new path (RFC 9000 §9.4): congestion control starts over with `cc`. */
  resetCongestion(cc: CongestionController): void {
    this.congestion = cc;
  }

  /** Registers a packet just sent (the record came from sent.acquire()); the next one gets p.pn + 1. */
  onPacketSent(p: SentPacket): void {
    this.nextPacketNumber = p.pn + 1;
    this.sent.add(p);
    p.cwndLimited = false;
    p.inFlightAtSend = 0;
    if (p.inFlight) {
      this.bytesInFlight += p.size;
      p.inFlightAtSend = this.bytesInFlight;
      // RFC 9002 §7.8: remember whether this send used (nearly) the whole window, so ACKs of packets
      // sent while application-, CPU- or flow-control-limited don't grow it. Pacing-limited sends
      // count too, but only with at least half the window in flight (cf. Linux tcp_is_cwnd_limited in
      // slow start): bursts of flow-control credit meeting the pacer can't inflate the window forever.
      const inFlight = this.bytesInFlight;
      const window = this.congestion.window;
      p.cwndLimited = inFlight + this.maxDatagramSize >= window || (this.pacingLimited && 2 * inFlight >= window);
      this.pacingLimited = false;
      if (p.ackEliciting) {
        this.ackElicitingInFlight++;
        this.timeOfLastAckEliciting = p.timeSent;
      }
      this.congestion.onPacketSent(p.timeSent, p.size, this.bytesInFlight);
    }
  }

  /** A packet that is not recorded (only CLOSE) went out with packet number `pn`. */
  onUnrecordedPacketSent(pn: number): void {
    this.nextPacketNumber = pn + 1;
  }

  /**
   * Processes an ACK frame (§6 / §A.7). Returns false when it acknowledges a packet never sent
   * (PROTOCOL_VIOLATION). Takes the frame itself (the decoder's reused AckFrame on the hot path):
   * its numbers are read here, as a double passed to a call that is not inlined would be boxed.
   */
  onAck(ack: AckInfo, now: number, handshakeConfirmed: boolean): boolean {
    const ranges = ack.ranges;
    const first = ranges[0];
    if (first === undefined) return true;
    const largest = first.largest;
    if (largest >= this.nextPacketNumber) return false;
    if (largest > this.largestAcked) this.largestAcked = largest;

    let ackedBytes = 0;
    let newlyAckEliciting = false;
    let largestNewlyAcked = -1;
    let largestNewlyAckedSize = 0;
    let largestNewlyAckedSentTime = 0;
    let largestNewlyAckedWasLargest = false;
    let cwndLimited = false;
    let sentInFlight = 0;
    const priorInFlight = this.bytesInFlight;
    if (this.lostCount > 0) this.forgetOldLosses(now);
    for (let r = ranges.length - 1; r >= 0; r--) {
      const range = ranges[r] as AckRange;
      if (this.lostCount > 0) this.checkSpurious(range.smallest, range.largest, now);
      const lo = Math.max(range.smallest, this.sent.smallestPn);
      const hi = Math.min(range.largest, this.sent.endPn - 1);
      for (let pn = lo; pn <= hi; pn++) {
        const p = this.sent.remove(pn);
        if (p === null) continue;
        if (p.inFlight) {
          this.bytesInFlight -= p.size;
          ackedBytes += p.size;
          if (p.cwndLimited) cwndLimited = true;
          if (p.inFlightAtSend > sentInFlight) sentInFlight = p.inFlightAtSend;
          if (p.ackEliciting) this.ackElicitingInFlight--;
        }
        if (p.ackEliciting) newlyAckEliciting = true;
        if (pn > largestNewlyAcked) {
          largestNewlyAckedSize = p.size;
          largestNewlyAcked = pn;
          largestNewlyAckedSentTime = p.timeSent;
          largestNewlyAckedWasLargest = pn === largest;
        }
        const f = p.frames;
        for (let i = 0; i < p.frameWords; i += SENT_FRAME_STRIDE) {
          this.handler.onFrameAcked(f[i] as number, f[i + 1] as number, f[i + 2] as number, f[i + 3] as number);
        }
        this.sent.release(p);
      }
    }
    if (largestNewlyAcked < 0) return true;
    if (this.sizeObserver !== null) this.sizeObserver.onLargestAcked(largestNewlyAcked, largestNewlyAckedSize, now);

    let latestRtt = NaN;
    if (largestNewlyAckedWasLargest && newlyAckEliciting) {
      latestRtt = Math.max(now - largestNewlyAckedSentTime, 0);
      const ackDelayMs = ack.ackDelayMicros / 1000;
      const ackDelay = handshakeConfirmed ? Math.min(ackDelayMs, this.peerMaxAckDelayMs) : ackDelayMs;
      const rs = this.rttSample;
      rs.latestRtt = latestRtt;
      rs.ackDelay = ackDelay;
      this.rtt.updateFrom(rs);
    }
    // One-way delay for delay-based control: peer's receive clock minus our send clock.
    const oneWayDelay = largestNewlyAckedWasLargest
      ? ack.receiveTimestampMicros / 1000 - largestNewlyAckedSentTime
      : NaN;

    this.detectLost(now);
    const sample = this.sample; // reused: controllers must not keep it
    sample.ackedBytes = ackedBytes;
    sample.priorInFlight = priorInFlight;
    sample.sentInFlight = sentInFlight;
    sample.largestAckedSentTime = largestNewlyAckedSentTime;
    sample.latestRtt = latestRtt;
    sample.smoothedRtt = this.rtt.smoothedRtt;
    sample.minRtt = this.rtt.minRtt;
    sample.oneWayDelay = oneWayDelay;
    sample.appLimited = !cwndLimited;
    this.congestion.onAck(now, sample);
    this.ptoCount = 0;
    return true;
  }

  /**
   * Packets in [smallest, largest] that were declared lost and are acknowledged now: reordering, not
   * loss. Adapts the thresholds and undoes the congestion response once its whole episode was spurious.
   */
  private checkSpurious(smallest: number, largest: number, now: number): void {
    for (let k = 0; k < this.lostCount; k++) {
      const i = (this.lostHead + k) % LOST_LOG_SIZE;
      const pn = this.lostPn[i] as number;
      if (pn < smallest || pn > largest) continue;
      this.lostPn[i] = -1; // counted once
      this.spuriousLosses++;
      if (this.lostByPacketThreshold[i] === 1) {
        const distance = (this.lostLargestAcked[i] as number) - pn;
        if (distance + 1 > this.packetThreshold) this.packetThreshold = Math.min(distance + 1, MAX_PACKET_THRESHOLD);
      } else {
        this.timeThresholdFactor = Math.min(this.timeThresholdFactor * (9 / 8), MAX_TIME_THRESHOLD_FACTOR);
      }
      if (this.lostEpisode[i] === this.episode && ++this.episodeSpurious === this.episodeLost && !this.episodeUndone) {
        this.episodeUndone = true;
        this.congestion.onSpuriousLoss?.(now);
      }
    }
  }

  /**
   * Forgets log entries older than a few RTTs: an ACK that late says nothing about reordering. Run on
   * every ACK too, so that once losses stop the log empties and ACKs stop scanning it.
   */
  private forgetOldLosses(now: number): void {
    const horizon = now - 4 * this.rtt.smoothedRtt - this.peerMaxAckDelayMs;
    while (this.lostCount > 0 && (this.lostAt[this.lostHead] as number) < horizon) {
      this.lostHead = (this.lostHead + 1) % LOST_LOG_SIZE;
      this.lostCount--;
    }
  }

  /** Remembers a packet just declared lost; forgets entries older than a few RTTs. */
  private logLost(pn: number, byPacketThreshold: boolean, now: number): void {
    if (this.lostPn.length === 0) {
      this.lostPn = new Float64Array(LOST_LOG_SIZE);
      this.lostByPacketThreshold = new Uint8Array(LOST_LOG_SIZE);
      this.lostLargestAcked = new Float64Array(LOST_LOG_SIZE);
      this.lostEpisode = new Float64Array(LOST_LOG_SIZE);
      this.lostAt = new Float64Array(LOST_LOG_SIZE);
    }
    this.forgetOldLosses(now);
    if (this.lostCount === LOST_LOG_SIZE) {
      this.lostHead = (this.lostHead + 1) % LOST_LOG_SIZE;
      this.lostCount--;
    }
    const i = (this.lostHead + this.lostCount) % LOST_LOG_SIZE;
    this.lostPn[i] = pn;
    this.lostByPacketThreshold[i] = byPacketThreshold ? 1 : 0;
    this.lostLargestAcked[i] = this.largestAcked;
    this.lostEpisode[i] = this.episode;
    this.lostAt[i] = now;
    this.lostCount++;
    this.episodeLost++;
  }

  /** §6.1: packet and time thresholds (both adapted to observed reordering, see packetThreshold). */
  detectLost(now: number): void {
    this.lossTime = Infinity;
    if (this.largestAcked < 0) return;
    const lossDelay = this.rtt.lossDelay() * this.timeThresholdFactor;
    const packetThreshold = this.packetThreshold;
    let lostBytes = 0;
    let largestLostSentTime = -Infinity;
    let firstLostTime = Infinity;
    let lastLostTime = -Infinity;
    let contiguous = true;
    let prevLostPn = -2;
    const end = Math.min(this.largestAcked, this.sent.endPn - 1);
    for (let pn = this.sent.smallestPn; pn >= 0 && pn <= end; pn++) {
      const p = this.sent.get(pn);
      if (p === null) continue;
      // Same expression as the loss timer below, so a timer firing at lossTime always declares loss.
      const byPacketThreshold = this.largestAcked >= pn + packetThreshold;
      if (p.timeSent + lossDelay <= now || byPacketThreshold) {
        this.sent.remove(pn);
        this.packetsLost++;
        if (p.inFlight && p.ackEliciting) {
          if (p.timeSent > this.episodeStart) {
            // A new congestion episode (the controllers respond once per episode).
            this.episode++;
            this.episodeStart = now;
            this.episodeLost = 0;
            this.episodeSpurious = 0;
            this.episodeUndone = false;
          }
          this.logLost(pn, byPacketThreshold, now);
        }
        if (p.inFlight) {
          this.bytesInFlight -= p.size;
          lostBytes += p.size;
          if (this.sizeObserver !== null) this.sizeObserver.onInFlightLost(pn, p.size, now);
          if (p.ackEliciting) {
            this.ackElicitingInFlight--;
            if (p.timeSent < firstLostTime) firstLostTime = p.timeSent;
            if (p.timeSent > lastLostTime) lastLostTime = p.timeSent;
            if (prevLostPn >= 0 && pn !== prevLostPn + 1) contiguous = false;
            prevLostPn = pn;
          }
          if (p.timeSent > largestLostSentTime) largestLostSentTime = p.timeSent;
        }
        const f = p.frames;
        for (let i = 0; i < p.frameWords; i += SENT_FRAME_STRIDE) {
          this.handler.onFrameLost(f[i] as number, f[i + 1] as number, f[i + 2] as number, f[i + 3] as number);
        }
        this.sent.release(p);
      } else {
        const t = p.timeSent + lossDelay;
        if (t < this.lossTime) this.lossTime = t;
      }
    }
    if (lostBytes > 0) {
      this.congestion.onLoss(now, lostBytes, largestLostSentTime, this.bytesInFlight);
      // §7.6 persistent congestion (approximation: one contiguous run of lost ack-eliciting packets
      // spanning more than 3 PTOs, after an RTT sample exists).
      if (this.rtt.hasSample && contiguous && lastLostTime - firstLostTime > this.persistentCongestionDuration()) {
        this.congestion.onPersistentCongestion(now);
      }
    }
  }

  persistentCongestionDuration(): number {
    return (
      (this.rtt.smoothedRtt + Math.max(4 * this.rtt.rttVar, TIMER_GRANULARITY_MS) + this.peerMaxAckDelayMs) *
      PERSISTENT_CONGESTION_THRESHOLD
    );
  }

  /**
   * Current PTO period including backoff (§6.2.1), capped at max(PTO, MAX_PTO_PERIOD_MS): after a
   * long outage (NAT rebinding, a burst of losses) probes keep coming every second, so the
   * connection recovers well within the idle timeout instead of waiting out a minutes-long backoff.
   */
  ptoPeriod(): number {
    const base = this.rtt.pto(this.peerMaxAckDelayMs);
    return Math.min(base * 2 ** Math.min(this.ptoCount, 16), Math.max(base, MAX_PTO_PERIOD_MS));
  }

  /** When the loss-detection timer fires (Infinity when nothing is outstanding). */
  deadline(): number {
    if (this.lossTime !== Infinity) return this.lossTime;
    if (this.ackElicitingInFlight === 0) return Infinity;
    return this.timeOfLastAckEliciting + this.ptoPeriod();
  }

  /**
   * Loss-detection timer fired (§6.2). Returns the number of probe packets to send now (0 when it
   * was the time-threshold timer, 2 for a PTO).
   */
  onTimeout(now: number): number {
    if (this.lossTime !== Infinity && now >= this.lossTime) {
      this.detectLost(now);
      return 0;
    }
    if (this.ackElicitingInFlight === 0) return 0;
    this.ptoCount++;
    // Re-queue the oldest outstanding data so the probe carries something useful (the packet stays
    // in flight: a late ACK for it is still honoured).
    const oldest = this.sent.oldestAckEliciting();
    if (oldest !== null) {
      const f = oldest.frames;
      for (let i = 0; i < oldest.frameWords; i += SENT_FRAME_STRIDE) {
        this.handler.onFrameLost(f[i] as number, f[i + 1] as number, f[i + 2] as number, f[i + 3] as number);
      }
    }
    return 2;
  }

  /**
   * Consistency check (tests; not the hot path): the sent-packet ring and pool are sound and the
   * in-flight counters equal what the held records add up to. null when sound, else what is wrong.
   */
  audit(): string | null {
    const ring = this.sent.audit();
    if (ring !== null) return ring;
    let bytes = 0;
    let ackEliciting = 0;
    let largest = -1;
    this.sent.forEach((p) => {
      if (p.inFlight) {
        bytes += p.size;
        if (p.ackEliciting) ackEliciting++;
      }
      if (p.pn > largest) largest = p.pn;
    });
    if (bytes !== this.bytesInFlight) return `bytesInFlight ${this.bytesInFlight}, records add up to ${bytes}`;
    if (ackEliciting !== this.ackElicitingInFlight)
      return `ackElicitingInFlight ${this.ackElicitingInFlight}, records count ${ackEliciting}`;
    if (largest >= this.nextPacketNumber) return `record of pn ${largest} at or above nextPn ${this.nextPacketNumber}`;
    return null;
  }

  /** Drops all state (connection closing): nothing is retransmitted any more. */
  discardAll(): void {
    for (let pn = this.sent.smallestPn; pn >= 0 && pn < this.sent.endPn; pn++) {
      const p = this.sent.remove(pn);
      if (p) this.sent.release(p);
    }
    this.bytesInFlight = 0;
    this.ackElicitingInFlight = 0;
    this.lossTime = Infinity;
  }
}
