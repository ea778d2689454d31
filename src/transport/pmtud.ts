/**
 * Datagram Packetization Layer PMTU Discovery (DPLPMTUD, RFC 8899) for one path, sans-IO.
 *
 * The connection sends every packet at `mtu` bytes at most (the PLPMTU, RFC 8899 §2) and, when
 * `probeSizeDue(now)` says so, one probe packet of exactly that size: a PING padded with PADDING
 * frames (RFC 9000 §14.4). The probe is ack-eliciting but its loss is no congestion signal
 * (RFC 8899 §4.4, RFC 9000 §14.4): the connection reports it here (`onProbeLost`) instead of to the
 * congestion controller. This module owns every size decision:
 *
 * - **Search** (RFC 8899 §5.3.2): the first probe tries the path's maximum (the common case, a 1500-byte
 *   MTU, is then found in one round trip); after `maxProbes` consecutive losses of a size it is
 *   known too big and the search bisects between the largest acknowledged size and the smallest
 *   failed one, until they are `resolution` bytes apart.
 * - **Black-hole detection** (RFC 8899 §4.3): packets larger than the base size that are lost while
 *   no larger packet sent after them was acknowledged mean the path stopped carrying them (a route
 *   change to a smaller MTU). After `blackHoleThreshold` such losses the PLPMTU falls back to the
 *   base and the search starts again.
 * - **Raise timer** (RFC 8899 §5.1.1 PMTU_RAISE_TIMER): a completed search is repeated after
 *   `raiseIntervalMs`, in case the path grew.
 *
 * One instance per path: a path change (RFC 9000 §9.4) starts over with `reset`.
 */

/** RFC 8899 §5.2 states of the DPLPMTUD state machine. */
export type PmtudState = 'disabled' | 'base' | 'searching' | 'search-complete' | 'error';

export interface PmtudOptions {
  /** BASE_PLPMTU: the size every path carries (QUIC and punchline: 1200, RFC 9000 §14). */
  readonly baseSize?: number;
  /** MAX_PLPMTU: the largest size to try (our buffers, the peer's max_udp_payload_size, the interface). */
  readonly maxSize: number;
  /** MAX_PROBES (RFC 8899 §5.1.2, default 3): losses of one size before it counts as too big. */
  readonly maxProbes?: number;
  /** Stop bisecting when the acknowledged and the failed size are this close (bytes). */
  readonly resolution?: number;
  /** PMTU_RAISE_TIMER (RFC 8899 §5.1.1, default 600 s). */
  readonly raiseIntervalMs?: number;
  /** Suspicious losses of large packets that mean a black hole (RFC 8899 §4.3). */
  readonly blackHoleThreshold?: number;
}

export const BASE_PLPMTU = 1200;
/** The largest UDP payload on a 1500-byte Ethernet MTU that also holds for IPv6 (1500 − 40 − 8). */
export const ETHERNET_PLPMTU = 1452;
const DEFAULT_MAX_PROBES = 3;
const DEFAULT_RESOLUTION = 8;
const DEFAULT_RAISE_INTERVAL_MS = 600_000;
const DEFAULT_BLACK_HOLE_THRESHOLD = 3;

export interface PmtudStats {
  readonly state: PmtudState;
  readonly mtu: number;
  readonly probesSent: number;
  readonly probesLost: number;
  readonly blackHoles: number;
  /** How long the last completed search took, from its first probe (ms; -1 before one completed). */
  readonly searchMs: number;
}

export class PathMtuDiscovery {
  private readonly base: number;
  private maxSize: number;
  private readonly maxProbes: number;
  private readonly resolution: number;
  private readonly raiseIntervalMs: number;
  private readonly blackHoleThreshold: number;

  private stateValue: PmtudState;
  private plpmtu: number;
  /** Smallest size known too big (maxSize + 1 while none failed). */
  private failedSize: number;
  /** Size being probed (0: none chosen). */
  private candidate = 0;
  /** Losses of `candidate` so far. */
  private candidateLosses = 0;
  /** Packet number and size of the probe in flight (-1: none). */
  private probePn = -1;
  private probeSize = 0;
  /** The probe in flight counts as lost at this time, if nobody reported it before (ms). */
  private probeLostAt = Infinity;
  /** Start the next search at this time (raise timer, ms). */
  private raiseAt = Infinity;
  /** Largest packet number of a packet above the base size that was acknowledged. */
  private largestAckedLargePn = -1;
  /** Lost packets above the base size sent after `largestAckedLargePn`, since the last such ACK. */
  private suspiciousLosses = 0;

