/**
 * Client side of binding a UDP leg (relay leg or presence leg) at the relay server
 * (spec/relay.md §Binding): BIND → CHALLENGE(cookie) → BIND(cookie) → BOUND, then periodic BIND
 * keepalives that also re-validate the address after a NAT rebinding. Sans-IO: the owner feeds
 * control datagrams in and sends what pollTransmit() returns to the server's UDP address.
 */
import { RelayControlType, encodeBind, verifyBound, type ObservedAddress, type RelayControl } from './udp-control.js';
import { bytesEqual } from '../rendezvous/messages.js';

export type LegState = 'idle' | 'binding' | 'bound';

export class LegBinder {
  private counter = 0;
  private pending: Uint8Array[] = [];
  private lastSent = -Infinity;
  private lastBound = -Infinity;
  state: LegState = 'idle';
  observed: ObservedAddress | null = null;

  constructor(
    readonly id: Uint8Array,
    private readonly key: Uint8Array,
    /** Keepalive period: below the shortest NAT UDP mapping lifetime seen in practice (RFC 4787 §4.3: ≥ 2 min, many use 30 s). */
    private readonly keepaliveMs = 15_000,
    /** Resend an unanswered BIND after this long. */
    private readonly retransmitMs = 500,
  ) {}

  /** Starts (or restarts) binding. */
  bind(now: number): void {
    if (this.state === 'idle') this.state = 'binding';
    this.queueBind(now);
  }

  /**
   * A control datagram for this leg arrived from the server. Returns true when the leg became
   * bound (or re-bound) by it. Unauthenticated BOUNDs are ignored.
   */
  receive(control: RelayControl, now: number): boolean {
    if (!bytesEqual(control.leg, this.id)) return false;
    if (control.type === RelayControlType.Challenge) {
      this.queueBind(now, control.cookie.slice());
      return false;
    }
    if (control.type === RelayControlType.Bound && verifyBound(control, this.key)) {
      const wasBound = this.state === 'bound';
      this.state = 'bound';
      this.observed = control.observed;
      this.lastBound = now;
      return !wasBound;
    }
    return false;
  }

  pollTransmit(): Uint8Array | null {
    return this.pending.shift() ?? null;
  }

  nextDeadline(): number {
    if (this.state === 'idle') return Infinity;
    if (this.state === 'binding') return this.lastSent + this.retransmitMs;
    return this.lastSent + this.keepaliveMs;
  }

  onTimeout(now: number): void {
    if (this.state !== 'idle' && now >= this.nextDeadline()) {
      // A keepalive unanswered for 3 periods means the binding is gone (server lost it or NAT changed).
      if (this.state === 'bound' && now - this.lastBound > 3 * this.keepaliveMs) this.state = 'binding';
      this.queueBind(now);
    }
  }

  stop(): void {
    this.state = 'idle';
    this.pending = [];
  }

  private queueBind(now: number, cookie?: Uint8Array): void {
    this.counter += 1;
    this.pending.push(encodeBind(this.id, this.key, this.counter, cookie));
    this.lastSent = now;
  }
}
