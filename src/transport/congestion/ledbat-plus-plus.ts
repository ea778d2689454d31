import { TransportError, TransportErrorName } from '../errors.js';
import {
  minimumWindow,
  type AckSample,
  type CongestionController,
  type CongestionControllerOptions,
} from './controller.js';
import { RecentFlightsize } from './flightsize.js';
import { OneWayDelay } from './one-way-delay.js';

/** Where a LEDBAT++ flow is in its slowdown cycle (draft-irtf-iccrg-ledbat-plus-plus §4.4). */
export type SlowdownPhase = 'none' | 'waiting' | 'frozen' | 'ramp';

/**
 * LEDBAT++ (draft-irtf-iccrg-ledbat-plus-plus-06) on top of RFC 6817's one-way delay measurement.
 * The default controller; spec/transport.md §8 lists what is implemented and every deviation.
 *
 *  - GAIN = 1 / min(16, ⌈2·TARGET / base RTT⌉) (§4.1): slower growth on short paths, where TCP
 *    Reno's one packet per RTT would already be far more aggressive than a background flow should be.
 *  - Congestion avoidance: below TARGET the window grows by GAIN packets per RTT (applied per ACK in
 *    proportion to the bytes acknowledged); above it, once per RTT,
 *    W += max(GAIN − C·W·(delay/TARGET − 1), −W/2) with C = 1 (§4.2): the decrease is proportional to
 *    the window, so flows sharing a queue converge to equal windows (AIMD).
 *  - Slow start (§4.3): W += GAIN · acked, left when the queueing delay exceeds 3/4 TARGET or on loss.
 *  - Initial and periodic slowdowns (§4.4): 2 RTTs after slow start ends the window is frozen at 2
 *    packets for 2 RTTs, then slow start returns to the window before the slowdown; the next
 *    slowdown starts 9× the slowdown's duration later (≤ 10 % of the time). While every flow at a
 *    bottleneck yields now and then, the queue drains and each flow's base delay (a minimum) falls
 *    to the true one: a flow that started into a standing queue does not keep it as its base.
 *  - Loss (RFC 6817 §3.4.3): halve once per RTT — unless the delay signal says the queue is not
 *    building (queueing delay below RANDOM_LOSS_FRACTION · TARGET): such a loss is taken as
 *    non-congestive (radio, random drop) and does not cut the window; the delay target still bounds
 *    the queue. Deviation, see spec §8.
 *  - Fairness among LEDBAT++ flows, a latecomer included (deviations 9–11, spec §8): a loss judged
 *    below TARGET is judged again when the base falls; the ramp after a slowdown is capped by the
 *    share of the queue the freeze measured; a flow whose queue halves within two RTTs (another
 *    flow's freeze) freezes with it, so the queue drains and every flow learns the true base, and a
 *    ramp from a drained queue may grow past the old window (×4), so flows leave it alike.
 *  - A congestion response recovery later finds spurious (the "lost" packets were acknowledged:
 *    reordering) is undone (onSpuriousLoss).
 */
export class LedbatPlusPlus implements CongestionController {
  readonly name = 'ledbat++';
  window = 0; // a number from the start (not undefined): fractional updates are stored in place
  queueingDelay = 0;

