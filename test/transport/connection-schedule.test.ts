/**
 * The endpoint's connection schedule (connection-schedule.ts): the same timers and datagrams as
 * scanning every connection, while a turn touches only the connections that changed or expired.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import type { Address } from '../../src/transport/api.js';
import { TransportConnection } from '../../src/transport/connection.js';
import { ConnectionSchedule, type ScheduledConnection } from '../../src/transport/connection-schedule.js';
import { TransportEndpoint } from '../../src/transport/endpoint.js';

/**
 * A connection model: datagrams pending, one timer that queues a datagram when it fires (and re-arms
 * after `period`), and a pacer that holds each datagram `gap` ms after the previous one (its own
 * timer, armed when it holds one back) — sending that waits only on time, as in the real connection.
 */
class Model implements ScheduledConnection {
  pending = 0;
  timerAt = Infinity;
  period = 0;
  gap = 0;
  releaseAt = 0;
  pacingAt = Infinity;
  sent = 0;
  timeouts = 0;
  deadline = Infinity;
  constructor(readonly id: number) {}
  updateDeadline(): void {
    this.deadline = Math.min(this.timerAt, this.pacingAt);
  }
  onTimeout(now: number): void {
    this.timeouts++;
    if (this.pacingAt <= now) this.pacingAt = Infinity;
    if (this.timerAt <= now) {
      this.pending++;
      this.timerAt = this.period > 0 ? now + this.period : Infinity;
    }
  }
  pollTransmit(now: number): number {
    if (this.pending === 0) return 0;
    if (now < this.releaseAt) {
      this.pacingAt = this.releaseAt;
      return 0;
    }
    this.pending--;
    this.sent++;
    this.releaseAt = now + this.gap;
    return 100 + this.id;
  }
  state(): number[] {
    return [this.pending, this.timerAt, this.releaseAt, this.pacingAt, this.sent];
  }
}

/** The reference: every turn looks at every connection (what the endpoint did before). */
class Scanning {
  private rr = 0;
  constructor(readonly list: Model[]) {}
  nextDeadline(): number {
    let t = Infinity;
    for (const c of this.list) {
      c.updateDeadline();
      t = Math.min(t, c.deadline);
    }
    return t;
  }
  onTimeout(now: number): number[] {
    const ran: number[] = [];
    for (const c of this.list) {
      c.updateDeadline();
      if (c.deadline <= now) {
        c.onTimeout(now);
        ran.push(c.id);
      }
    }
    return ran;
  }
  pollTransmit(now: number): Model | null {
    const n = this.list.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.rr + i) % n;
      const c = this.list[idx] as Model;
      if (c.pollTransmit(now) > 0) {
        this.rr = (idx + 1) % n;
        return c;
      }
    }
    return null;
  }
}

type Op =
  | { kind: 'app'; conn: number; add: number; timerIn: number | null; period: number; gap: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'timeout' }
  | { kind: 'drain'; max: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('app' as const),
    conn: fc.nat(40),
    add: fc.nat(3),
    timerIn: fc.option(fc.nat(50)),
    period: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 30 })),
    gap: fc.nat(5),
  }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.nat(40) }),
  fc.record({ kind: fc.constant('timeout' as const) }),
  fc.record({ kind: fc.constant('drain' as const), max: fc.integer({ min: 1, max: 50 }) }),
);

describe('connection schedule', () => {
  it('runs the same timers and sends the same datagrams as scanning every connection', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(opArb, { maxLength: 120 }), (count, ops) => {
        const ref = Array.from({ length: count }, (_, i) => new Model(i));
        const mine = Array.from({ length: count }, (_, i) => new Model(i));
        const scanning = new Scanning(ref);
        const schedule = new ConnectionSchedule<Model>();
        for (const m of mine) schedule.add(m);
        let now = 0;
        for (const op of ops) {
          if (op.kind === 'app') {
            const i = op.conn % count;
            for (const m of [ref[i] as Model, mine[i] as Model]) {
              m.pending += op.add;
              m.period = op.period;
              m.gap = op.gap;
              if (op.timerIn !== null) m.timerAt = now + op.timerIn;
            }
            schedule.touch(mine[i] as Model);
          } else if (op.kind === 'advance') {
            now += op.ms;
          } else if (op.kind === 'timeout') {
            const before = mine.map((m) => m.timeouts);
            const ran = scanning.onTimeout(now);
            schedule.onTimeout(now);
            const mineRan = mine.filter((m, i) => m.timeouts > (before[i] as number)).map((m) => m.id);
            expect(mineRan).toEqual(ran);
          } else {
            // As many datagrams either way; between connections the order may differ (round robin by
            // index against the ready ring), so a drain cut short at `max` can leave different
            // connections for later, and a datagram sent after a later advance records a later
            // release time. So finish both drains at this `now`: then each connection has sent exactly
            // what it could, whatever the order, and a connection the schedule forgot shows here.
            let a = 0;
            let b = 0;
            while (a < op.max && scanning.pollTransmit(now) !== null) a++;
            while (b < op.max && schedule.pollTransmit(now, new Uint8Array(0)) !== null) b++;
            expect(b).toBe(a);
            while (scanning.pollTransmit(now) !== null);
            while (schedule.pollTransmit(now, new Uint8Array(0)) !== null);
            expect(mine.map((m) => m.state())).toEqual(ref.map((m) => m.state()));
          }
          expect(schedule.nextDeadline()).toBe(scanning.nextDeadline());
        }
        // Drain both: every connection ends in the same state.
        while (scanning.pollTransmit(now) !== null);
        while (schedule.pollTransmit(now, new Uint8Array(0)) !== null);
        expect(mine.map((m) => m.state())).toEqual(ref.map((m) => m.state()));
      }),
      { numRuns: 300 },
    );
  });

  it('a removed connection is never served again and its slot is reused', () => {
    const schedule = new ConnectionSchedule<Model>();
    const a = new Model(1);
    const b = new Model(2);
    a.pending = 1;
    a.timerAt = 5;
    schedule.add(a);
    schedule.remove(a);
    expect(schedule.nextDeadline()).toBe(Infinity);
    expect(schedule.pollTransmit(0, new Uint8Array(0))).toBeNull();
    b.pending = 2;
    schedule.add(b);
    expect(schedule.pollTransmit(0, new Uint8Array(0))).toBe(b);
    expect(schedule.pollTransmit(0, new Uint8Array(0))).toBe(b);
    expect(schedule.pollTransmit(0, new Uint8Array(0))).toBeNull();
    expect(a.sent).toBe(0);
  });
});

