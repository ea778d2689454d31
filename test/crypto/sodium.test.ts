import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packetAead, publicAead } from '../../src/crypto/sodium.js';

describe('packet AEAD fast path', () => {
  it('uses the sodium-native binding here', () => {
    expect(packetAead.kind).toBe('binding');
  });

  it('agrees with the public sodium-native API on seal and open, including forgeries', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.nat(),
        (text, ad, npub, k, flip) => {
          const a = Uint8Array.from(text);
          const b = Uint8Array.from(text);
          const macA = new Uint8Array(16);
          const macB = new Uint8Array(16);
          packetAead.seal(a, macA, ad, npub, k);
          publicAead.seal(b, macB, ad, npub, k);
          expect(a).toEqual(b);
          expect(macA).toEqual(macB);
          const forged = Uint8Array.from(macA);
          forged[flip % 16]! ^= 1 << (flip % 8);
          expect(packetAead.open(Uint8Array.from(a), forged, ad, npub, k)).toBe(false);
          expect(publicAead.open(Uint8Array.from(b), forged, ad, npub, k)).toBe(false);
          expect(packetAead.open(a, macA, ad, npub, k)).toBe(true);
          expect(publicAead.open(b, macB, ad, npub, k)).toBe(true);
          expect(a).toEqual(text);
          expect(b).toEqual(text);
        },
      ),
      { numRuns: 100 },
    );
  });
});