  static readonly MAX_GAIN_DIVISOR = 16;
  /** §4.2 constant C of the multiplicative decrease. */
  static readonly DECREASE_CONSTANT = 1;
  /** §4.3: slow start ends when the queueing delay exceeds this fraction of TARGET. */
  static readonly SLOW_START_EXIT_FRACTION = 3 / 4;
  /** §4.4: the next slowdown starts this many slowdown durations after the last one ended. */
  static readonly SLOWDOWN_INTERVAL_FACTOR = 9;
  /** Loss with the queueing delay below this fraction of TARGET is not taken as congestion. */
  static readonly RANDOM_LOSS_FRACTION = 1 / 4;
  /**
   * A congestive loss below TARGET lowers the target to this fraction of that loss's queueing delay,
   * but not below LOWERED_TARGET_FLOOR · TARGET.
   */
  static readonly LOWERED_TARGET_FRACTION = 1 / 4;
  static readonly LOWERED_TARGET_FLOOR = 1 / 8;
  /**
   * Below the minimum window (2 packets) the flow yields further by pacing: at most this fraction of
   * 2 packets per RTT (1/8: a quarter packet per RTT). See spec §8, deviation 8.
   */
  static readonly MIN_RATE_FRACTION = 1 / 8;
  /** Bucket of the recent-minimum queueing delay that tells a standing queue from LEDBAT++ neighbours. */
  static readonly RECENT_BUCKET_MS = 10_000;
  /**
   * The ramp after a slowdown is capped by the measured share (deviation 10) only when the others'
   * queue is at least this fraction of TARGET.
   */
  static readonly SHARE_FLOOR = 1 / 32;
  /**
   * A halving of the queue by more than this fraction of TARGET is another flow's freeze (deviation
   * 11): a LEDBAT++ flow holding most of a queue near TARGET, not a cubic flow's 30 % cut of a queue
   * of at most 100 ms (a drop that our base, inflated by that flow's queue, can make look like a
   * halving).
   */
  static readonly JOIN_MIN_DROP = 7 / 12;
  /** A freeze is extended by an RTT while the queue fell below this fraction in the last RTT. */
  static readonly STILL_DRAINING_FRACTION = 3 / 4;
  /** ... up to this many RTTs in all (§4.4's freeze is 2). */
  static readonly MAX_FREEZE_RTTS = 4;
  /** A decrease to below this fraction of the window may itself halve the queue: no join after it. */
  static readonly OWN_CUT_FRACTION = 3 / 4;
  /**
   * After a freeze that drained the queue, the ramp may grow past the old window up to this factor
   * of it (deviation 11): enough for a small flow to catch up with a big one in a few slowdowns, not
   * enough to take a loss-based flow's room when it drained the queue by collapsing its window.
   */
  static readonly DRAINED_RAMP_FACTOR = 4;
  /** How long a target lowered by a congestive loss below TARGET stays lowered (ms). */
  static readonly LOWERED_TARGET_HOLD_MS = 30_000;

  private readonly mss: number;
  private readonly target: number;
  private readonly periodicSlowdown: boolean;
  private readonly allowedIncrease: number;
  private readonly delay = new OneWayDelay();
  private readonly flightsize = new RecentFlightsize();
  /**
   * TARGET, or half the queueing delay at which the last congestive loss happened when that was
   * below TARGET (until targetRestoreAt): the buffer overflowed (or a loss-based flow filled it)
   * below the delay we aim for, so aim lower. See spec §8, deviation 4.
   */
  private effectiveTarget = 0;
  private targetRestoreAt = Infinity;
  /**
   * Queueing delay and base delay estimate at the loss that lowered the target (NaN when the target
   * was lowered by the freeze rule, deviation 7): if the base later falls, the loss is re-judged
   * against the corrected base (deviation 9).
   */
  private lossQueueingDelay = NaN;
  private lossBase = NaN;

  private slowStart = true;
  private ssthresh = Infinity;
  /** Losses of packets sent before this time belong to the last congestion response. */
  private recoveryStart = -Infinity;
  /** Per-RTT decrease: a round ends when a packet sent after it began is acknowledged. */
  private roundStart = -Infinity;
  private gain = 1 / LedbatPlusPlus.MAX_GAIN_DIVISOR;
  /** Queueing delay when this round and the previous one began (deviation 11). */
  private roundDelay = 0;
  private previousRoundDelay = 0;
  /** When our window last fell by a quarter or more (or a loss): a queue that falls after it is ours. */
  private decreasedAt = -Infinity;
  private rtt = 0;
  /**
   * 1, or (at the minimum window, with the queue above target) the fraction of the minimum window
   * per smoothed RTT that pacingRate() allows: the window the decrease asked for, below 2 packets.
   */
  private rateFraction = 1;

