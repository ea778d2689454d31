/**
 * Sans-IO binding-lifetime probe (RFC 5780 §4.6). Two sockets: X holds the binding under test, Y
 * probes it. Each trial refreshes X's binding with a Binding request, stays silent for T, then sends
 * from Y a Binding request with RESPONSE-PORT = X's mapped port: the server answers to the NAT's
 * IP at that port, so the answer reaches X only while X's binding (and its filter entry for the
 * server, which X itself opened) is alive. T doubles until a trial fails, then binary search
 * narrows the lifetime to `resolutionMs`.
 *
 * Caveat (as in the RFC): X must send nothing else meanwhile, and a probe that needed
 * retransmissions measured a slightly longer T.
 */
import type { Address, DataTransmit, RandomSource } from '../../transport/api.js';
import { StunBindingClient } from './binding-client.js';
import type { StunError } from './errors.js';
import type { RetransmissionOptions } from './transaction.js';

export type ProbeSocket = 'x' | 'y';

export interface LifetimeProbeOptions {
  readonly server: Address;
  readonly random: RandomSource;
  /** First silence to try, ms (default 10 s). */
  readonly initialMs?: number;
  /** Stop doubling beyond this, ms (default 300 s): result is then "at least maxMs". */
  readonly maxMs?: number;
  /** Binary search stops when the interval is this narrow, ms (default 5 s). */
  readonly resolutionMs?: number;
  readonly retransmission?: RetransmissionOptions;
}

export interface LifetimeResult {
  /** The binding survived this long (ms). */
  readonly aliveMs: number;
  /** The binding did not survive this long (ms); null when it outlived maxMs. */
  readonly expiredMs: number | null;
  /** Our mapped address (from X). */
  readonly mapped: Address;
}

/** A DataTransmit plus the probe socket (X or Y) to send it from. */
export interface ProbeTransmit extends DataTransmit {
  readonly socket: ProbeSocket;
}

type Phase = 'refresh' | 'silence' | 'probe' | 'done' | 'failed';

export class BindingLifetimeProbe {
  private readonly x: StunBindingClient;
  private readonly y: StunBindingClient;
  private readonly options: Required<Omit<LifetimeProbeOptions, 'retransmission'>>;
  private phase: Phase = 'refresh';
  private trialMs: number;
  private alive = 0;
  private expired: number | null = null;
  private mapped: Address | undefined;
  private silenceUntil = 0;
  private probeId = 0;
  private refreshId = 0;
  private failure: StunError | undefined;

  constructor(options: LifetimeProbeOptions, now: number) {
    const retransmission = options.retransmission ?? { rto: 500, rc: 4, rm: 4 };
    this.x = new StunBindingClient({ random: options.random, retransmission });
    this.y = new StunBindingClient({ random: options.random, retransmission });
    this.options = {
      server: options.server,
      random: options.random,
      initialMs: options.initialMs ?? 10_000,
      maxMs: options.maxMs ?? 300_000,
      resolutionMs: options.resolutionMs ?? 5_000,
    };
    this.trialMs = this.options.initialMs;
    this.refreshId = this.x.request(options.server, now);
  }

  get done(): boolean {
    return this.phase === 'done' || this.phase === 'failed';
  }

  get error(): StunError | undefined {
    return this.failure;
  }

  /** The silence being tested now, ms. */
  get currentTrialMs(): number {
    return this.trialMs;
  }

  result(): LifetimeResult | null {
    return this.phase === 'done' && this.mapped
      ? { aliveMs: this.alive, expiredMs: this.expired, mapped: this.mapped }
      : null;
  }

  /** Feeds a datagram that arrived on socket `socket`. */
  receive(data: Uint8Array, from: Address, now: number, socket: ProbeSocket): boolean {
    // The probe's answer is addressed to X, but the transaction belongs to Y's client. Nothing
    // should ever answer Y itself; if something does, it proves nothing about X and is ignored.
    if (socket === 'y') return false;
    const consumed = this.x.receive(data, from, now) || this.y.receive(data, from, now);
    this.drain(now);
    return consumed;
  }

  pollTransmit(now: number): ProbeTransmit | null {
    if (this.done) return null;
    const tx = this.x.pollTransmit(now);
    if (tx) return { socket: 'x', ...tx };
    const ty = this.y.pollTransmit(now);
    return ty ? { socket: 'y', ...ty } : null;
  }

  nextDeadline(): number {
    if (this.done) return Infinity;
    if (this.phase === 'silence') return this.silenceUntil;
    return Math.min(this.x.nextDeadline(), this.y.nextDeadline());
  }

  onTimeout(now: number): void {
    if (this.phase === 'silence' && now >= this.silenceUntil) {
      this.phase = 'probe';
      this.probeId = this.y.request(this.options.server, now, { responsePort: this.mapped!.port });
      return;
    }
    this.x.onTimeout(now);
    this.y.onTimeout(now);
    this.drain(now);
  }

  private drain(now: number): void {
    for (let e = this.x.pollEvent(); e; e = this.x.pollEvent()) {
      if (this.phase !== 'refresh' || e.id !== this.refreshId) continue;
      if (e.type === 'failure') {
        this.failure = e.error;
        this.phase = 'failed';
        return;
      }
      this.mapped = e.mapped;
      this.phase = 'silence';
      this.silenceUntil = now + this.trialMs;
    }
    for (let e = this.y.pollEvent(); e; e = this.y.pollEvent()) {
      if (this.phase !== 'probe' || e.id !== this.probeId) continue;
      if (e.type === 'success') this.alive = Math.max(this.alive, this.trialMs);
      else this.expired = this.expired === null ? this.trialMs : Math.min(this.expired, this.trialMs);
      this.nextTrial(now);
    }
  }

  private nextTrial(now: number): void {
    const { maxMs, resolutionMs } = this.options;
    if (this.expired === null) {
      if (this.trialMs >= maxMs) return this.finish();
      this.trialMs = Math.min(maxMs, this.trialMs * 2);
    } else {
      if (this.expired - this.alive <= resolutionMs) return this.finish();
      this.trialMs = Math.round((this.alive + this.expired) / 2);
    }
    this.phase = 'refresh';
    this.refreshId = this.x.request(this.options.server, now);
  }

  private finish(): void {
    this.phase = 'done';
  }
}
