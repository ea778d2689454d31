/** The endpoint-wide birthday socket budget (spec/traversal.md §11): searches together stay bounded. */
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { Traversal } from '../../src/node/traversal.js';

describe('birthday socket budget', () => {
  it('grants at most 1024 sockets over all searches and gives them back', () => {
    const traversal = Traversal.create(
      {
        address: () => ({ host: '127.0.0.1', port: 1, family: 'IPv4' as const }),
        send: () => Promise.resolve(),
        deliver: () => undefined,
        wake: () => undefined,
      },
      {
        server: {
          publicKey: new Uint8Array(32),
          udp: { host: '127.0.0.1', port: 9 },
          webTransportPort: 9,
          alternate: null,
        },
        keyPair: generateKeyPair(),
      },
    );
    const grants = [256, 256, 256, 256, 256].map((n) => traversal.reserveSockets(n));
    expect(grants).toEqual([256, 256, 256, 256, 0]);
    expect(traversal.birthdaySocketsOpen).toBe(1024);
    traversal.releaseSockets(255);
    expect(traversal.reserveSockets(256)).toBe(255);
    traversal.releaseSockets(5000);
    expect(traversal.birthdaySocketsOpen).toBe(0);
    traversal.close();
  });
});
