/**
 * A connection closed the moment its handshake completes — by the dialler, by its whole endpoint, or
 * by the listener inside its 'connection' listener (before its answer to the handshake went out) —
 * ends on the peer at once, not after the peer's handshake timeout (real core over loopback).
 */
import { once } from 'node:events';
import { expect, it } from 'vitest';
import { type Connection, Endpoint } from '../../src/node/endpoint.js';
import { realKeyPair } from './real-core.js';

/** Far below the 10 s handshake timeout the peer would otherwise wait. */
const PROMPT_MS = 2_000;

for (const how of [
  'the dialler closes the connection',
  'the dialler closes its endpoint',
  'the listener closes in its connection listener',
] as const) {
  it(`${how} right after the handshake: the peer learns it at once`, async () => {
    const a = await Endpoint.bind({ host: '127.0.0.1', keyPair: realKeyPair() });
    const b = await Endpoint.bind({ host: '127.0.0.1', keyPair: realKeyPair() });
    try {
      const dial = () => a.connect({ host: '127.0.0.1', port: b.address().port, publicKey: b.publicKey });
      const started = performance.now();
      if (how === 'the listener closes in its connection listener') {
        b.once('connection', (c: Connection) => void c.close(0, 'not now'));
        const c = await dial();
        expect(await c.closed).toMatchObject({ remote: true, application: true, reason: 'not now' });
      } else {
        const incoming = once(b, 'connection');
        const c = await dial();
        if (how === 'the dialler closes the connection') void c.close();
        else void a.close();
        const [s] = (await incoming) as [Connection];
        expect((await s.closed).remote).toBe(true);
      }
      expect(performance.now() - started).toBeLessThan(PROMPT_MS);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 20_000);
}