  private probesSentCount = 0;
  private probesLostCount = 0;
  private blackHoleCount = 0;
  /** When the running search sent its first probe (ms; -1: no search running). */
  private searchStartedAt = -1;
  private lastSearchMs = -1;

  constructor(options: PmtudOptions) {
    this.base = options.baseSize ?? BASE_PLPMTU;
    this.maxSize = Math.max(this.base, Math.floor(options.maxSize));
    this.maxProbes = Math.max(1, options.maxProbes ?? DEFAULT_MAX_PROBES);
    this.resolution = Math.max(1, options.resolution ?? DEFAULT_RESOLUTION);
    this.raiseIntervalMs = options.raiseIntervalMs ?? DEFAULT_RAISE_INTERVAL_MS;
    this.blackHoleThreshold = Math.max(1, options.blackHoleThreshold ?? DEFAULT_BLACK_HOLE_THRESHOLD);
    this.plpmtu = this.base;
    this.failedSize = this.maxSize + 1;
    this.stateValue = this.maxSize > this.base ? 'base' : 'disabled';
  }

  /** The PLPMTU: the largest UDP payload to send on this path now. */
  get mtu(): number {
    return this.plpmtu;
  }

  /** How long the last completed search took from its first probe (ms; -1 before one completed). */
  get searchMs(): number {
    return this.lastSearchMs;
  }

  get state(): PmtudState {
    return this.stateValue;
  }

  /** The earliest time onTimeout must run (Infinity when nothing is scheduled). */
  get deadline(): number {
    return this.probeLostAt < this.raiseAt ? this.probeLostAt : this.raiseAt;
  }

  stats(): PmtudStats {
    return {
      state: this.stateValue,
      mtu: this.plpmtu,
      probesSent: this.probesSentCount,
      probesLost: this.probesLostCount,
      blackHoles: this.blackHoleCount,
      searchMs: this.lastSearchMs,
    };
  }

  /**
   * The largest size the path may carry changed (the peer's max_udp_payload_size transport parameter,
   * RFC 9000 §18.2, or a smaller local limit). A PLPMTU above it shrinks at once.
   */
  setMaxSize(maxSize: number, now: number): void {
    const grew = maxSize > this.maxSize;
    this.maxSize = Math.max(this.base, Math.floor(maxSize));
    if (this.plpmtu > this.maxSize) this.plpmtu = this.maxSize;
    if (this.failedSize > this.maxSize + 1) this.failedSize = this.maxSize + 1;
    if (this.maxSize <= this.base) {
      this.stateValue = 'disabled';
      this.clearProbe();
      this.raiseAt = Infinity;
    } else if (this.stateValue === 'disabled') {
      this.reset(now);
    } else if (grew && this.stateValue === 'search-complete') {
      this.raiseAt = now;
    }
  }

  /** A new path (RFC 9000 §9.4, §14.2.1): forget what the old one carried and search again. */
  reset(_now: number): void {
    this.plpmtu = this.base;
    this.searchStartedAt = -1;
    this.failedSize = this.maxSize + 1;
    this.clearProbe();
    this.candidate = 0;
    this.candidateLosses = 0;
    this.raiseAt = Infinity;
    this.largestAckedLargePn = -1;
    this.suspiciousLosses = 0;
    this.stateValue = this.maxSize > this.base ? 'base' : 'disabled';
  }

  /**
   * Size of the probe to send now, or 0 when none is due. The connection sends one packet of exactly
   * this size (PING + PADDING) and reports it with onProbeSent.
   */
  probeSizeDue(now: number): number {
    if (this.probePn >= 0) return 0;
    const s = this.stateValue;
    if (s === 'disabled') return 0;
    if (s === 'search-complete' || s === 'error') {
      if (now < this.raiseAt) return 0;
      this.raiseAt = Infinity;
      this.candidate = 0;
      // Raise timer: look for a larger size again (RFC 8899 §5.2 SEARCH_COMPLETE → SEARCHING). After
      // a black hole the search stays below the size that vanished.
      if (s === 'search-complete') this.failedSize = this.maxSize + 1;
    }
    if (this.candidate === 0) this.candidate = this.nextCandidate();
    if (this.candidate === 0) {
      this.complete(now);
      return 0;
    }
    if (this.stateValue !== 'searching') this.searchStartedAt = now;
    this.stateValue = 'searching';
    return this.candidate;
  }

  /** The probe of `size` bytes went out as packet `pn`; it counts as lost after `timeoutMs` (≈ 3 PTO). */
  onProbeSent(pn: number, size: number, now: number, timeoutMs: number): void {
    this.probePn = pn;
    this.probeSize = size;
    this.probeLostAt = now + timeoutMs;
    this.probesSentCount++;
  }

