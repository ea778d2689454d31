/**
 * A packet-level model of one drop-tail bottleneck shared by several flows, each driven by a
 * congestion controller alone (no connection, no crypto): fast enough to run minutes of simulated
 * time in a test. Flows send whenever the window allows (paced at 1.25 · window / RTT), every packet
 * is acknowledged on its own, losses are reported once three later packets were acknowledged
 * (RFC 9002's packet threshold) and random drops happen before the queue (a lossy radio hop).
 * Used by congestion-ledbat-plus-plus.test.ts to check convergence, yielding and latecomer behaviour.
 */
import type { AckSample, CongestionController } from '../../src/transport/congestion/controller.js';

export interface ModelFlow {
  readonly controller: CongestionController;
  /** Simulated ms at which the flow starts / stops sending. */
  readonly startMs: number;
  readonly stopMs?: number;
  /** Receiver clock offset (ms): one-way delays are only meaningful as differences. */
  readonly clockOffsetMs?: number;
}

export interface ModelOptions {
  readonly rateMbps: number;
  readonly queueBytes: number;
  /** One-way propagation delay each way (ms). */
  readonly baseDelayMs: number;
  readonly durationMs: number;
  readonly mss?: number;
  /** Probability of a random drop before the bottleneck queue. */
  readonly randomLoss?: number;
  readonly seed?: number;
  /** Width of the goodput buckets (ms). */
  readonly bucketMs?: number;
}

export interface ModelResult {
  /** Delivered bytes per flow per bucket. */
  readonly delivered: number[][];
  readonly bucketMs: number;
  /** Queueing delay (ms) sampled every bucket. */
  readonly queueDelayMs: number[];
  readonly drops: number;
  /** Mean goodput of each flow (Mbit/s) between fromMs and toMs. */
  mbps(flow: number, fromMs: number, toMs: number): number;
}

interface Packet {
  flow: number;
  seq: number;
  size: number;
  sentAt: number;
  inFlightAtSend: number;
}

/** Jain's fairness index of the given throughputs. */
export function jain(values: readonly number[]): number {
  const sum = values.reduce((a, b) => a + b, 0);
  const squares = values.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 1 : (sum * sum) / (values.length * squares);
}