  private phase: SlowdownPhase = 'none';
  private nextSlowdownAt = Infinity;
  private slowdownStart = 0;
  private frozenUntil = 0;
  private savedWindow = 0;
  /** Smoothed RTT when the freeze began: with savedWindow, our pre-freeze rate (deviation 10). */
  private savedRtt = 0;
  /** Smallest queueing delay seen from the freeze's second RTT on (Infinity: none yet). */
  private freezeMinDelay = Infinity;
  /** Queueing delay when the freeze began (our share plus everyone else's). */
  private freezeStartDelay = 0;
  /** Queueing delay at the start of the freeze's second RTT, then at each extension (deviation 11). */
  private freezeCheckDelay = Infinity;
  /** This ramp follows a freeze that drained the queue (may pass the old window; deviation 11). */
  private drainedRamp = false;
  /**
   * Smallest queueing delay in the current and the previous RECENT_BUCKET_MS bucket (previous is
   * −Infinity until one bucket is complete: no verdict on less than 10 s of history).
   */
  private currentBucketMin = Infinity;
  private previousBucketMin = -Infinity;
  private recentBucketStart = -Infinity;

  /** State before the last loss response, for onSpuriousLoss. NaN when there is nothing to undo. */
  private undoWindow = NaN;
  private undoSsthresh = Infinity;
  private undoSlowStart = false;
  private undoTarget = 0;
  private undoTargetRestoreAt = Infinity;
  private undoLossQueueingDelay = NaN;
  private undoLossBase = NaN;
  /** Losses not taken as congestion (queue not building), for stats and tests. */
  randomLosses = 0;
  slowdowns = 0;
  /** Slowdowns begun because another flow's freeze halved the queue (deviation 11). */
  joinedSlowdowns = 0;

  constructor(options: CongestionControllerOptions) {
    this.mss = options.maxDatagramSize;
    this.window = options.initialWindowPackets * this.mss;
    this.target = options.targetDelayMs;
    this.effectiveTarget = this.target;
    this.periodicSlowdown = options.periodicSlowdown;
    this.allowedIncrease = options.allowedIncrease ?? 1;
    if (!(this.allowedIncrease > 0))
      throw new TransportError(TransportErrorName.CONFIG, 'LEDBAT allowedIncrease must be > 0');
    if (!(this.target > 0)) throw new TransportError(TransportErrorName.CONFIG, 'LEDBAT target must be > 0');
  }

  get baseDelayEstimate(): number {
    return this.delay.base;
  }
  get inSlowStart(): boolean {
    return this.slowStart;
  }
  get slowdownPhase(): SlowdownPhase {
    return this.phase;
  }
  get currentGain(): number {
    return this.gain;
  }
  /** The delay target in use (ms): TARGET unless a congestive loss below it lowered it. */
  get targetDelay(): number {
    return this.effectiveTarget;
  }
  /** 1, or the fraction of the minimum window per RTT the flow paces itself to (deviation 8). */
  get sendRateFraction(): number {
    return this.rateFraction;
  }

  onPacketSent(): void {}

  onAck(now: number, s: AckSample): void {
    this.adjust(now, s);
    // RFC 6817 §2.4.2 cap (see ledbat.ts for why flightsize is the larger of the two in-flight figures).
    const flightsize = this.flightsize.update(now, Math.max(s.sentInFlight, s.priorInFlight), s.smoothedRtt);
    const cap = flightsize + this.allowedIncrease * this.mss;
    if (this.window > cap) this.window = Math.max(cap, minimumWindow(this.mss));
  }