  /** Any packet was acknowledged (the connection calls this per newly acknowledged packet). */
  onAcked(pn: number, size: number, now: number): void {
    if (size > this.base && pn > this.largestAckedLargePn) {
      this.largestAckedLargePn = pn;
      this.suspiciousLosses = 0;
    }
    if (pn !== this.probePn) return;
    const probed = this.probeSize;
    this.clearProbe();
    if (probed > this.plpmtu) this.plpmtu = probed;
    this.candidate = 0;
    this.candidateLosses = 0;
    if (this.nextCandidate() === 0) this.complete(now);
  }

  /**
   * A packet was declared lost. For the probe, one more loss of its size; for others above the base
   * size, black-hole detection. Returns true when the packet was the probe: its loss must not reach
   * the congestion controller (RFC 8899 §4.4).
   */
  onLost(pn: number, size: number, now: number): boolean {
    if (pn === this.probePn) {
      this.probeFailed(now);
      return true;
    }
    if (size > this.base && pn > this.largestAckedLargePn && this.stateValue !== 'disabled') {
      this.suspiciousLosses++;
      if (this.suspiciousLosses >= this.blackHoleThreshold) this.blackHole(now);
    }
    return false;
  }

  /** The probe's record was acknowledged (it rides a PmtuProbe frame record). */
  onProbeAcked(pn: number, now: number): void {
    if (pn === this.probePn) this.onAcked(pn, this.probeSize, now);
  }

  /** The probe's record was declared lost (or re-queued by a PTO). Unknown or old probes are ignored. */
  onProbeLost(pn: number, now: number): void {
    if (pn === this.probePn) this.probeFailed(now);
  }

  /** PacketSizeObserver: the largest packet an ACK newly acknowledged. */
  onLargestAcked(pn: number, size: number, now: number): void {
    this.onAcked(pn, size, now);
  }

  /** PacketSizeObserver: an in-flight (data) packet was lost. */
  onInFlightLost(pn: number, size: number, now: number): void {
    this.onLost(pn, size, now);
  }

  /**
   * Repeated probe timeouts with nothing acknowledged: the PTO probes are full-size packets too, so a
   * path that stopped carrying them would never let black-hole detection see an ACK. Fall back to the
   * base size (RFC 8899 §4.3) so the probes get through; the search runs again afterwards.
   */
  onRepeatedTimeouts(now: number): void {
    if (this.plpmtu > this.base) this.blackHole(now);
  }

  onTimeout(now: number): void {
    if (now >= this.probeLostAt) this.probeFailed(now);
    // The raise timer only makes a probe due; probeSizeDue acts on it.
  }

  /** Is packet `pn` the probe in flight (the connection keeps it out of congestion accounting)? */
  isProbe(pn: number): boolean {
    return pn === this.probePn;
  }

  private probeFailed(now: number): void {
    if (this.probePn < 0) return;
    this.clearProbe();
    this.probesLostCount++;
    this.candidateLosses++;
    if (this.candidateLosses < this.maxProbes) return; // probe the same size again
    this.failedSize = this.candidate;
    this.candidate = 0;
    this.candidateLosses = 0;
    if (this.nextCandidate() === 0) this.complete(now);
  }

  /** RFC 8899 §4.3: the path no longer carries the PLPMTU. Back to the base, then search again. */
  private blackHole(now: number): void {
    this.blackHoleCount++;
    this.suspiciousLosses = 0;
    this.failedSize = this.plpmtu > this.base ? this.plpmtu : this.maxSize + 1;
    this.plpmtu = this.base;
    this.clearProbe();
    this.candidate = 0;
    this.candidateLosses = 0;
    this.stateValue = 'error';
    // Search again at once (the next probeSizeDue), within the new, smaller bound.
    this.raiseAt = now;
  }

  /** The next size to try: the maximum first, then bisection; 0 when the search is done. */
  private nextCandidate(): number {
    const low = this.plpmtu;
    const high = this.failedSize; // smallest failed, or maxSize + 1
    if (high - low <= this.resolution) return 0;
    if (high === this.maxSize + 1) return this.maxSize;
    return Math.floor((low + high) / 2);
  }

  private complete(now: number): void {
    if (this.searchStartedAt >= 0) this.lastSearchMs = now - this.searchStartedAt;
    this.searchStartedAt = -1;
    this.stateValue = 'search-complete';
    this.candidate = 0;
    this.raiseAt = this.plpmtu >= this.maxSize ? Infinity : now + this.raiseIntervalMs;
  }

  private clearProbe(): void {
    this.probePn = -1;
    this.probeSize = 0;
    this.probeLostAt = Infinity;
  }
}
