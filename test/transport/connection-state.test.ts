/** The connection state machine (src/transport/connection-state.ts) on its own, with a recording host. */
import { describe, expect, it } from 'vitest';
import type { CloseReason } from '../../src/transport/api.js';
import { ConnectionStateMachine, type StateKind, TRANSITIONS } from '../../src/transport/connection-state.js';
import { Timer, TimerTable } from '../../src/transport/timers.js';

function machine(options: { keys?: boolean; settled?: boolean } = {}) {
  const reported: CloseReason[] = [];
  const host = {
    keys: options.keys ?? true,
    settled: options.settled ?? true,
    discarded: 0,
    pto: () => 100,
    idleTimeout: () => 30_000,
    hasKeys: () => host.keys,
    sendsSettled: () => host.settled,
    discardInFlight: () => {
      host.discarded++;
    },
    reportClosed: (reason: CloseReason) => {
      reported.push(reason);
    },
  };
  const timers = new TimerTable();
  const m = new ConnectionStateMachine(host, timers);
  // Every change of kind must be one the table allows.
  const seen: [StateKind, StateKind][] = [];
  const step = (f: () => void) => {
    const before = m.kind;
    f();
    if (m.kind !== before) seen.push([before, m.kind]);
  };
  return { m, host, timers, reported, seen, step };
}

describe('connection state machine', () => {
  it('the transition table covers every state and closed is final', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual(['closed', 'closing', 'draining', 'established', 'handshaking']);
    expect(TRANSITIONS.closed).toEqual([]);
    for (const targets of Object.values(TRANSITIONS)) expect(targets).not.toContain('handshaking');
  });

  it('graceful close: reports closing while data is unacknowledged, then sends CLOSE and closes on the answer', () => {
    const { m, host, timers, reported, seen, step } = machine({ settled: false });
    step(() => m.established());
    step(() => m.close(1000, 0, 'bye'));
    expect(m.kind).toBe('established');
    expect(m.reported).toBe('closing');
    expect(reported).toHaveLength(0);
    host.settled = true;
    step(() => m.maybeFinishGracefulClose(1010));
    expect(m.kind).toBe('closing');
    expect(reported).toEqual([{ application: true, errorCode: 0, reason: 'bye', remote: false }]);
    expect(timers.get(Timer.CloseRetransmit)).toBe(1110);
    expect(timers.get(Timer.Close)).toBe(1010 + 30_000); // until the peer's idle timeout at most
    expect(m.takeCloseFrame()).toEqual({ application: true, errorCode: 0, reason: 'bye' });
    expect(m.takeCloseFrame()).toBeNull();
    step(() => m.onCloseRetransmitTimer(1110));
    expect(m.takeCloseFrame()).not.toBeNull();
    step(() => m.onPacketWhileClosing(true)); // the peer's CLOSE: it has ours
    expect(m.kind).toBe('closed');
    expect(reported).toHaveLength(1);
    for (const [from, to] of seen) expect(TRANSITIONS[from]).toContain(to);
  });

  it("the peer's CLOSE drains: one 'closed' report (remote), one answer per packet, closed when the timer ends", () => {
    const { m, timers, reported, seen, step } = machine();
    step(() => m.established());
    step(() => m.onPeerClose(500, { application: true, errorCode: 7, reason: 'x', remote: true }));
    expect(m.kind).toBe('draining');
    expect(reported).toEqual([{ application: true, errorCode: 7, reason: 'x', remote: true }]);
    expect(timers.get(Timer.Close)).toBe(800);
    expect(m.takeCloseFrame()).toMatchObject({ application: false, errorCode: 0 });
    step(() => m.onPacketWhileClosing(false)); // the peer still closing without a CLOSE: no answer
    expect(m.takeCloseFrame()).toBeNull();
    step(() => m.onPacketWhileClosing(true));
    expect(m.onCloseTimer()).toBe(true); // an answer is still owed: send it first
    expect(m.takeCloseFrame()).not.toBeNull();
    step(() => m.onCloseTimer());
    expect(m.kind).toBe('closed');
    step(() => m.close(900, 0, 'late')); // nothing happens once closed
    expect(reported).toHaveLength(1);
    for (const [from, to] of seen) expect(TRANSITIONS[from]).toContain(to);
  });

  it('closing during the handshake, or without keys, ends at once without a CLOSE', () => {
    const { m, reported, host } = machine({ keys: false });
    m.close(0, 0, '');
    expect(m.kind).toBe('closed');
    expect(reported).toEqual([{ application: true, errorCode: 0, reason: '', remote: false }]);
    expect(m.takeCloseFrame()).toBeNull();
    expect(host.discarded).toBe(1);
  });

  it('a transition the table does not allow is an internal error', () => {
    const { m } = machine();
    m.fail({ application: false, errorCode: 1, reason: 'x', remote: false });
    expect(() => m.established()).toThrow(expect.objectContaining({ code: 'ERR_PUNCHLINE_TRANSPORT_INTERNAL' }));
  });
});
