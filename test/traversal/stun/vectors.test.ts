import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AttributeType,
  decodeStunMessage,
  decodeText,
  decodeXorAddress,
  encodeStunMessage,
  findAttribute,
  longTermKey,
  shortTermKey,
  StunClass,
  verifyIntegrity,
  type StunError,
} from '../../../src/traversal/stun/index.js';

interface Vector {
  name: string;
  hex: string;
  class: 'request' | 'success';
  method: number;
  transactionId: string;
  paddingByte: number;
  credentials: { kind: 'short-term' | 'long-term'; password: string; username?: string; realm?: string };
  software?: string;
  username?: string;
  realm?: string;
  nonce?: string;
  xorMappedAddress?: { host: string; port: number };
  attributeTypes: number[];
}

const vectors = (
  JSON.parse(readFileSync(new URL('../../../spec/vectors/stun-rfc5769.json', import.meta.url), 'utf8')) as {
    vectors: Vector[];
  }
).vectors;
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

function keyOf(v: Vector): Uint8Array {
  const c = v.credentials;
  return c.kind === 'short-term' ? shortTermKey(c.password) : longTermKey(c.username!, c.realm!, c.password);
}

describe('RFC 5769 sample messages', () => {
  it('has the four samples', () => expect(vectors).toHaveLength(4));

  for (const v of vectors) {
    describe(v.name, () => {
      const bytes = hex(v.hex);

      it('decodes to the documented fields and verifies FINGERPRINT and MESSAGE-INTEGRITY', () => {
        const m = decodeStunMessage(bytes);
        expect(m.method).toBe(v.method);
        expect(m.cls).toBe(v.class === 'request' ? StunClass.Request : StunClass.SuccessResponse);
        expect(Buffer.from(m.transactionId).toString('hex')).toBe(v.transactionId);
        expect(m.attributes.map((a) => a.type)).toEqual(v.attributeTypes);
        if (v.software)
          expect(decodeText(findAttribute(m.attributes, AttributeType.Software)!, 763, 's')).toBe(v.software);
        if (v.username)
          expect(decodeText(findAttribute(m.attributes, AttributeType.Username)!, 513, 'u')).toBe(v.username);
        if (v.realm) expect(decodeText(findAttribute(m.attributes, AttributeType.Realm)!, 763, 'r')).toBe(v.realm);
        if (v.nonce) expect(decodeText(findAttribute(m.attributes, AttributeType.Nonce)!, 763, 'n')).toBe(v.nonce);
        if (v.xorMappedAddress) {
          expect(
            decodeXorAddress(findAttribute(m.attributes, AttributeType.XorMappedAddress)!, m.transactionId),
          ).toEqual(v.xorMappedAddress);
        }
        expect(verifyIntegrity(m, keyOf(v))).toBe(true);
        expect(verifyIntegrity(m, shortTermKey('wrong password'))).toBe(false);
      });

      it('re-encodes byte for byte (HMAC and CRC computed by our encoder)', () => {
        const m = decodeStunMessage(bytes);
        const hasFingerprint = v.attributeTypes.includes(AttributeType.Fingerprint);
        const attributes = m.attributes.filter(
          (a) => a.type !== AttributeType.MessageIntegrity && a.type !== AttributeType.Fingerprint,
        );
        const out = encodeStunMessage(
          { method: m.method, cls: m.cls, transactionId: m.transactionId, attributes },
          { integrity: { key: keyOf(v) }, fingerprint: hasFingerprint, paddingByte: v.paddingByte },
        );
        expect(Buffer.from(out).toString('hex')).toBe(v.hex);
      });

      it('rejects a flipped bit: FINGERPRINT or MESSAGE-INTEGRITY catches it', () => {
        const corrupt = Uint8Array.from(bytes);
        corrupt[27]! ^= 0x01; // inside the first attribute's value
        if (v.attributeTypes.includes(AttributeType.Fingerprint)) {
          expect(() => decodeStunMessage(corrupt)).toThrow(
            expect.objectContaining({ code: 'ERR_PUNCHLINE_STUN_BAD_FINGERPRINT' }) as StunError,
          );
        } else {
          expect(verifyIntegrity(decodeStunMessage(corrupt), keyOf(v))).toBe(false);
        }
      });
    });
  }
});