  private adjust(now: number, s: AckSample): void {
    const owd = s.oneWayDelay;
    if (!Number.isNaN(owd)) {
      // A number only when this ACK newly acknowledged the largest packet.
      this.delay.update(now, owd);
      this.queueingDelay = this.delay.queueingDelay;
      // Deviation 9: a loss that lowered the target is judged again when the base falls.
      if (this.lossQueueingDelay + this.lossBase - this.delay.base >= this.target) this.restoreTarget();
      if (now - this.recentBucketStart >= LedbatPlusPlus.RECENT_BUCKET_MS) {
        // A new bucket; before the first one is complete nothing counts as "recent" (Infinity).
        this.previousBucketMin = this.recentBucketStart === -Infinity ? -Infinity : this.currentBucketMin;
        this.currentBucketMin = Infinity;
        this.recentBucketStart = now;
      }
      if (this.queueingDelay < this.currentBucketMin) this.currentBucketMin = this.queueingDelay;
    }
    this.rtt = s.smoothedRtt;
    this.updateGain(s);
    this.advanceSlowdown(now);
    if (this.phase === 'frozen') return;
    if (s.largestAckedSentTime <= this.recoveryStart) return;
    const delay = this.queueingDelay;
    const min = minimumWindow(this.mss);
    if (this.slowStart) {
      const target = this.effectiveTarget;
      // Deviation 2: a ramp back to a window we held, next to others' queue, leaves at TARGET; a ramp
      // from a drained queue (deviation 11) leaves where slow start does (§4.3, 3/4 TARGET).
      const exitAt =
        this.phase === 'ramp' && !this.drainedRamp ? target : LedbatPlusPlus.SLOW_START_EXIT_FRACTION * target;
      if (delay > exitAt) {
        this.exitSlowStart(now);
      } else {
        if (!s.appLimited) this.window += this.gain * s.ackedBytes;
        if (this.window >= this.ssthresh) {
          this.window = this.ssthresh;
          this.exitSlowStart(now);
        }
        return;
      }
    }
    const newRound = s.largestAckedSentTime >= this.roundStart;
    if (newRound) {
      this.roundStart = now;
      this.previousRoundDelay = this.roundDelay;
      this.roundDelay = delay;
    } else if (
      this.periodicSlowdown &&
      this.phase === 'none' &&
      now - this.decreasedAt > 3 * this.rtt &&
      delay < Math.max(this.roundDelay, this.previousRoundDelay) / 2 &&
      Math.max(this.roundDelay, this.previousRoundDelay) - delay > LedbatPlusPlus.JOIN_MIN_DROP * this.target
    ) {
      // Deviation 11: the queue halved within two RTTs while we kept sending: another flow froze
      // (§4.4). Freeze with it, so that the queue drains to empty and every flow sees the true base.
      this.joinedSlowdowns++;
      this.freeze(now);
      return;
    }
    if (now >= this.targetRestoreAt) this.restoreTarget();
    const target = this.effectiveTarget;
    if (delay <= target) {
      if (s.appLimited) return;
      if (this.rateFraction < 1) {
        // Growing back from below the minimum window: the same additive increase, of the virtual
        // window min · rateFraction, until it is the minimum window again.
        this.rateFraction += (this.gain * this.mss * s.ackedBytes) / (min * min * this.rateFraction);
        if (this.rateFraction > 1) this.rateFraction = 1;
      } else {
        this.window += (this.gain * this.mss * s.ackedBytes) / this.window;
      }
    } else if (newRound) {
      // §4.2, once per RTT: multiplicative decrease in proportion to how far above target.
      const virtual = this.window * this.rateFraction;
      const decrease = LedbatPlusPlus.DECREASE_CONSTANT * virtual * (delay / target - 1);
      const next = virtual + Math.max(this.gain * this.mss - decrease, -virtual / 2);
      // Only a cut that could halve the queue by itself (a quarter of the window or more) blocks a
      // join; the small decreases at equilibrium around TARGET do not.
      if (next < LedbatPlusPlus.OWN_CUT_FRACTION * virtual) this.decreasedAt = now;
      if (next >= min) {
        this.window = next;
        this.rateFraction = 1;
      } else {
        // Deviation 8: below 2 packets the window stays (loss recovery needs it) and pacing yields.
        this.window = min;
        this.rateFraction = Math.max(next / min, LedbatPlusPlus.MIN_RATE_FRACTION);
      }
    }
  }

