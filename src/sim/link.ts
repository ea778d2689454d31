/**
 * One direction of a simulated path. `send(datagram, now)` decides, from the link's config and its
 * own seeded random streams, whether and when copies of the datagram arrive; the network schedules
 * them. The link owns no clock and no event queue, so it can be tested (and measured) on its own.
 *
 * A datagram goes through, in order:
 *   1. MTU          larger than `mtu` bytes → dropped ('mtu')
 *   2. bottleneck   with `bandwidthBps`: waits behind earlier datagrams (serialization = size·8/bps);
 *                   if the backlog plus this datagram exceeds `queueBytes` → dropped ('queue', drop-tail)
 *   3. loss         Gilbert–Elliott `burstLoss` ('burst'), then independent `lossRate` ('random')
 *   4. propagation  `delayMs` + uniform [0, jitterMs]; jitter keeps FIFO order (a datagram never
 *                   overtakes an earlier one), so jitter alone does not reorder
 *   5. reordering   with `reorderRate` a datagram is held back an extra [0.5, 1] × reorderDelayMs and
 *                   later ones may overtake it
 *   6. duplication  with `duplicateRate` a second copy arrives right after the first
 *   7. corruption   each delivered copy, with `corruptRate`, has one random bit flipped
 */
import type { SimRandom } from './random.js';

/** Gilbert–Elliott two-state loss: the state changes once per datagram, then loss depends on it. */
export interface BurstLossConfig {
  /** Probability of going from the good to the bad state, per datagram. */
  readonly pGoodToBad: number;
  /** Probability of going from the bad to the good state, per datagram (mean burst = 1/pBadToGood). */
  readonly pBadToGood: number;
  /** Loss probability in the bad state (default 1). */
  readonly lossInBad?: number;
  /** Loss probability in the good state (default 0). */
  readonly lossInGood?: number;
}

/** Every field is optional; an empty config is a perfect zero-delay link. Rates are in [0, 1]. */
export interface LinkConfig {
  /** One-way propagation delay, ms. */
  readonly delayMs?: number;
  /** Extra delay, uniform in [0, jitterMs], per datagram (order-preserving). */
  readonly jitterMs?: number;
  /** Independent (Bernoulli) loss probability. */
  readonly lossRate?: number;
  readonly burstLoss?: BurstLossConfig;
  /** Probability that a datagram is held back so that later ones overtake it. */
  readonly reorderRate?: number;
  /** Hold-back of a reordered datagram, scaled by uniform [0.5, 1]; default max(10, delayMs). */
  readonly reorderDelayMs?: number;
  /** Probability that a datagram is delivered twice. */
  readonly duplicateRate?: number;
  /** Probability that a delivered copy has one bit flipped. */
  readonly corruptRate?: number;
  /** Bottleneck rate in bits per second; unset = infinitely fast. */
  readonly bandwidthBps?: number;
  /** Drop-tail limit of the bottleneck queue in bytes (only with bandwidthBps); unset = unbounded. */
  readonly queueBytes?: number;
  /** Largest datagram (UDP payload bytes) that passes; unset = no limit. */
  readonly mtu?: number;
}

export type LinkDropReason = 'mtu' | 'queue' | 'burst' | 'random';

export interface LinkStats {
  /** Datagrams handed to send(). */
  sent: number;
  bytesSent: number;
  /** Copies scheduled for delivery (duplicates included). */
  delivered: number;
  bytesDelivered: number;
  dropped: Record<LinkDropReason, number>;
  duplicated: number;
  corrupted: number;
  reordered: number;
  /** Largest bottleneck backlog seen, bytes, including the datagram just queued. */
  queueHighWaterBytes: number;
  /** Largest time a datagram waited in the bottleneck queue (serialization of earlier ones), ms. */
  maxQueueDelayMs: number;
}

/** A copy of a datagram that will arrive at `at` (ms). `data` is a fresh copy owned by the receiver. */
export interface LinkDelivery {
  readonly at: number;
  readonly data: Uint8Array;
  readonly duplicate: boolean;
  readonly corrupted: boolean;
}

/** What happened to one send(): the deliveries (0, 1 or 2), or why it was dropped. */
export interface LinkOutcome {
  readonly deliveries: readonly LinkDelivery[];
  readonly dropped: LinkDropReason | null;
}

function checkRate(name: string, value: number | undefined): void {
  if (value !== undefined && !(value >= 0 && value <= 1))
    throw new RangeError(`${name} must be in [0, 1], got ${value}`);
}

function checkNonNegative(name: string, value: number | undefined): void {
  if (value !== undefined && !(value >= 0)) throw new RangeError(`${name} must be ≥ 0, got ${value}`);
}

export function validateLinkConfig(config: LinkConfig): void {
  for (const name of ['lossRate', 'reorderRate', 'duplicateRate', 'corruptRate'] as const)
    checkRate(name, config[name]);
  for (const name of ['delayMs', 'jitterMs', 'reorderDelayMs', 'queueBytes', 'mtu'] as const)
    checkNonNegative(name, config[name]);
  if (config.bandwidthBps !== undefined && !(config.bandwidthBps > 0)) {
    throw new RangeError(`bandwidthBps must be > 0, got ${config.bandwidthBps}`);
  }
  if (config.burstLoss) {
    const b = config.burstLoss;
    checkRate('burstLoss.pGoodToBad', b.pGoodToBad);
    checkRate('burstLoss.pBadToGood', b.pBadToGood);
    checkRate('burstLoss.lossInBad', b.lossInBad);
    checkRate('burstLoss.lossInGood', b.lossInGood);
  }
}

