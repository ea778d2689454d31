/**
 * Hostile datagrams at an established connection's endpoints: random bytes shaped as short and long
 * headers, bit flips and truncations of real packets, and replays. Nothing may throw out of
 * receive(), and the connection must still carry data afterwards (no state corrupted).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { A, B, makePair } from './helpers.js';

describe('hostile input', () => {
  it('never throws and leaves an established connection working', () => {
    const pair = makePair({ seed: 7 });
    const { net, client, server, conn } = pair;
    const captured: Uint8Array[] = [];
    net.addMiddlebox({
      name: 'tap',
      outbound: (datagram) => {
        captured.push(datagram.data.slice());
        return datagram;
      },
    });
    net.runUntil(() => conn.state === 'established', { maxTimeMs: 5_000 });
    const warmup = conn.openStream(true);
    conn.write(warmup, new Uint8Array(4000).fill(1));
    net.runFor(200);
    expect(captured.length).toBeGreaterThan(3);

    const hostile = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 1500 }).map((d) => ((d[0] = 0x40 | (d[0]! & 0x3f)), d)),
      fc.uint8Array({ minLength: 1, maxLength: 1500 }).map((d) => ((d[0] = 0x80 | (d[0]! & 0x7f)), d)),
      fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 })).map(([i, at, bit]) => {
        const d = captured[i % captured.length]!.slice();
        d[at % d.length]! ^= 1 << bit;
        return d;
      }),
      fc.tuple(fc.nat(), fc.nat()).map(([i, cut]) => {
        const d = captured[i % captured.length]!;
        return d.slice(0, cut % d.length);
      }),
      fc.nat().map((i) => captured[i % captured.length]!.slice()), // replay
    );
    fc.assert(
      fc.property(hostile, fc.boolean(), (datagram, toServer) => {
        const target = toServer ? server : client;
        expect(() => target.receive(datagram, toServer ? A : B, net.now)).not.toThrow();
      }),
      { numRuns: 3000, seed: 42 },
    );

    // Still established, and a fresh stream delivers its bytes intact.
    expect(conn.state).toBe('established');
    const payload = new Uint8Array(20_000).map((_, i) => (i * 31) & 0xff);
    const sid = conn.openStream(true);
    expect(conn.write(sid, payload)).toBe(payload.length);
    conn.finish(sid);
    net.runUntil(() => pair.events(B, 'stream-opened').some((e) => e.type === 'stream-opened' && e.streamId === sid), {
      maxTimeMs: 10_000,
    });
    const serverConn = pair.serverConn();
    const received: number[] = [];
    net.runUntil(
      () => {
        for (let r = serverConn.read(sid); r.kind === 'data'; r = serverConn.read(sid)) received.push(...r.data);
        return received.length >= payload.length;
      },
      { maxTimeMs: 10_000 },
    );
    expect(Uint8Array.from(received)).toEqual(payload);
  });
});
