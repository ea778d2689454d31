/**
 * Connectivity checks (RFC 8445 §6.1.4, §7.2 in spirit, with punch probes instead of STUN): each
 * pair is probed from its socket, paced across the whole list (one probe per Ta), retransmitted with
 * a doubling timeout, and validated only by an authenticated reply that echoes an outstanding nonce
 * and comes from the exact address the probe went to (RFC 8445 §7.2.5.2.1's symmetry check). An
 * authenticated probe from the peer triggers a check back on the same socket and address
 * (§7.3.1.4), adding a peer-reflexive pair when the address is new (§7.3.1.3).
 */
import type { Address } from '../../transport/api.js';
import type { CandidatePair } from './pairs.js';
import type { TraversalLimits } from './limits.js';

export type PairState = 'waiting' | 'in-progress' | 'succeeded' | 'failed';

export interface PairCheck {
  readonly pair: CandidatePair;
  /** 0: the endpoint's socket; k ≥ 1: the hard side's k-th birthday socket. */
  readonly socket: number;
  state: PairState;
  transmissions: number;
  nextAt: number;
  rttMs: number;
}

/** One probe in flight, by nonce. */
export interface Outstanding {
  readonly socket: number;
  readonly destination: Address;
  readonly sentAt: number;
  /** The pair it belongs to; null for sprayed and consent probes handled by the caller. */
  readonly check: PairCheck | null;
  readonly purpose: 'check' | 'spray' | 'consent' | 'open';
}

export function sameAddress(a: Address, b: Address): boolean {
  return a.port === b.port && a.host === b.host;
}

/** The check list of one attempt. */
export class CheckList {
  readonly checks: PairCheck[] = [];
  private nextPaceAt = -Infinity;

  constructor(private readonly limits: TraversalLimits) {}

  /** Adds a pair (ignored when that socket already checks that address); returns its check. */
  add(pair: CandidatePair, socket: number, now: number, triggered = false): PairCheck {
    const existing = this.find(socket, pair.remote);
    if (existing) {
      if (triggered && existing.state !== 'succeeded') {
        // A triggered check goes out now (RFC 8445 §7.3.1.4), even after the pair gave up.
        existing.state = 'waiting';
        existing.nextAt = now;
        existing.transmissions = Math.min(existing.transmissions, this.limits.checkTransmissions - 1);
      }
      return existing;
    }
    const check: PairCheck = { pair, socket, state: 'waiting', transmissions: 0, nextAt: now, rttMs: 0 };
    // Higher priority first; a triggered check jumps the queue by its due time, not its place.
    let i = this.checks.length;
    while (i > 0 && this.checks[i - 1]!.pair.priority < pair.priority) i--;
    this.checks.splice(i, 0, check);
    return check;
  }

  find(socket: number, remote: Address): PairCheck | undefined {
    return this.checks.find((c) => c.socket === socket && sameAddress(c.pair.remote, remote));
  }

  /** The check whose probe is due now (pacing respected), marked as sent; null when none. */
  due(now: number): PairCheck | null {
    if (now < this.nextPaceAt) return null;
    let best: PairCheck | null = null;
    for (const c of this.checks) {
      if ((c.state === 'waiting' || c.state === 'in-progress') && c.nextAt <= now) {
        if (c.transmissions >= this.limits.checkTransmissions) {
          c.state = 'failed';
          continue;
        }
        if (!best || c.nextAt < best.nextAt) best = c;
      }
    }
    if (!best) return null;
    best.state = 'in-progress';
    best.nextAt = now + this.limits.checkRtoMs * 2 ** best.transmissions;
    best.transmissions++;
    this.nextPaceAt = now + this.limits.checkPacingMs;
    return best;
  }

  nextDeadline(): number {
    let t = Infinity;
    for (const c of this.checks) if ((c.state === 'waiting' || c.state === 'in-progress') && c.nextAt < t) t = c.nextAt;
    return t === Infinity ? t : Math.max(t, this.nextPaceAt);
  }

  /** The best succeeded check (highest pair priority; the endpoint's socket before birthday sockets). */
  best(): PairCheck | null {
    let best: PairCheck | null = null;
    for (const c of this.checks) {
      if (c.state !== 'succeeded') continue;
      if (!best || c.pair.priority > best.pair.priority) best = c;
    }
    return best;
  }

  /** True when every check ended (none waiting or in progress). */
  get finished(): boolean {
    return this.checks.every((c) => c.state === 'succeeded' || c.state === 'failed');
  }
}
