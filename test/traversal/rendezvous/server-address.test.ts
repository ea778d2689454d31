import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatServerAddress,
  parseServerAddress,
  type ServerAddress,
} from '../../../src/traversal/rendezvous/server-address.js';

const key = new Uint8Array(32).map((_, i) => i * 7);

describe('server address string', () => {
  it('round-trips IPv4, IPv6, a separate WebTransport port and an alternate address', () => {
    const cases: ServerAddress[] = [
      { publicKey: key, udp: { host: '192.0.2.1', port: 7000 }, webTransportPort: 7000, alternate: null },
      {
        publicKey: key,
        udp: { host: '2001:db8::1', port: 443 },
        webTransportPort: 4433,
        alternate: { host: '2001:db8::2', port: 4434 },
      },
    ];
    for (const a of cases) {
      const text = formatServerAddress(a);
      expect(text.startsWith('punchline://')).toBe(true);
      expect(parseServerAddress(text)).toEqual(a);
    }
  });

  it('round-trips any key and ports (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 1, max: 65535 }),
        fc.integer({ min: 1, max: 65535 }),
        (publicKey, port, wt) => {
          const a: ServerAddress = {
            publicKey,
            udp: { host: '198.51.100.7', port },
            webTransportPort: wt,
            alternate: null,
          };
          expect(parseServerAddress(formatServerAddress(a))).toEqual(a);
        },
      ),
    );
  });

  it('refuses malformed strings with a typed error', () => {
    const good = formatServerAddress({
      publicKey: key,
      udp: { host: '192.0.2.1', port: 7000 },
      webTransportPort: 7000,
      alternate: null,
    });
    const bad = [
      '',
      'http://x@192.0.2.1:1',
      good.replace('punchline://', 'punchline://x'),
      good.replace(':7000', ':0'),
      good.replace(':7000', ':70000'),
      good.replace('192.0.2.1', 'example.com'),
      good.replace('192.0.2.1', '300.0.2.1'),
      `${good}?foo=1`,
      `${good}?wt=1&wt=2`,
      `${good}?alt=192.0.2.2`,
      good.replace(/@.*/, ''),
    ];
    for (const text of bad) {
      expect(() => parseServerAddress(text), text).toThrow(
        expect.objectContaining({ code: 'ERR_PUNCHLINE_INVALID_SERVER_ADDRESS' }),
      );
    }
  });
});
