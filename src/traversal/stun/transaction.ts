/**
 * Sans-IO retransmission schedule of one STUN client transaction over UDP (RFC 8489 §6.2.1):
 * the request goes out at 0, RTO, 3·RTO, 7·RTO … (RTO doubling), Rc transmissions in all, and the
 * transaction fails Rm·RTO after the last one. Defaults RTO = 500 ms, Rc = 7, Rm = 16 give sends at
 * 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s and failure at 39.5 s, the RFC's own example.
 *
 * The schedule is anchored at the start time, so a late timer sends once and does not drift.
 */
import { StunError, StunErrorCode } from './errors.js';

export interface RetransmissionOptions {
  /** Initial retransmission timeout, ms (RFC 8489: SHOULD be 500 ms when RTT is unknown). */
  readonly rto?: number;
  /** Total transmissions (Rc). */
  readonly rc?: number;
  /** Multiple of RTO to wait after the last transmission (Rm). */
  readonly rm?: number;
}

export const DEFAULT_RTO_MS = 500;
export const DEFAULT_RC = 7;
export const DEFAULT_RM = 16;

export type TransactionState = 'pending' | 'succeeded' | 'timed-out' | 'cancelled';

export class ClientTransaction {
  readonly rto: number;
  readonly rc: number;
  readonly rm: number;
  readonly startedAt: number;
  private transmissions = 0;
  private stateValue: TransactionState = 'pending';

  constructor(now: number, options: RetransmissionOptions = {}) {
    this.rto = options.rto ?? DEFAULT_RTO_MS;
    this.rc = options.rc ?? DEFAULT_RC;
    this.rm = options.rm ?? DEFAULT_RM;
    if (!(this.rto > 0) || !Number.isInteger(this.rc) || this.rc < 1 || !(this.rm >= 0)) {
      throw new StunError(
        StunErrorCode.InvalidArgument,
        `bad retransmission parameters rto=${this.rto} rc=${this.rc} rm=${this.rm}`,
      );
    }
    this.startedAt = now;
  }

  get state(): TransactionState {
    return this.stateValue;
  }

  /** Number of times the request has been (re)sent so far. */
  get sent(): number {
    return this.transmissions;
  }

  /** Time of the k-th transmission (k from 0): start + RTO·(2^k − 1). */
  transmissionTime(k: number): number {
    return this.startedAt + this.rto * (2 ** k - 1);
  }

  /** When the transaction fails without a response: Rm·RTO after the last transmission. */
  get timeoutAt(): number {
    return this.transmissionTime(this.rc - 1) + this.rm * this.rto;
  }

  /**
   * true when the request must be sent (again) now. Missed slots (a late timer) collapse into one send.
   */
  pollTransmit(now: number): boolean {
    if (
      this.stateValue !== 'pending' ||
      this.transmissions >= this.rc ||
      now < this.transmissionTime(this.transmissions)
    )
      return false;
    do this.transmissions++;
    while (this.transmissions < this.rc && now >= this.transmissionTime(this.transmissions));
    return true;
  }

  /** Earliest time something happens (next send or the timeout); Infinity once finished. */
  nextDeadline(): number {
    if (this.stateValue !== 'pending') return Infinity;
    return this.transmissions < this.rc ? this.transmissionTime(this.transmissions) : this.timeoutAt;
  }

  /** Marks the transaction timed out if its time has come; returns true exactly once when it does. */
  checkTimeout(now: number): boolean {
    if (this.stateValue !== 'pending' || this.transmissions < this.rc || now < this.timeoutAt) return false;
    this.stateValue = 'timed-out';
    return true;
  }

  succeed(): void {
    if (this.stateValue === 'pending') this.stateValue = 'succeeded';
  }

  cancel(): void {
    if (this.stateValue === 'pending') this.stateValue = 'cancelled';
  }
}
