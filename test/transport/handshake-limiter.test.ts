/**
 * The handshake limiter's stateless decisions (RFC 9000 §8.1): accept below the load threshold,
 * Retry with an address-validation token above it, accept the repeated Initial carrying that token
 * from the same address only, and hard caps in total and per source.
 */
import { describe, expect, it } from 'vitest';
import { HandshakeLimiter, RETRY_TOKEN_LENGTH } from '../../src/transport/handshake-limiter.js';
import type { Address } from '../../src/wire/address.js';
import { padDatagram, readLongHeader, writeLongHeader } from '../../src/wire/headers.js';
import { LongPacketType, type LongHeader } from '../../src/wire/types.js';

let counter = 0;
const random = (b: Uint8Array): void => {
  for (let i = 0; i < b.length; i++) b[i] = (counter++ * 131 + 7) & 0xff;
};

function initial(dcidByte: number, token: Uint8Array = new Uint8Array(0)): LongHeader {
  const buf = new Uint8Array(1400);
  const o = writeLongHeader(
    buf,
    0,
    LongPacketType.Initial,
    new Uint8Array(8).fill(dcidByte),
    new Uint8Array(8).fill(0xcc),
    token,
    10,
  );
  return readLongHeader(buf, padDatagram(buf, o + 10));
}

const conn = (): { handshakeConfirmed: boolean; isFinished: boolean } => ({
  handshakeConfirmed: false,
  isFinished: false,
});
const A: Address = { host: '192.0.2.1', port: 1000 };

describe('HandshakeLimiter', () => {
  it('accepts freely below the threshold, then answers with a Retry whose token admits the repeat', () => {
    const limiter = new HandshakeLimiter(random, { retryThreshold: 2 });
    expect(limiter.admit(initial(1), A, 0)).toBe('accept');
    limiter.opened(conn(), { host: '198.51.100.1', port: 1 });
    limiter.opened(conn(), { host: '198.51.100.2', port: 1 });
    expect(limiter.admit(initial(3), A, 10)).toBe('retry');
    const buf = new Uint8Array(1500);
    const t = limiter.pollTransmit(buf)!;
    expect(t.destination).toEqual(A);
    expect(t.length).toBeLessThan(100); // far smaller than the ≥ 1200-byte Initial: no amplification
    expect(limiter.pollTransmit(buf)).toBeNull();
    const retry = readLongHeader(buf, t.length);
    expect(retry.packetType).toBe(LongPacketType.Retry);
    expect([...retry.destinationConnectionId]).toEqual(new Array(8).fill(0xcc));
    expect(retry.token.length).toBe(RETRY_TOKEN_LENGTH);
    const token = Uint8Array.from(retry.token);
    expect(limiter.admit(initial(3, token), A, 500)).toBe('accept');
    // The token is bound to the address, the Initial's DCID and its lifetime.
    expect(limiter.admit(initial(3, token), { host: A.host, port: 1001 }, 500)).toBe('drop');
    expect(limiter.admit(initial(4, token), A, 500)).toBe('drop');
    expect(limiter.admit(initial(3, token), A, 10 + limiter.limits.tokenLifetimeMs + 1)).toBe('drop');
    const forged = Uint8Array.from(token);
    forged[RETRY_TOKEN_LENGTH - 1]! ^= 1;
    expect(limiter.admit(initial(3, forged), A, 500)).toBe('drop');
    expect(limiter.stats.droppedBadToken).toBe(4);
  });

  it('caps half-open connections in total and per source; settling frees them', () => {
    const limiter = new HandshakeLimiter(random, { maxHalfOpen: 3, maxHalfOpenPerSource: 2, retryThreshold: 100 });
    const a1 = conn();
    limiter.opened(a1, A);
    limiter.opened(conn(), A);
    expect(limiter.admit(initial(1), A, 0)).toBe('drop');
    expect(limiter.admit(initial(1), { host: '192.0.2.2', port: 1 }, 0)).toBe('accept');
    limiter.opened(conn(), { host: '192.0.2.2', port: 1 });
    expect(limiter.admit(initial(1), { host: '192.0.2.3', port: 1 }, 0)).toBe('drop');
    a1.handshakeConfirmed = true;
    limiter.refresh(1);
    expect(limiter.halfOpenCount).toBe(2);
    expect(limiter.admit(initial(1), A, 2)).toBe('accept');
    expect(limiter.stats.droppedAtCap).toBe(1);
    expect(limiter.stats.droppedPerSource).toBe(1);
  });

  it('stops queueing Retries when the ring is full', () => {
    const limiter = new HandshakeLimiter(random, { retryThreshold: 0, maxPendingRetries: 4 });
    for (let i = 0; i < 10; i++) expect(limiter.admit(initial(i), { host: `192.0.2.${i}`, port: 1 }, 0)).toBe('retry');
    let sent = 0;
    while (limiter.pollTransmit(new Uint8Array(1500)) !== null) sent++;
    expect(sent).toBe(4);
    expect(limiter.stats.retriesDropped).toBe(6);
  });

  it('budgets unanswered Retries per source: a source that never answers stops getting them; answering or time restores them', () => {
    const limiter = new HandshakeLimiter(random, {
      retryThreshold: 0,
      maxUnansweredRetriesPerSource: 4,
      retryBudgetHalfLifeMs: 1000,
      maxPendingRetries: 1000,
    });
    const flooder: Address = { host: '198.51.100.9', port: 4000 };
    const verdicts = Array.from({ length: 20 }, (_, i) => limiter.admit(initial(i), flooder, 10));
    expect(verdicts.filter((v) => v === 'retry')).toHaveLength(4);
    expect(limiter.stats.droppedRetryBudget).toBe(16);
    // Other sources (a flood spoofing many addresses, or a legitimate client) still get their Retry.
    for (let i = 0; i < 200; i++)
      expect(limiter.admit(initial(i), { host: `203.0.113.${i % 250}`, port: 1 }, 10)).toBe('retry');
    // Two half-lives later the count has decayed below the budget.
    expect(limiter.admit(initial(99), flooder, 2010)).toBe('retry');
    // A source that answers with a valid token is trusted with Retries again at once.
    const buf = new Uint8Array(1500);
    let token: Uint8Array | null = null;
    for (let t = limiter.pollTransmit(buf); t !== null; t = limiter.pollTransmit(buf)) {
      if (t.destination.host !== flooder.host) continue;
      const retry = readLongHeader(buf, t.length);
      if (retry.destinationConnectionId[0] === 0xcc) token = Uint8Array.from(retry.token);
    }
    expect(token).not.toBeNull();
    for (let i = 0; i < 10; i++) limiter.admit(initial(50 + i), flooder, 2010);
    expect(limiter.admit(initial(70), flooder, 2010)).toBe('drop');
    // The last Retry queued for the flooder was for the Initial with DCID 99: its token admits that one.
    expect(limiter.admit(initial(99, token as Uint8Array), flooder, 2010)).toBe('accept');
    expect(limiter.admit(initial(71), flooder, 2010)).toBe('retry');
  });
});
