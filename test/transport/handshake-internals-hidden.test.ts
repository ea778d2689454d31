/**
 * What the handshake's packets mean for the connection (the server's parameters, failure,
 * confirmation, completion) is applied by the connection itself, never through methods that any
 * holder of the connection could call: the node layer hands the TransportConnection to the
 * application as its ConnectionHandle, and e.g. a confirmation called from outside would mark an
 * unproven address validated (lifting the anti-amplification limit, RFC 9000 §8.1) or a completion
 * would replace the keys. Neither TypeScript nor plain JavaScript may reach them.
 */
import { describe, expect, it } from 'vitest';
import type { TransportConnection } from '../../src/transport/connection.js';
import { B, makePair } from './helpers.js';

/** The names the connection answered the handshake through while it was its own HandshakeHost. */
const HANDSHAKE_ONLY = ['remoteCid', 'onServerParameters', 'failHandshake', 'confirmHandshake', 'onHandshakeComplete'];

function reachable(conn: object): string[] {
  return HANDSHAKE_ONLY.filter((name) => name in conn);
}

describe('the handshake internals of a connection are unreachable from outside it', () => {
  for (const pattern of ['IK', 'XX'] as const) {
    it(`${pattern}: neither side exposes them, during the handshake or after it`, () => {
      const p = makePair({ pattern });
      expect(reachable(p.conn)).toEqual([]);
      p.net.runUntil(() => p.events(B, 'incoming').length > 0);
      expect(reachable(p.serverConn())).toEqual([]);
      p.net.runUntil(() => p.conn.state === 'established' && p.serverConn().state === 'established');
      expect(reachable(p.conn)).toEqual([]);
      expect(reachable(p.serverConn())).toEqual([]);
    });
  }

  it('TypeScript callers do not compile against them', () => {
    // Never run: tsc (npx tsc --noEmit -p .) fails on an unused @ts-expect-error, i.e. if any of these compiles.
    const compileOnly = (c: TransportConnection): void => {
      // @ts-expect-error handshake only
      c.remoteCid();
      // @ts-expect-error handshake only
      c.onServerParameters(new Uint8Array(0), new Uint8Array(8));
      // @ts-expect-error handshake only
      c.failHandshake(new Error('x'));
      // @ts-expect-error handshake only
      c.confirmHandshake();
      // @ts-expect-error handshake only
      c.onHandshakeComplete(0);
    };
    expect(typeof compileOnly).toBe('function');
  });
});