  /** §4.1, into this.gain (a field, not a return value: no boxed double per ACK). */
  private updateGain(s: AckSample): void {
    const baseRtt = s.minRtt;
    if (this.effectiveTarget < this.target) {
      // A congestive loss below TARGET: the min RTT may hold a loss-based flow's standing queue,
      // which would make GAIN up to 16× too large. Use the smallest GAIN while the target is lowered.
      this.gain = 1 / LedbatPlusPlus.MAX_GAIN_DIVISOR;
      return;
    }
    if (!(baseRtt > 0 && baseRtt < Infinity)) return;
    const divisor = Math.min(LedbatPlusPlus.MAX_GAIN_DIVISOR, Math.ceil((2 * this.target) / baseRtt));
    this.gain = 1 / Math.max(1, divisor);
  }

  private exitSlowStart(now: number): void {
    this.slowStart = false;
    if (this.phase === 'ramp') {
      // §4.4: back from a slowdown; the next one 9× this one's duration later.
      this.phase = 'none';
      const duration = now - this.slowdownStart;
      this.nextSlowdownAt = now + LedbatPlusPlus.SLOWDOWN_INTERVAL_FACTOR * Math.max(duration, 2 * this.rtt);
    } else if (this.periodicSlowdown && this.phase === 'none' && this.nextSlowdownAt === Infinity) {
      // §4.4 initial slowdown: 2 RTTs after the first slow start ends.
      this.phase = 'waiting';
      this.nextSlowdownAt = now + 2 * this.rtt;
    }
  }

  /**
   * Uses this.rtt (the smoothed RTT just stored). Hot path (every ACK): small enough to be inlined
   * into adjust(); the work, rare, is in freeze() and thaw(). Passing `now` to a call V8 does not
   * inline boxes it (a 16 B HeapNumber per ACK when this whole method was one call).
   */
  private advanceSlowdown(now: number): void {
    if (!this.periodicSlowdown) return;
    if (this.phase === 'frozen') this.thaw(now);
    else if ((this.phase === 'waiting' || this.phase === 'none') && now >= this.nextSlowdownAt && !this.slowStart)
      this.freeze(now);
  }

  /** §4.4: a slowdown starts; the window drops to the minimum for 2 RTTs. */
  private freeze(now: number): void {
    this.phase = 'frozen';
    this.slowdowns++;
    // The window we send at: paced below 2 packets (deviation 8), the virtual window. Saving the
    // minimum window instead would let the ramp (up to 4× saved, deviation 11) jump 32× in rate.
    this.savedWindow = this.window * this.rateFraction;
    this.savedRtt = this.rtt;
    this.slowdownStart = now;
    this.frozenUntil = now + 2 * this.rtt;
    this.freezeMinDelay = Infinity;
    this.freezeStartDelay = this.queueingDelay;
    this.freezeCheckDelay = Infinity;
    this.roundDelay = 0;
    this.previousRoundDelay = 0;
    // §4.4 freezes at 2 packets; already paced below that (deviation 8), the freeze must not raise
    // our rate: rateFraction stays.
    this.window = minimumWindow(this.mss);
  }

  /** During a slowdown: when it has lasted 2 RTTs, ramp back (§4.4) or yield (deviation, spec §8). */
  private thaw(now: number): void {
    // From the freeze's second RTT on, our own packets have left the queue: what stays is others'.
    if (now >= this.slowdownStart + this.rtt) {
      if (this.queueingDelay < this.freezeMinDelay) this.freezeMinDelay = this.queueingDelay;
      if (this.freezeCheckDelay === Infinity) this.freezeCheckDelay = this.queueingDelay;
    }
    if (now < this.frozenUntil) return;
    if (
      this.freezeMinDelay >= LedbatPlusPlus.SHARE_FLOOR * this.target &&
      this.freezeMinDelay < LedbatPlusPlus.STILL_DRAINING_FRACTION * this.freezeCheckDelay &&
      now - this.slowdownStart < LedbatPlusPlus.MAX_FREEZE_RTTS * this.rtt
    ) {
      // Deviation 11: the queue is still falling fast (another flow joined our freeze a little
      // later): stay frozen one more RTT, so the ramp starts from the drained queue and the share
      // measured (deviation 10) is not a queue in mid-drain.
      this.frozenUntil = now + this.rtt;
      this.freezeCheckDelay = this.freezeMinDelay;
      return;
    }
    const standing = LedbatPlusPlus.SLOW_START_EXIT_FRACTION * this.target;
    if (this.freezeMinDelay > standing && this.freezeMinDelay < Infinity && this.recentMinDelay() > standing) {
      // Deviation (spec §8): the queue stayed above 3/4 TARGET while we sent 2 packets, and for
      // the last 10–20 s nobody drained it (another LEDBAT++ flow's slowdown would have): a flow
      // that does not yield (loss-based) holds it at our target. Yield as after a congestive loss
      // below TARGET, and stay at the minimum instead of ramping back.
      this.lowerTarget(now, LedbatPlusPlus.LOWERED_TARGET_FLOOR * this.target);
      this.phase = 'none';
      this.nextSlowdownAt =
        now + LedbatPlusPlus.SLOWDOWN_INTERVAL_FACTOR * Math.max(now - this.slowdownStart, 2 * this.rtt);
      return;
    }
    this.phase = 'ramp';
    this.slowStart = true;
    this.rateFraction = 1;
    this.ssthresh = Math.max(this.rampCeiling(), minimumWindow(this.mss));
    this.drainedRamp = this.ssthresh > this.savedWindow;
  }

