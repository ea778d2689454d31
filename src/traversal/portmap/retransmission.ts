/**
 * Retransmission of one port-mapping request over UDP. RFC 6886 §3.1 (NAT-PMP): first retry after
 * 250 ms, doubling. RFC 6887 §8.1.1 (PCP) starts at 3 s and never gives up; a mapper that must
 * decide within a second which protocol the gateway speaks cannot wait that long, so both use the
 * NAT-PMP schedule with a bounded number of attempts, and the caller decides what a failure means
 * (give up on this protocol, or try again later).
 */
export interface RetransmissionSchedule {
  /** Time to the first retransmission, ms (RFC 6886 §3.1: 250). */
  readonly initialMs: number;
  /** Transmissions in all, first one included. */
  readonly attempts: number;
  /** Wait after the last transmission before giving up, ms. */
  readonly finalWaitMs: number;
}

export const DEFAULT_SCHEDULE: RetransmissionSchedule = { initialMs: 250, attempts: 4, finalWaitMs: 1000 };

export class Retransmission {
  private sent = 0;
  private nextAt: number;

  constructor(
    readonly data: Uint8Array,
    readonly startedAt: number,
    private readonly schedule: RetransmissionSchedule,
  ) {
    this.nextAt = startedAt;
  }

  get transmissions(): number {
    return this.sent;
  }

  /** true when the request goes (again) now; a late timer collapses missed slots into one send. */
  due(now: number): boolean {
    if (this.sent >= this.schedule.attempts || now < this.nextAt) return false;
    while (this.sent < this.schedule.attempts && now >= this.nextAt) {
      this.sent++;
      this.nextAt = this.startedAt + this.schedule.initialMs * (2 ** this.sent - 1);
    }
    return true;
  }

  /** When the request is given up. */
  get expiresAt(): number {
    const last = this.startedAt + this.schedule.initialMs * (2 ** (this.schedule.attempts - 1) - 1);
    return last + this.schedule.finalWaitMs;
  }

  nextDeadline(): number {
    return this.sent < this.schedule.attempts ? this.nextAt : this.expiresAt;
  }

  expired(now: number): boolean {
    return this.sent >= this.schedule.attempts && now >= this.expiresAt;
  }
}
