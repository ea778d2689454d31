/**
 * A measured NAT binding lifetime (RFC 5780 §4.6) seeds the keepalive of every connection of an
 * endpoint — those open now and those made later — and the connections then really send keepalives
 * at that pace (not the 15 s default). Real core over loopback.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { type Connection, Endpoint } from '../../src/node/endpoint.js';
import { KEEPALIVE_SAFETY } from '../../src/transport/keepalive.js';
import { connectedPair, type Pair } from './helpers.js';
import { realKeyPair } from './real-core.js';

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.close();
  pair = null;
});

const DEFAULT_INTERVAL_MS = 15_000;

describe('keepalive seeded from the NAT binding lifetime', () => {
  it('seeds open and later connections, and they keep the NAT mapping alive at that pace', async () => {
    pair = await connectedPair({ keyPair: realKeyPair });
    const { a, b, client } = pair;
    expect(client.stats().keepAliveIntervalMs).toBe(DEFAULT_INTERVAL_MS);
    // The NAT kept a binding through 4 s of silence, not through 5 s.
    a.setBindingLifetime({ aliveMs: 4_000, expiredMs: 5_000 });
    const seeded = 5_000 * KEEPALIVE_SAFETY;
    expect(client.stats().keepAliveIntervalMs).toBe(seeded);
    // A connection made afterwards starts from the same interval.
    const incoming = once(b, 'connection');
    const later: Connection = await a.connect({ host: '127.0.0.1', port: b.address().port, publicKey: b.publicKey });
    const [laterServer] = (await incoming) as [Connection];
    expect(later.stats().keepAliveIntervalMs).toBe(seeded);
    // The other endpoint was not told: its side keeps the default.
    expect(laterServer.stats().keepAliveIntervalMs).toBe(DEFAULT_INTERVAL_MS);
    // Idle for a bit over two seeded intervals: keepalives went out (none would at the default pace).
    const before = client.stats().packetsSent;
    await new Promise((r) => setTimeout(r, 2.2 * seeded));
    expect(client.stats().packetsSent - before).toBeGreaterThanOrEqual(2);
    expect(client.state).toBe('established');
  }, 20_000);

  it('rejects a lifetime that is not one', async () => {
    const e = await Endpoint.bind({ host: '127.0.0.1', keyPair: realKeyPair() });
    try {
      expect(() => e.setBindingLifetime({ aliveMs: -1, expiredMs: null })).toThrow(
        expect.objectContaining({ code: 'ERR_PUNCHLINE_INVALID_ARGUMENT' }),
      );
      expect(() => e.setBindingLifetime({ aliveMs: 1_000, expiredMs: Number.NaN })).toThrow(
        expect.objectContaining({ code: 'ERR_PUNCHLINE_INVALID_ARGUMENT' }),
      );
    } finally {
      await e.close();
    }
  });
});