  /**
   * Deviation 10 (spec §8): the window the ramp returns to. §4.4 returns to the window before the
   * slowdown; but the freeze also measured our share of the queue. Through the freeze (from its
   * second RTT on) the queue holds the others' packets only (freezeMinDelay); before it, ours and
   * theirs (freezeStartDelay). In a FIFO each flow's share of the queue is its share of the rate, so
   * a flow whose part (start − min) exceeds the others' (min) returns only to the window that sends
   * at their rate: saved · min / (start − min). Only when the others' queue is clearly someone's,
   * more than twice what our own 2-packet window can queue and at least SHARE_FLOOR · TARGET
   * (a flow alone drains the queue to about its 2 packets); below that the queue counts as drained.
   */
  private rampCeiling(): number {
    const saved = this.savedWindow;
    const others = this.freezeMinDelay;
    const ours = this.freezeStartDelay - others;
    if (!(others < Infinity)) return saved;
    // Deviation 11: the queue drained to (about) empty: no one else holds a standing queue, and any
    // other LEDBAT++ flow froze with us. Ramp until the delay says stop (3/4 TARGET, as slow start),
    // up to DRAINED_RAMP_FACTOR × our old window: flows ramping together from 2 packets grow alike,
    // so they leave the ramp with (nearly) equal windows whatever they held before.
    if (others < LedbatPlusPlus.SHARE_FLOOR * this.target) return LedbatPlusPlus.DRAINED_RAMP_FACTOR * saved;
    if (!(ours > others)) return saved;
    // Our 2 packets' worth of queue, at our own pre-freeze rate (saved / rtt): an upper bound.
    // The RTT at the freeze, not now: after 2–4 RTTs of draining it is smaller, and so the bound.
    const ownMinimum = (minimumWindow(this.mss) * this.savedRtt) / saved;
    if (others <= 2 * ownMinimum) return saved;
    return Math.min(saved, (saved * others) / ours);
  }

  /** Back to TARGET and the §4.1 GAIN. */
  private restoreTarget(): void {
    this.effectiveTarget = this.target;
    this.targetRestoreAt = Infinity;
    this.lossQueueingDelay = NaN;
    this.lossBase = NaN;
  }

  /** Smallest queueing delay over the last 10–20 s; −Infinity before 10 s of samples. */
  private recentMinDelay(): number {
    return Math.min(this.currentBucketMin, this.previousBucketMin);
  }

  /** Aims at `target` (< TARGET) with the smallest GAIN for LOWERED_TARGET_HOLD_MS. */
  private lowerTarget(now: number, target: number): void {
    this.effectiveTarget = target;
    this.targetRestoreAt = now + LedbatPlusPlus.LOWERED_TARGET_HOLD_MS;
    this.lossQueueingDelay = NaN;
    this.lossBase = NaN;
  }

