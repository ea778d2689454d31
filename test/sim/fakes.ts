/**
 * Tiny SansIoEndpoints for testing the simulator itself (not the transport): a pinger that sends a
 * numbered datagram every `intervalMs` from its timer, and an echo that sends every datagram back.
 */
import type { Address, ConnectionEvent, ConnectionHandle, SansIoEndpoint, Transmit } from '../../src/transport/api.js';

abstract class FakeEndpoint implements SansIoEndpoint {
  readonly connections: ReadonlyMap<number, ConnectionHandle> = new Map();
  protected readonly outbox: { to: Address; data: Uint8Array }[] = [];
  protected readonly pendingEvents: ConnectionEvent[] = [];

  connect(): ConnectionHandle {
    throw new Error('fake endpoint: connect is not supported');
  }

  abstract receive(datagram: Uint8Array, from: Address, now: number): void;
  abstract nextDeadline(): number;
  abstract onTimeout(now: number): void;

  pollTransmit(_now: number, buffer: Uint8Array): Transmit | null {
    const next = this.outbox.shift();
    if (!next) return null;
    buffer.set(next.data);
    return { destination: next.to, length: next.data.length };
  }

  pollEvent(): ConnectionEvent | null {
    return this.pendingEvents.shift() ?? null;
  }

  close(): void {}
}

/** Datagram: 4-byte big-endian sequence number, 8-byte send time (float64), then padding. */
export class PingEndpoint extends FakeEndpoint {
  readonly timeouts: number[] = [];
  readonly rtts: number[] = [];
  readonly echoedSeqs: number[] = [];
  #seq = 0;
  #next: number;

  constructor(
    readonly peer: Address,
    readonly options: {
      startMs: number;
      intervalMs: number;
      count: number;
      size?: number;
      fill?: (b: Uint8Array) => void;
    },
  ) {
    super();
    this.#next = options.startMs;
  }

  get sent(): number {
    return this.#seq;
  }

  receive(datagram: Uint8Array, _from: Address, now: number): void {
    if (datagram.length < 12) return;
    const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
    this.echoedSeqs.push(view.getUint32(0));
    this.rtts.push(now - view.getFloat64(4));
  }

  nextDeadline(): number {
    return this.#seq < this.options.count ? this.#next : Infinity;
  }

  onTimeout(now: number): void {
    if (now < this.#next || this.#seq >= this.options.count) return;
    this.timeouts.push(now);
    const data = new Uint8Array(Math.max(12, this.options.size ?? 100));
    this.options.fill?.(data);
    const view = new DataView(data.buffer);
    view.setUint32(0, this.#seq++);
    view.setFloat64(4, now);
    this.outbox.push({ to: this.peer, data });
    this.#next += this.options.intervalMs;
  }

  /** Sends one datagram now, outside the timer (a test poking the endpoint between runs). */
  sendNow(data: Uint8Array): void {
    this.outbox.push({ to: this.peer, data: data.slice() });
  }
}

/** Sends every datagram back to where it came from; optionally reports each as a 'datagram' event. */
export class EchoEndpoint extends FakeEndpoint {
  readonly received: { data: Uint8Array; from: Address; at: number }[] = [];

  constructor(readonly options: { reportEvents?: boolean } = {}) {
    super();
  }

  receive(datagram: Uint8Array, from: Address, now: number): void {
    this.received.push({ data: datagram, from, at: now });
    this.outbox.push({ to: from, data: datagram.slice() });
    if (this.options.reportEvents) {
      this.pendingEvents.push({ type: 'datagram', connection: {} as ConnectionHandle, data: datagram });
    }
  }

  nextDeadline(): number {
    return Infinity;
  }

  onTimeout(): void {}
}