describe('endpoint with many half-open connections', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const SERVER: Address = { host: '10.0.0.2', port: 2000 };

  /** A valid XX Initial; byte 6.. is the DCID, so each copy with other bytes there is a new handshake. */
  function templateInitial(): Uint8Array {
    const random = (b: Uint8Array): void => {
      b.fill(7);
    };
    const attacker = new TransportEndpoint({ staticKeyPair: generateKeyPair(random), random });
    attacker.connect(SERVER, {}, 0);
    const buf = new Uint8Array(1500);
    const t = attacker.pollTransmit(0, buf) as { length: number };
    return buf.slice(0, t.length);
  }

  it('a turn touches O(changed + expired) connections, not O(half-open)', () => {
    let x = 0x9e3779b9; // xorshift32: deterministic, and enough distinct connection IDs
    const random = (b: Uint8Array): void => {
      for (let i = 0; i < b.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        b[i] = x & 0xff;
      }
    };
    const server = new TransportEndpoint({
      staticKeyPair: generateKeyPair(random),
      random,
      handshakeLimits: { maxHalfOpen: 10_000, maxHalfOpenPerSource: 10_000, retryThreshold: 10_000 },
    });
    const template = templateInitial();
    const buf = new Uint8Array(1500);
    const open = (from: number, n: number, now: number): void => {
      for (let i = from; i < from + n; i++) {
        const d = template.slice();
        d[6] = i & 0xff;
        d[7] = (i >> 8) & 0xff;
        server.receive(d, { host: `192.0.2.${i % 250}`, port: 1000 + i }, now);
      }
      while (server.pollTransmit(now, buf) !== null);
      server.nextDeadline();
    };
    const N = 1000;
    open(0, N, 0);
    open(N, N, 4_000);
    expect(server.connections.size).toBe(2 * N);

    const polls = vi.spyOn(TransportConnection.prototype, 'pollTransmit');
    const timeouts = vi.spyOn(TransportConnection.prototype, 'onTimeout');
    const deadlines = vi.spyOn(TransportConnection.prototype, 'updateDeadline');

    // An idle turn: nothing changed, nothing expired.
    expect(server.pollTransmit(5_000, buf)).toBeNull();
    expect(server.nextDeadline()).toBe(10_000); // the first batch's handshake timeout
    server.onTimeout(5_000);
    expect(polls).toHaveBeenCalledTimes(0);
    expect(timeouts).toHaveBeenCalledTimes(0);
    expect(deadlines).toHaveBeenCalledTimes(0);

    // One more handshake: the turn touches that connection only.
    open(2 * N, 1, 5_000);
    expect(polls.mock.calls.length).toBeLessThanOrEqual(2);
    expect(deadlines.mock.calls.length).toBeLessThanOrEqual(2);
    polls.mockClear();
    deadlines.mockClear();

    // The first batch times out: exactly those connections run their timers.
    server.onTimeout(10_000);
    expect(timeouts).toHaveBeenCalledTimes(N);
    expect(server.connections.size).toBe(N + 1);
    expect(server.handshakeStats.halfOpen).toBe(N + 1);
    timeouts.mockClear();
    expect(server.nextDeadline()).toBe(14_000);
    while (server.pollTransmit(10_000, buf) !== null);
    expect(polls.mock.calls.length).toBeLessThanOrEqual(N + 1);
    expect(timeouts).toHaveBeenCalledTimes(0);
  });
});
