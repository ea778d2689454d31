/**
 * Congestion control behind one interface (cf. quinn-proto `congestion::Controller`). A controller
 * knows nothing about streams, frames or packet numbers: recovery tells it what was sent, acknowledged
 * and lost; it answers with a window and a pacing rate. Plug a new one in through
 * TransportConfig.congestionController (a factory) — recovery code does not change.
 */

/** What recovery knows about one acknowledgment event. Times in ms. */
export interface AckSample {
  /** Bytes newly acknowledged by this ACK frame (in-flight packets only). */
  readonly ackedBytes: number;
  /** Bytes in flight before these acknowledgments were removed. */
  readonly priorInFlight: number;
  /**
   * Largest bytes in flight (including the packet) at the moment one of the newly acknowledged
   * in-flight packets was sent: how much of the window the sender was using for this data. Unlike
   * priorInFlight it does not fall while a batch of ACKs is processed with no sends in between.
   */
  readonly sentInFlight: number;
  /** Send time of the newest newly-acknowledged packet (for recovery-period checks). */
  readonly largestAckedSentTime: number;
  /** This ACK's RTT sample (ms), or NaN when it gave none. */
  readonly latestRtt: number;
  readonly smoothedRtt: number;
  readonly minRtt: number;
  /**
   * One-way delay of the largest newly acknowledged packet: peer receive timestamp minus our send
   * time (ms). Offset by an unknown constant (clock difference), so only differences are meaningful
   * (RFC 6817 §3.2). NaN when this ACK newly acknowledged nothing.
   */
  readonly oneWayDelay: number;
  /**
   * RFC 9002 §7.8: true when none of the newly acknowledged in-flight packets was sent while the
   * flow was congestion-window limited (bytes in flight including the packet ≥ window − one max
   * datagram, or the pacer was holding data back with ≥ half the window in flight). The window was
   * not the bottleneck (application, CPU or flow control was), so controllers must not grow it on
   * such ACKs.
   */
  readonly appLimited: boolean;
}

export interface CongestionController {
  /** Congestion window, bytes. */
  readonly window: number;
  /** Current queueing-delay estimate (ms) for stats; 0 for loss-based controllers. */
  readonly queueingDelay: number;
  /** Short name for stats and logs. */
  readonly name: string;
  onPacketSent(now: number, bytes: number, bytesInFlight: number): void;
  /** `sample` is reused between calls: read it, don't keep it. */
  onAck(now: number, sample: AckSample): void;
  /** Packets were declared lost; `largestLostSentTime` lets a controller react once per window. */
  onLoss(now: number, lostBytes: number, largestLostSentTime: number, bytesInFlight: number): void;
  /**
   * Optional: recovery found every packet behind the last loss response acknowledged after all
   * (reordering, not loss; see recovery/loss-detection.ts): undo that response.
   */
  onSpuriousLoss?(now: number): void;
  /** RFC 9002 §7.6: a long run of losses, collapse to the minimum window. */
  onPersistentCongestion(now: number): void;
  /**
   * Pacing rate in bytes per millisecond, or 0 to let the pacer derive it from window / smoothed RTT.
   */
  pacingRate(smoothedRtt: number): number;
}

export interface CongestionControllerOptions {
  /** Maximum datagram payload (MSS analogue), bytes. */
  readonly maxDatagramSize: number;
  readonly initialWindowPackets: number;
  /** LEDBAT / LEDBAT++ target queueing delay, ms. */
  readonly targetDelayMs: number;
  /** LEDBAT++ initial and periodic slowdowns (draft-irtf-iccrg-ledbat-plus-plus §4.4). */
  readonly periodicSlowdown: boolean;
  /**
   * LEDBAT ALLOWED_INCREASE (RFC 6817 §2.4.2): after each ACK the window is capped at
   * flightsize + ALLOWED_INCREASE · MSS, flightsize = max(AckSample.priorInFlight,
   * AckSample.sentInFlight). Default 1; must be > 0.
   */
  readonly allowedIncrease?: number;
}

export type CongestionControllerFactory = (options: CongestionControllerOptions) => CongestionController;

/** Smallest window any controller uses: 2 packets (RFC 9002 kMinimumWindow). */
export function minimumWindow(maxDatagramSize: number): number {
  return 2 * maxDatagramSize;
}
