import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AttributeType,
  ClientTransaction,
  decodeStunMessage,
  encodeStunMessage,
  encodeXorAddress,
  findAttribute,
  StunBindingClient,
  StunClass,
  type StunError,
} from '../../../src/traversal/stun/index.js';

/** Drives a transaction in virtual time, jumping from deadline to deadline; returns the send times. */
function schedule(t: ClientTransaction): { sends: number[]; timedOutAt: number } {
  const sends: number[] = [];
  let now = t.startedAt;
  for (;;) {
    if (t.pollTransmit(now)) sends.push(now);
    if (t.checkTimeout(now)) return { sends, timedOutAt: now };
    now = t.nextDeadline();
  }
}

describe('client transaction retransmission (RFC 8489 §6.2.1)', () => {
  it('follows the RFC example: 0, 500, 1500, 3500, 7500, 15500, 31500 ms, failure at 39500 ms', () => {
    const { sends, timedOutAt } = schedule(new ClientTransaction(0));
    expect(sends).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(timedOutAt).toBe(39500);
  });

  it('doubles RTO for any parameters and waits Rm·RTO after the last send', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 1e6 }),
        (rto, rc, rm, start) => {
          const { sends, timedOutAt } = schedule(new ClientTransaction(start, { rto, rc, rm }));
          expect(sends).toHaveLength(rc);
          sends.forEach((s, k) => expect(s).toBe(start + rto * (2 ** k - 1)));
          expect(timedOutAt).toBe(sends[sends.length - 1]! + rm * rto);
        },
      ),
    );
  });

  it('a late timer sends once and keeps the original schedule', () => {
    const t = new ClientTransaction(0);
    expect(t.pollTransmit(0)).toBe(true);
    expect(t.pollTransmit(0)).toBe(false);
    expect(t.pollTransmit(4000)).toBe(true); // slots at 500, 1500 and 3500 collapse into one send
    expect(t.sent).toBe(4);
    expect(t.nextDeadline()).toBe(7500);
  });

  it('stops after success', () => {
    const t = new ClientTransaction(0);
    t.pollTransmit(0);
    t.succeed();
    expect(t.nextDeadline()).toBe(Infinity);
    expect(t.pollTransmit(10_000)).toBe(false);
    expect(t.checkTimeout(1e9)).toBe(false);
  });

  it('rejects nonsense parameters', () => {
    expect(() => new ClientTransaction(0, { rc: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_PUNCHLINE_STUN_INVALID_ARGUMENT' }) as StunError,
    );
    expect(() => new ClientTransaction(0, { rto: 0 })).toThrow();
  });
});

describe('sans-IO Binding client', () => {
  const server = { host: '192.0.2.10', port: 3478 };
  let counter = 0;
  const random = (b: Uint8Array): void => {
    for (let i = 0; i < b.length; i++) b[i] = (counter++ * 37) & 0xff;
  };

  function respond(request: Uint8Array, mapped = { host: '203.0.113.5', port: 4242 }): Uint8Array {
    const r = decodeStunMessage(request);
    return encodeStunMessage(
      {
        method: 1,
        cls: StunClass.SuccessResponse,
        transactionId: r.transactionId,
        attributes: [{ type: AttributeType.XorMappedAddress, value: encodeXorAddress(mapped, r.transactionId) }],
      },
      { fingerprint: true },
    );
  }

  it('matches responses by transaction ID and reports the mapped address', () => {
    const c = new StunBindingClient({ random });
    const a = c.request(server, 0);
    const b = c.request(server, 0, { changePort: true });
    const ta = c.pollTransmit(0)!;
    const tb = c.pollTransmit(0)!;
    expect(c.pollTransmit(0)).toBeNull();
    expect(findAttribute(decodeStunMessage(tb.data).attributes, AttributeType.ChangeRequest)).toEqual(
      Uint8Array.of(0, 0, 0, 2),
    );
    expect(c.receive(respond(tb.data, { host: '203.0.113.5', port: 1 }), server, 30)).toBe(true);
    expect(c.receive(respond(ta.data), server, 40)).toBe(true);
    expect(c.receive(respond(ta.data), server, 41)).toBe(false); // duplicate: transaction is over
    const e1 = c.pollEvent()!;
    const e2 = c.pollEvent()!;
    expect(e1).toMatchObject({ type: 'success', id: b, mapped: { host: '203.0.113.5', port: 1 }, elapsedMs: 30 });
    expect(e2).toMatchObject({ type: 'success', id: a, mapped: { host: '203.0.113.5', port: 4242 } });
    expect(c.nextDeadline()).toBe(Infinity);
  });

  it('ignores non-STUN, requests and unknown transactions', () => {
    const c = new StunBindingClient({ random });
    c.request(server, 0);
    const t = c.pollTransmit(0)!;
    expect(c.receive(Uint8Array.of(1, 2, 3), server, 1)).toBe(false);
    expect(c.receive(t.data, server, 1)).toBe(false); // our own request looped back
    expect(c.pendingCount).toBe(1);
  });

  it('reports error responses and timeouts as typed failures', () => {
    const c = new StunBindingClient({ random, retransmission: { rto: 10, rc: 2, rm: 1 } });
    c.request(server, 0);
    const t = c.pollTransmit(0)!;
    const r = decodeStunMessage(t.data);
    const error = encodeStunMessage({
      method: 1,
      cls: StunClass.ErrorResponse,
      transactionId: r.transactionId,
      attributes: [{ type: AttributeType.ErrorCode, value: Uint8Array.of(0, 0, 4, 20, 0x55) }],
    });
    c.receive(error, server, 5);
    expect(c.pollEvent()).toMatchObject({
      type: 'failure',
      errorCode: 420,
      error: { code: 'ERR_PUNCHLINE_STUN_ERROR_RESPONSE' },
    });
    c.request(server, 100);
    let now = 100;
    while (c.pendingCount) {
      while (c.pollTransmit(now));
      now = c.nextDeadline();
      c.onTimeout(now);
    }
    expect(now).toBe(120);
    expect(c.pollEvent()).toMatchObject({ type: 'failure', error: { code: 'ERR_PUNCHLINE_STUN_TIMEOUT' } });
  });
});
