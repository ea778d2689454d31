import { describe, expect, it } from 'vitest';
import { A, B, drain, makePair } from './helpers.js';

describe('handshake over the simulator', () => {
  for (const pattern of ['IK', 'XX'] as const) {
    it(`${pattern}: both sides reach established and learn each other's key`, () => {
      const p = makePair({ pattern });
      p.net.runUntil(() => p.conn.state === 'established');
      p.net.runUntil(() => p.events(B, 'connected').length > 0);
      const s = p.serverConn();
      expect(s.state).toBe('established');
      expect(p.conn.remotePublicKey).toEqual(p.server.publicKey);
      expect(s.remotePublicKey).toEqual(p.client.publicKey);
      expect(p.events(A, 'connected')).toHaveLength(1);
      expect(p.events(B, 'incoming')).toHaveLength(1);
    });
  }
});

describe('handshake robustness', () => {
  for (const pattern of ['IK', 'XX'] as const) {
    it(`${pattern}: completes under 30 % loss, reordering and duplication`, () => {
      let lost = 0;
      for (let seed = 1; seed <= 10; seed++) {
        const p = makePair({
          pattern,
          seed,
          link: { delayMs: 15, jitterMs: 5, lossRate: 0.3, reorderRate: 0.2, duplicateRate: 0.1 },
        });
        p.net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0, {
          maxTimeMs: 30_000,
        });
        // and data flows (confirms the XX msg 3 retransmission logic)
        const id = p.conn.openStream(true);
        p.conn.write(id, new Uint8Array([1, 2, 3]));
        p.conn.finish(id);
        const got: number[] = [];
        p.net.runUntil(() => p.events(B, 'stream-opened').length > 0 && drain(p.serverConn(), id, got).fin, {
          maxTimeMs: 30_000,
        });
        expect(got).toEqual([1, 2, 3]);
        expect(p.conn.remotePublicKey).toEqual(p.server.publicKey);
        lost += p.net.linkStats(A, B).dropped.random + p.net.linkStats(B, A).dropped.random;
      }
      expect(lost).toBeGreaterThan(0); // the handshakes really ran through loss
    });
  }

  it('psk variants (IKpsk2 / XXpsk3) connect when both sides hold the key; a server without it drops the Initial', () => {
    const psk = new Uint8Array(32).fill(7);
    for (const pattern of ['IK', 'XX'] as const) {
      const p = makePair({ pattern, psk });
      p.net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0);
    }
    const bad = makePair({ pattern: 'IK', psk, serverPsk: null, clientConfig: { handshakeTimeoutMs: 3000 } });
    bad.net.runUntil(() => bad.events(A, 'closed').length > 0);
    expect(bad.events(B, 'incoming')).toHaveLength(0);
  });

  it('the client follows a NAT rebinding of the server side (path-changed, validation)', () => {
    const p = makePair();
    p.net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0);
    const s = p.serverConn();
    const A2 = { host: '10.0.0.1', port: 1001 };
    p.net.rebind(A, A2);
    const id = p.conn.openStream(true);
    p.conn.write(id, new Uint8Array(5000));
    p.conn.finish(id);
    p.net.runUntil(() => p.events(B, 'path-changed').length > 0);
    expect(s.remoteAddress).toEqual(A2);
    // the server's answers reach the client at its new address
    const sid = s.openStream(true);
    s.write(sid, new Uint8Array(10));
    p.net.runUntil(() => p.events(A2, 'stream-opened').length > 0);
  });
});
