/**
 * When the peer's packets arrive from a new address, what to do about it (RFC 9000 §9.3, §9.4), sans-IO.
 *
 * The connection asks this policy; the probing itself (PATH_CHALLENGE outside the congestion window,
 * its timer, the switch on PATH_RESPONSE) is the connection's paths (probePath).
 *
 * - **Nothing moves on a packet alone** (RFC 9000 §9.3): a packet from a new address, even the newest
 *   authenticated one, only starts validation of that address; the connection keeps sending to the
 *   validated address until the new one answers. An attacker who re-sends a copy of a genuine packet
 *   from its own address (or spoofs a victim's) therefore gains nothing: the challenge goes
 *   unanswered, the copy's address is abandoned, and the data never stopped.
 * - **Rate limit** (RFC 9000 §9.3.2, §21.5.4): at most one validation per address at a time, and new
 *   addresses are validated at `burst` at once, then `ratePerSecond`, so copies from many addresses
 *   cannot keep the connection busy probing (each probe is still bounded by anti-amplification,
 *   RFC 9000 §8: 3× the bytes received from that address).
 * - **Congestion state** (RFC 9000 §9.4): after a switch the congestion controller and RTT estimator
 *   restart only when the path really changed — a different host. A port-only change of the same
 *   host is a NAT rebinding: the bottleneck is the same, and a restart from the initial window would
 *   be a needless stall.
 */
import type { Address } from './api.js';

export interface MigrationPolicyOptions {
  /** New addresses validated right away (default 3). */
  readonly burst?: number;
  /** Then at most this many per second (default 1). */
  readonly ratePerSecond?: number;
}

export interface MigrationStats {
  /** Validations started for new peer addresses. */
  readonly probesStarted: number;
  /** New peer addresses not probed (rate limit, or one already being validated). */
  readonly probesSuppressed: number;
  /** Validations of new peer addresses that failed (the connection stayed). */
  readonly validationsFailed: number;
  /** Switches to a validated new peer address. */
  readonly migrations: number;
}

export class MigrationPolicy {
  private readonly burst: number;
  private readonly rate: number;
  private tokens: number;
  private refilledAt = Number.NaN;
  /** Addresses being validated ("host|port"). */
  private readonly inFlight = new Set<string>();
  private started = 0;
  private suppressed = 0;
  private failed = 0;
  private switched = 0;

  constructor(options: MigrationPolicyOptions = {}) {
    this.burst = Math.max(1, options.burst ?? 3);
    this.rate = Math.max(0, options.ratePerSecond ?? 1);
    this.tokens = this.burst;
  }

  stats(): MigrationStats {
    return {
      probesStarted: this.started,
      probesSuppressed: this.suppressed,
      validationsFailed: this.failed,
      migrations: this.switched,
    };
  }

  /**
   * An authenticated packet came from `from`, which is not the active path's address. True: start
   * validating it now (probePath). False: ignore it (already being validated, or rate-limited).
   */
  onPacketFromNewAddress(from: Address, now: number): boolean {
    const key = addressKey(from);
    if (this.inFlight.has(key)) return false;
    this.refill(now);
    if (this.tokens < 1) {
      this.suppressed++;
      return false;
    }
    this.tokens -= 1;
    this.inFlight.add(key);
    this.started++;
    return true;
  }

  /**
   * The peer answered at `to`: the connection switched from `from`. Returns whether congestion control
   * and RTT estimation restart (RFC 9000 §9.4): only for a different host, not a port-only rebinding.
   */
  onValidated(from: Address, to: Address): { resetCongestion: boolean } {
    this.inFlight.delete(addressKey(to));
    this.switched++;
    return { resetCongestion: !sameHost(from, to) };
  }

  /** Validation of `remote` failed: the connection stays where it is. */
  onValidationFailed(remote: Address): void {
    if (this.inFlight.delete(addressKey(remote))) this.failed++;
  }

  private refill(now: number): void {
    if (Number.isNaN(this.refilledAt)) this.refilledAt = now;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
  }
}

/** Same host (IP), any port: a port-only change is a NAT rebinding, not a new network path. */
export function sameHost(a: Address, b: Address): boolean {
  return a.host === b.host;
}

function addressKey(a: Address): string {
  return `${a.host}|${a.port}`;
}