export function runModel(options: ModelOptions, flows: readonly ModelFlow[]): ModelResult {
  const mss = options.mss ?? 1200;
  const tick = 0.05;
  const bytesPerMs = (options.rateMbps * 1e6) / 8 / 1000;
  const bucketMs = options.bucketMs ?? 500;
  const buckets = Math.ceil(options.durationMs / bucketMs);
  const delivered = flows.map(() => new Array<number>(buckets).fill(0));
  const queueDelayMs: number[] = [];
  let seed = options.seed ?? 1;
  const random = (): number => {
    // xorshift32: deterministic
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const queue: Packet[] = [];
  let queueHead = 0;
  let queueBytes = 0;
  let serviceCredit = 0;
  let drops = 0;
  // ACKs and loss reports in flight back to the senders, by arrival time (FIFO: constant delay).
  const acks: Array<{ at: number; packet: Packet; receivedAt: number }> = [];
  let ackHead = 0;
  const state = flows.map(() => ({
    nextSeq: 0,
    inFlight: 0,
    srtt: 0,
    minRtt: Infinity,
    hasRtt: false,
    nextSendAt: 0,
    largestAcked: -1,
    outstanding: new Map<number, Packet>(),
  }));
  const sample: { -readonly [K in keyof AckSample]: AckSample[K] } = {
    ackedBytes: 0,
    priorInFlight: 0,
    sentInFlight: 0,
    largestAckedSentTime: 0,
    latestRtt: 0,
    smoothedRtt: 0,
    minRtt: 0,
    oneWayDelay: 0,
    appLimited: false,
  };

  for (let now = 0; now < options.durationMs; now += tick) {
    // Bottleneck service.
    serviceCredit += bytesPerMs * tick;
    while (queueHead < queue.length) {
      const p = queue[queueHead] as Packet;
      if (serviceCredit < p.size) break;
      serviceCredit -= p.size;
      queueHead++;
      queueBytes -= p.size;
      const receivedAt = now + options.baseDelayMs;
      const bucket = Math.min(buckets - 1, Math.floor(receivedAt / bucketMs));
      (delivered[p.flow] as number[])[bucket] = ((delivered[p.flow] as number[])[bucket] as number) + p.size;
      acks.push({ at: receivedAt + options.baseDelayMs, packet: p, receivedAt });
    }
    if (queueHead === queue.length) {
      serviceCredit = Math.min(serviceCredit, mss); // an idle link does not save up capacity
      queue.length = 0;
      queueHead = 0;
    }
    if (queueHead > 4096) {
      queue.splice(0, queueHead);
      queueHead = 0;
    }
    // ACK arrivals.
    while (ackHead < acks.length && (acks[ackHead] as { at: number }).at <= now) {
      const { packet, receivedAt } = acks[ackHead++] as { at: number; packet: Packet; receivedAt: number };
      const f = state[packet.flow] as (typeof state)[number];
      const flow = flows[packet.flow] as ModelFlow;
      if (!f.outstanding.delete(packet.seq)) continue;
      const prior = f.inFlight;
      f.inFlight -= packet.size;
      const rtt = now - packet.sentAt;
      f.minRtt = Math.min(f.minRtt, rtt);
      f.srtt = f.hasRtt ? 0.875 * f.srtt + 0.125 * rtt : rtt;
      f.hasRtt = true;
      f.largestAcked = Math.max(f.largestAcked, packet.seq);
      sample.ackedBytes = packet.size;
      sample.priorInFlight = prior;
      sample.sentInFlight = packet.inFlightAtSend;
      sample.largestAckedSentTime = packet.sentAt;
      sample.latestRtt = rtt;
      sample.smoothedRtt = f.srtt;
      sample.minRtt = f.minRtt;
      sample.oneWayDelay = receivedAt - packet.sentAt + (flow.clockOffsetMs ?? 0);
      sample.appLimited = false;
      flow.controller.onAck(now, sample);
      // Packet-threshold loss detection (RFC 9002 §6.1.1).
      let lostBytes = 0;
      let largestLostSentTime = -Infinity;
      for (const [seq, p] of f.outstanding) {
        if (seq + 3 > f.largestAcked) break;
        f.outstanding.delete(seq);
        f.inFlight -= p.size;
        lostBytes += p.size;
        largestLostSentTime = Math.max(largestLostSentTime, p.sentAt);
      }
      if (lostBytes > 0) flow.controller.onLoss(now, lostBytes, largestLostSentTime, f.inFlight);
    }
    // Probe timeout (RFC 9002 §6.2, simplified): nothing acknowledged for a while, the rest is lost.
    for (let i = 0; i < flows.length; i++) {
      const f = state[i] as (typeof state)[number];
      const first = f.outstanding.values().next();
      if (first.done) continue;
      const oldest = first.value as Packet;
      // Before any RTT sample: RFC 9002 §6.2.2's initial PTO (kInitialRtt 333 ms: 333 + 4 · 333/2),
      // as the stack uses; a shorter guess fired spuriously on a latecomer whose first RTT includes
      // the incumbent's standing queue, which the real stack never does.
      const pto = f.hasRtt ? 2 * f.srtt + 25 : 999;
      if (now - oldest.sentAt < pto) continue;
      let lostBytes = 0;
      let largestLostSentTime = -Infinity;
      for (const p of f.outstanding.values()) {
        lostBytes += p.size;
        largestLostSentTime = Math.max(largestLostSentTime, p.sentAt);
      }
      f.outstanding.clear();
      f.inFlight = 0;
      (flows[i] as ModelFlow).controller.onLoss(now, lostBytes, largestLostSentTime, 0);
    }
    if (ackHead > 4096) {
      acks.splice(0, ackHead);
      ackHead = 0;
    }
    // Senders.
    for (let i = 0; i < flows.length; i++) {
      const flow = flows[i] as ModelFlow;
      const f = state[i] as (typeof state)[number];
      if (now < flow.startMs || now >= (flow.stopMs ?? Infinity)) continue;
      while (f.inFlight + mss <= flow.controller.window && now >= f.nextSendAt) {
        const p: Packet = { flow: i, seq: f.nextSeq++, size: mss, sentAt: now, inFlightAtSend: 0 };
        f.inFlight += mss;
        p.inFlightAtSend = f.inFlight;
        f.outstanding.set(p.seq, p);
        flow.controller.onPacketSent(now, mss, f.inFlight);
        const rtt = f.hasRtt ? Math.max(f.srtt, 0.1) : 2 * options.baseDelayMs + 1;
        f.nextSendAt = Math.max(f.nextSendAt, now - 2) + mss / ((1.25 * flow.controller.window) / rtt);
        if (options.randomLoss !== undefined && random() < options.randomLoss) {
          drops++;
          continue;
        }
        if (queueBytes + mss > options.queueBytes) {
          drops++;
          continue;
        }
        queue.push(p);
        queueBytes += mss;
      }
    }
    if (Math.floor(now / bucketMs) !== Math.floor((now + tick) / bucketMs)) queueDelayMs.push(queueBytes / bytesPerMs);
  }
  return {
    delivered,
    bucketMs,
    queueDelayMs,
    drops,
    mbps(flow: number, fromMs: number, toMs: number): number {
      const row = delivered[flow] as number[];
      let bytes = 0;
      for (let b = Math.floor(fromMs / bucketMs); b < Math.floor(toMs / bucketMs); b++) bytes += row[b] ?? 0;
      return (bytes * 8) / ((toMs - fromMs) * 1000);
    },
  };
}