export function emptyLinkStats(): LinkStats {
  return {
    sent: 0,
    bytesSent: 0,
    delivered: 0,
    bytesDelivered: 0,
    dropped: { mtu: 0, queue: 0, burst: 0, random: 0 },
    duplicated: 0,
    corrupted: 0,
    reordered: 0,
    queueHighWaterBytes: 0,
    maxQueueDelayMs: 0,
  };
}

export class Link {
  #config: LinkConfig;
  readonly stats: LinkStats = emptyLinkStats();

  // One stream per decision, so that e.g. enabling duplication does not change which datagrams are lost.
  readonly #burst: SimRandom;
  readonly #loss: SimRandom;
  readonly #jitter: SimRandom;
  readonly #reorder: SimRandom;
  readonly #duplicate: SimRandom;
  readonly #corrupt: SimRandom;

  /** Time the bottleneck finishes serializing everything accepted so far. */
  #busyUntil = -Infinity;
  /** Arrival time of the latest in-order datagram (FIFO floor for jitter). */
  #lastArrival = -Infinity;
  #bad = false;

  constructor(config: LinkConfig, random: SimRandom) {
    validateLinkConfig(config);
    this.#config = config;
    this.#burst = random.derive('burst');
    this.#loss = random.derive('loss');
    this.#jitter = random.derive('jitter');
    this.#reorder = random.derive('reorder');
    this.#duplicate = random.derive('duplicate');
    this.#corrupt = random.derive('corrupt');
  }

  get config(): LinkConfig {
    return this.#config;
  }

  /** Replaces the config (e.g. an outage or a bandwidth change mid-run); queue, state and stats remain. */
  configure(config: LinkConfig): void {
    validateLinkConfig(config);
    this.#config = config;
  }

  /** Bytes waiting in (or being serialized by) the bottleneck at `now`. */
  backlogBytes(now: number): number {
    const bps = this.#config.bandwidthBps;
    if (bps === undefined || this.#busyUntil <= now) return 0;
    return ((this.#busyUntil - now) * bps) / 8000;
  }

  send(datagram: Uint8Array, now: number): LinkOutcome {
    const c = this.#config;
    const size = datagram.length;
    this.stats.sent++;
    this.stats.bytesSent += size;

    if (c.mtu !== undefined && size > c.mtu) return this.#drop('mtu');

    let departure = now;
    if (c.bandwidthBps !== undefined) {
      const backlog = this.backlogBytes(now);
      // Tolerance: the backlog is computed from floating-point times.
      if (c.queueBytes !== undefined && backlog + size > c.queueBytes + 1e-6) return this.#drop('queue');
      const start = Math.max(now, this.#busyUntil);
      this.#busyUntil = start + (size * 8000) / c.bandwidthBps;
      departure = this.#busyUntil;
      this.stats.queueHighWaterBytes = Math.max(this.stats.queueHighWaterBytes, backlog + size);
      this.stats.maxQueueDelayMs = Math.max(this.stats.maxQueueDelayMs, start - now);
    }

    if (c.burstLoss) {
      const b = c.burstLoss;
      const flip = this.#burst.float();
      this.#bad = this.#bad ? !(flip < b.pBadToGood) : flip < b.pGoodToBad;
      const p = this.#bad ? (b.lossInBad ?? 1) : (b.lossInGood ?? 0);
      if (this.#burst.chance(p)) return this.#drop('burst');
    }
    if (this.#loss.chance(c.lossRate ?? 0)) return this.#drop('random');

    let at = departure + (c.delayMs ?? 0) + this.#jitter.float() * (c.jitterMs ?? 0);
    if (this.#reorder.chance(c.reorderRate ?? 0)) {
      const hold = c.reorderDelayMs ?? Math.max(10, c.delayMs ?? 0);
      at += hold * (0.5 + 0.5 * this.#reorder.float());
      this.stats.reordered++;
    } else {
      at = Math.max(at, this.#lastArrival);
      this.#lastArrival = at;
    }

    const deliveries = [this.#copy(datagram, at, false)];
    if (this.#duplicate.chance(c.duplicateRate ?? 0)) {
      this.stats.duplicated++;
      deliveries.push(this.#copy(datagram, at, true));
    }
    return { deliveries, dropped: null };
  }

  #copy(datagram: Uint8Array, at: number, duplicate: boolean): LinkDelivery {
    const data = datagram.slice();
    const corrupt = this.#corrupt.chance(this.#config.corruptRate ?? 0);
    const bit = this.#corrupt.next();
    let corrupted = false;
    if (corrupt && data.length > 0) {
      const index = bit % (data.length * 8);
      data[index >>> 3]! ^= 1 << (index & 7);
      corrupted = true;
      this.stats.corrupted++;
    }
    this.stats.delivered++;
    this.stats.bytesDelivered += data.length;
    return { at, data, duplicate, corrupted };
  }

  #drop(reason: LinkDropReason): LinkOutcome {
    this.stats.dropped[reason]++;
    return { deliveries: [], dropped: reason };
  }
}