  onLoss(now: number, _lostBytes: number, largestLostSentTime: number, _bytesInFlight?: number): void {
    if (largestLostSentTime <= this.recoveryStart) return;
    if (this.delay.hasSample && this.queueingDelay < LedbatPlusPlus.RANDOM_LOSS_FRACTION * this.target) {
      // The queue is not building: not a congestion signal (no reduction, no new recovery period).
      this.randomLosses++;
      this.undoWindow = NaN;
      return;
    }
    this.undoWindow = this.phase === 'frozen' || this.phase === 'ramp' ? this.savedWindow : this.window;
    this.undoSsthresh = this.ssthresh;
    this.undoSlowStart = this.slowStart && this.phase !== 'ramp';
    this.undoTarget = this.effectiveTarget;
    this.undoTargetRestoreAt = this.targetRestoreAt;
    this.undoLossQueueingDelay = this.lossQueueingDelay;
    this.undoLossBase = this.lossBase;
    this.recoveryStart = now;
    this.decreasedAt = now;
    // How full the queue was at the loss: the largest recent sample (deviation 4, see OneWayDelay).
    const lossDelay = this.delay.hasSample ? this.delay.recentMaxQueueingDelay() : Infinity;
    if (lossDelay < this.target) {
      // The queue overflowed below TARGET: a shallow buffer, or a loss-based flow keeping a
      // standing queue that our base delay already contains. Aim well below the delay of this loss:
      // a loss-based flow's sawtooth swings the queue around it, and only a target under the swing
      // makes us yield.
      this.lowerTarget(
        now,
        Math.max(lossDelay * LedbatPlusPlus.LOWERED_TARGET_FRACTION, LedbatPlusPlus.LOWERED_TARGET_FLOOR * this.target),
      );
      this.lossQueueingDelay = lossDelay;
      this.lossBase = this.delay.base;
    }
    const reduced = Math.max(this.undoWindow / 2, minimumWindow(this.mss));
    this.window = this.phase === 'frozen' ? minimumWindow(this.mss) : Math.min(this.window, reduced);
    this.ssthresh = reduced;
    if (this.phase === 'frozen' || this.phase === 'ramp') {
      // A slowdown cut short by loss: resume normal operation, next slowdown as usual.
      this.phase = 'none';
      this.window = reduced;
      this.nextSlowdownAt =
        now + LedbatPlusPlus.SLOWDOWN_INTERVAL_FACTOR * Math.max(now - this.slowdownStart, 2 * this.rtt);
    }
    if (this.slowStart) this.exitSlowStart(now);
  }

  /**
   * Recovery found that every packet behind the last loss response was delivered after all
   * (reordering, not loss): restore the window and slow-start state from before it (cf. RFC 5682 /
   * Linux tcp_undo_cwnd_reduction).
   */
  onSpuriousLoss(_now: number): void {
    if (Number.isNaN(this.undoWindow)) return; // nothing to undo
    if (this.undoWindow > this.window) this.window = this.undoWindow;
    this.ssthresh = this.undoSsthresh;
    if (this.undoSlowStart) this.slowStart = true;
    this.effectiveTarget = this.undoTarget;
    this.targetRestoreAt = this.undoTargetRestoreAt;
    this.lossQueueingDelay = this.undoLossQueueingDelay;
    this.lossBase = this.undoLossBase;
    this.undoWindow = NaN;
  }

  onPersistentCongestion(now: number): void {
    this.window = minimumWindow(this.mss);
    this.rateFraction = 1;
    this.recoveryStart = now;
    // Our own collapse to 2 packets drains the queue: that halving is ours, not another flow's
    // freeze (deviation 11's join), so it blocks a join for 3 RTTs like any large cut of our own.
    this.decreasedAt = now;
    this.undoWindow = NaN;
  }

  /** Below the minimum window (deviation 8): rateFraction · window per smoothed RTT; else the default. */
  pacingRate(smoothedRtt: number): number {
    return this.rateFraction < 1 ? (this.rateFraction * this.window) / Math.max(smoothedRtt, 0.001) : 0;
  }
}

export const ledbatPlusPlusFactory = (options: CongestionControllerOptions): LedbatPlusPlus =>
  new LedbatPlusPlus(options);
