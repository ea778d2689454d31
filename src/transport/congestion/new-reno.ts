import {
  minimumWindow,
  type AckSample,
  type CongestionController,
  type CongestionControllerOptions,
} from './controller.js';

/**
 * NewReno as in RFC 9002 §7 (slow start, congestion avoidance, one reduction per recovery period,
 * persistent congestion). It exists to prove that another controller plugs in without touching
 * recovery code; LEDBAT is the default.
 */
export class NewReno implements CongestionController {
  readonly name = 'newreno';
  window = 0; // a number from the start (not undefined): updates are stored in place, not boxed
  readonly queueingDelay = 0;
  private ssthresh = Infinity;
  private recoveryStart = -Infinity;
  private bytesAckedInCa = 0;
  /** Window and ssthresh before the last reduction (NaN: nothing to undo), for onSpuriousLoss. */
  private undoWindow = NaN;
  private undoSsthresh = Infinity;
  private readonly mss: number;

  constructor(options: CongestionControllerOptions) {
    this.mss = options.maxDatagramSize;
    this.window = options.initialWindowPackets * this.mss;
  }

  onPacketSent(): void {}

  onAck(_now: number, s: AckSample): void {
    if (s.largestAckedSentTime <= this.recoveryStart) return;
    if (s.appLimited) return;
    if (this.window < this.ssthresh) {
      this.window += s.ackedBytes;
    } else {
      this.bytesAckedInCa += s.ackedBytes;
      if (this.bytesAckedInCa >= this.window) {
        this.bytesAckedInCa -= this.window;
        this.window += this.mss;
      }
    }
  }

  onLoss(now: number, _lostBytes: number, largestLostSentTime: number, _bytesInFlight?: number): void {
    if (largestLostSentTime <= this.recoveryStart) return;
    this.recoveryStart = now;
    this.undoWindow = this.window;
    this.undoSsthresh = this.ssthresh;
    this.window = Math.max(Math.floor(this.window / 2), minimumWindow(this.mss));
    this.ssthresh = this.window;
    this.bytesAckedInCa = 0;
  }

  /** The last reduction was for packets delivered after all (reordering): restore the window. */
  onSpuriousLoss(_now: number): void {
    if (Number.isNaN(this.undoWindow)) return;
    this.window = Math.max(this.window, this.undoWindow);
    this.ssthresh = this.undoSsthresh;
    this.undoWindow = NaN;
  }

  onPersistentCongestion(now: number): void {
    this.undoWindow = NaN;
    this.window = minimumWindow(this.mss);
    this.recoveryStart = now;
  }

  pacingRate(): number {
    return 0;
  }
}

export const newRenoFactory = (options: CongestionControllerOptions): CongestionController => new NewReno(options);
