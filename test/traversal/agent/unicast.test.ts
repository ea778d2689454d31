import { describe, expect, it } from 'vitest';
import { isUnicastHost, isUsableRemote } from '../../../src/traversal/agent/candidates.js';

describe('probe destinations are unicast addresses (RFC 8445 §5.1.1.1)', () => {
  it('accepts unicast literals of both families, IPv4-mapped ones included', () => {
    for (const h of ['192.0.2.1', '10.0.0.1', '::1', '2001:db8::1', '::ffff:192.0.2.1']) {
      expect(isUnicastHost(h), h).toBe(true);
    }
  });

  it('refuses multicast, broadcast, unspecified and reserved addresses in every spelling', () => {
    for (const h of [
      '224.0.0.1',
      '239.255.255.250',
      '240.0.0.1',
      '255.255.255.255',
      '0.0.0.0',
      '0.1.2.3',
      'ff02::1',
      '::',
      '::0',
      '0::',
      '0:0:0:0:0:0:0:0',
      '::ffff:224.0.0.1',
      '::ffff:255.255.255.255',
      '::ffff:0.0.0.0',
      'example.com',
      '',
    ]) {
      expect(isUnicastHost(h), h).toBe(false);
    }
  });

  it('refuses ports outside 1–65535', () => {
    expect(isUsableRemote({ host: '192.0.2.1', port: 3478 })).toBe(true);
    for (const port of [0, -1, 65_536, 1.5, Number.NaN]) {
      expect(isUsableRemote({ host: '192.0.2.1', port })).toBe(false);
    }
  });
});
