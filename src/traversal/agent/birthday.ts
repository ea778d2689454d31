/**
 * The birthday technique against an address-and-port-dependent ("hard", symmetric) NAT
 * (spec/traversal.md §Birthday). The hard side opens many sockets and sends one datagram from each
 * to the easy side's public address, creating many mappings on its NAT, each permitting exactly the
 * easy side's address. Those first datagrams carry a low IP TTL: they open the local NAT(s) but
 * expire before the peer's NAT, which therefore never sees unsolicited traffic (some NATs penalise
 * it). The easy side, whose mapping is endpoint-independent, sprays authenticated probes at random
 * ports of the hard side's public address; with n mappings among P ports, k probes hit one with
 * probability 1 − (1 − n/P)^k — for n = 256, P = 64 512, k = 1 000 that is 98 %, k = 2 000 99.97 %
 * (1 s and 2 s at the default spray rate).
 * A hit reaches one of the hard side's sockets, whose reply (normal TTL) validates the pair on both
 * sides; the connection continues on the socket that won.
 */
import type { Address, RandomSource } from '../../transport/api.js';
import type { TraversalLimits } from './limits.js';

/** A uniform integer in [0, n) from a byte source (rejection sampling, no modulo bias). */
export function randomBelow(random: RandomSource, n: number, scratch: Uint8Array = new Uint8Array(4)): number {
  const limit = Math.floor(0x1_0000_0000 / n) * n;
  for (;;) {
    random(scratch);
    const v = ((scratch[0]! << 24) | (scratch[1]! << 16) | (scratch[2]! << 8) | scratch[3]!) >>> 0;
    if (v < limit) return v % n;
  }
}

/** The easy side: destinations to spray, at a bounded rate, for a bounded time, each port once. */
export class BirthdaySpray {
  private readonly tried = new Set<number>();
  private readonly intervalMs: number;
  private readonly endAt: number;
  private nextAt: number;
  private readonly scratch = new Uint8Array(4);
  stopped = false;

  constructor(
    private readonly targetHost: string,
    private readonly limits: TraversalLimits,
    private readonly random: RandomSource,
    start: number,
  ) {
    this.intervalMs = 1000 / limits.birthdaySprayRate;
    this.nextAt = start;
    this.endAt = start + limits.birthdayDurationMs;
  }

  get sent(): number {
    return this.tried.size;
  }

  nextDeadline(): number {
    return this.stopped ? Infinity : Math.min(this.nextAt, this.endAt);
  }

  /** The next port to spray if one is due; null when not yet or the search is over. */
  next(now: number): Address | null {
    if (this.stopped) return null;
    if (now >= this.endAt) {
      this.stopped = true;
      return null;
    }
    if (now < this.nextAt) return null;
    const span = 65_536 - this.limits.birthdayMinPort;
    if (this.tried.size >= span) {
      this.stopped = true;
      return null;
    }
    let port = this.limits.birthdayMinPort + randomBelow(this.random, span, this.scratch);
    // A repeat: the next untried port upwards (bounded work whatever the random source does).
    for (let i = 0; this.tried.has(port) && i < span; i++)
      port = port + 1 > 65_535 ? this.limits.birthdayMinPort : port + 1;
    this.tried.add(port);
    // Catch up after a late timer without bursting: at most one interval behind.
    this.nextAt = Math.max(this.nextAt + this.intervalMs, now - this.intervalMs);
    return { host: this.targetHost, port };
  }
}

/** The hard side: which extra socket sends its opening (low-TTL) datagram next, paced at its own rate. */
export class BirthdaySockets {
  private opened = 0;
  private nextSocket = 1;
  private nextAt: number;
  private readonly intervalMs: number;
  readonly endAt: number;

  constructor(
    readonly count: number,
    limits: TraversalLimits,
    start: number,
  ) {
    this.intervalMs = 1000 / limits.birthdayOpenRate;
    this.nextAt = start;
    this.endAt = start + limits.birthdayDurationMs;
  }

  /** The node layer reports how many extra sockets exist (1..opened). */
  setOpened(opened: number): void {
    this.opened = Math.min(opened, this.count);
  }

  nextDeadline(): number {
    return this.nextSocket <= this.opened ? this.nextAt : Infinity;
  }

  /** The next socket index whose opening datagram is due, or 0. */
  next(now: number): number {
    if (this.nextSocket > this.opened || now < this.nextAt || now >= this.endAt) return 0;
    this.nextAt = Math.max(this.nextAt + this.intervalMs, now - this.intervalMs);
    return this.nextSocket++;
  }
}
