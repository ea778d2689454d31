import type { Address, RandomSource } from './api.js';
import { Path } from './path.js';

/** Smallest datagram worth sending a PATH_CHALLENGE in (header, the frame, tag). */
const MIN_PROBE_DATAGRAM = 48;

/** A path being probed (probePath): its own retransmission and give-up times (RFC 9000 §8.2.4). */
interface Probe {
  readonly path: Path;
  /** Next PATH_CHALLENGE repetition. */
  retransmitAt: number;
  /** Current repetition interval (doubles each time). */
  interval: number;
  /** Validation failed if no PATH_RESPONSE came by then. */
  readonly abandonAt: number;
}

/**
 * The paths of a connection: the active one, which carries every packet, and the ones being probed.
 * Recovery, congestion control and streams only ever see the active path, so adding paths touches
 * nothing else.
 *
 * Two ways to a new path:
 * - the peer's packets arrive from a new address (NAT rebinding, or the peer switched): the connection
 *   follows the newest packet at once and validates the address (RFC 9000 §9.3);
 * - this side probes an address (probePath): PATH_CHALLENGE on its own timer, regardless of the
 *   congestion window; the active path switches to it when the PATH_RESPONSE arrives, and stays
 *   where it is when validation fails (RFC 9000 §8.2, §9.1).
 */
export class Paths {
  private activePath: Path;
  private readonly probes: Probe[] = [];
  private migrationCount = 0;

  constructor(
    remote: Address,
    /** A client chose its first address: validated by construction. */
    isClient: boolean,
    private readonly maxDatagramSize: number,
  ) {
    this.activePath = new Path(remote, isClient, isClient, maxDatagramSize);
  }

  get active(): Path {
    return this.activePath;
  }
  /** How many times the active path changed. */
  get migrations(): number {
    return this.migrationCount;
  }
  get probing(): boolean {
    return this.probes.length > 0;
  }

  /**
   * The newest packet came from `from`, which is not the active path's address: make its path
   * active (a probed one, or a new one that starts validation).
   */
  follow(from: Address, random: RandomSource): void {
    const i = this.probeIndex(from);
    let next: Path;
    if (i >= 0) {
      next = (this.probes[i] as Probe).path;
      this.probes.splice(i, 1);
      this.updateDeadline();
    } else {
      next = new Path(from, false, false, this.maxDatagramSize);
      next.startChallenge(random);
    }
    next.inheritResponse(this.activePath);
    this.activePath = next;
    this.migrationCount++;
  }

  /**
   * Starts (or restarts) probing `remote`. `interval` is the first repetition interval, `timeout` the
   * time after which validation has failed. false when `remote` is the active path already.
   */
  probe(
    remote: Address,
    random: RandomSource,
    now: number,
    interval: number,
    timeout: number,
    /**
     * false: the peer's packets claimed the address (RFC 9000 §9.3), which may be a victim's: until it
     * answers, at most 3× the bytes received from it go there (RFC 9000 §8, §9.3.1).
     */
    chosenLocally = true,
  ): boolean {
    if (this.activePath.is(remote)) return false;
    const i = this.probeIndex(remote);
    if (i >= 0) this.probes.splice(i, 1);
    const path = new Path(remote, false, chosenLocally, this.maxDatagramSize);
    path.startChallenge(random);
    this.probes.push({ path, retransmitAt: now + interval, interval, abandonAt: now + timeout });
    this.updateDeadline();
    return true;
  }

  /** A PATH_RESPONSE. Returns the probed path it validated, which is now the active one, or null. */
  onResponse(data: Uint8Array, now: number): Path | null {
    if (this.activePath.onResponse(data, now)) return null;
    for (let i = 0; i < this.probes.length; i++) {
      const path = (this.probes[i] as Probe).path;
      if (!path.onResponse(data, now)) continue;
      this.probes.splice(i, 1);
      this.updateDeadline();
      this.activePath = path;
      this.migrationCount++;
      return path;
    }
    return null;
  }

  /** A probed path whose PATH_CHALLENGE is due now, or null. */
  dueProbe(): Path | null {
    const probes = this.probes;
    for (let i = 0; i < probes.length; i++) {
      const path = (probes[i] as Probe).path;
      // A path whose anti-amplification budget is spent waits for more bytes from it (RFC 9000 §8).
      if (path.challengeDue && path.budget >= MIN_PROBE_DATAGRAM) return path;
    }
    return null;
  }

  /**
   * Earliest probe timer (Infinity when nothing is probed). A field, kept current by every change to
   * the probes: the connection reads it at every nextDeadline() (hot path), and a double returned
   * from a call would be boxed.
   */
  get deadline(): number {
    return this.probeDeadline;
  }
  private probeDeadline = Infinity;

  private updateDeadline(): void {
    let t = Infinity;
    for (const p of this.probes) t = Math.min(t, p.abandonAt, p.retransmitAt);
    this.probeDeadline = t;
  }

  /** Repeats due challenges; returns the paths whose validation failed (now forgotten). */
  onTimeout(now: number): Path[] {
    const failed: Path[] = [];
    for (let i = this.probes.length - 1; i >= 0; i--) {
      const p = this.probes[i] as Probe;
      if (now >= p.abandonAt) {
        this.probes.splice(i, 1);
        failed.push(p.path);
      } else if (now >= p.retransmitAt) {
        p.path.repeatChallenge();
        p.interval *= 2;
        p.retransmitAt = Math.min(now + p.interval, p.abandonAt);
      }
    }
    this.updateDeadline();
    return failed.reverse();
  }

  /** The path being probed at `remote`, or null. */
  probed(remote: Address): Path | null {
    const i = this.probeIndex(remote);
    return i < 0 ? null : (this.probes[i] as Probe).path;
  }

  private probeIndex(remote: Address): number {
    for (let i = 0; i < this.probes.length; i++) if ((this.probes[i] as Probe).path.is(remote)) return i;
    return -1;
  }
}
