import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AttributeType,
  decodeAddress,
  decodeChangeRequest,
  decodeErrorCode,
  decodeResponsePort,
  decodeStunMessage,
  decodeUnknownAttributes,
  decodeXorAddress,
  encodeAddress,
  encodeChangeRequest,
  encodeErrorCode,
  encodeResponsePort,
  encodeStunMessage,
  encodeUnknownAttributes,
  encodeXorAddress,
  formatIp,
  isStunMessage,
  messageType,
  parseIPv6,
  shortTermKey,
  StunClass,
  StunError,
  verifyIntegrity,
  type StunMessage,
} from '../../../src/traversal/stun/index.js';

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIp(b));
const address = fc.record({ host: fc.oneof(ipv4, ipv6), port: fc.nat(65535) });
const txid = fc.uint8Array({ minLength: 12, maxLength: 12 });
const attributeArb = fc.record({
  type: fc
    .integer({ min: 0, max: 0xffff })
    .filter(
      (t) =>
        t !== AttributeType.Fingerprint &&
        t !== AttributeType.MessageIntegrity &&
        t !== AttributeType.MessageIntegritySha256,
    ),
  value: fc.uint8Array({ maxLength: 64 }),
});
const messageArb: fc.Arbitrary<StunMessage> = fc.record({
  method: fc.nat(0xfff),
  cls: fc.constantFrom(StunClass.Request, StunClass.Indication, StunClass.SuccessResponse, StunClass.ErrorResponse),
  transactionId: txid,
  attributes: fc.array(attributeArb, { maxLength: 12 }),
});

describe('STUN codec properties', () => {
  it('message type interleaves method and class bits (RFC 8489 §5)', () => {
    expect(messageType(0x001, StunClass.Request)).toBe(0x0001);
    expect(messageType(0x001, StunClass.SuccessResponse)).toBe(0x0101);
    expect(messageType(0x001, StunClass.ErrorResponse)).toBe(0x0111);
    expect(messageType(0x001, StunClass.Indication)).toBe(0x0011);
    expect(messageType(0xfff, StunClass.Request)).toBe(0x3eef);
  });

  it('encode → decode is the identity, with and without integrity and fingerprint', () => {
    fc.assert(
      fc.property(
        messageArb,
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom<'sha1' | 'sha256'>('sha1', 'sha256'),
        (m, integrity, fingerprint, algorithm) => {
          const key = shortTermKey('secret');
          const bytes = encodeStunMessage(m, { fingerprint, ...(integrity ? { integrity: { key, algorithm } } : {}) });
          expect(isStunMessage(bytes)).toBe(true);
          const d = decodeStunMessage(bytes);
          expect(d.method).toBe(m.method);
          expect(d.cls).toBe(m.cls);
          expect(d.transactionId).toEqual(m.transactionId);
          const extra = (integrity ? 1 : 0) + (fingerprint ? 1 : 0);
          expect(
            d.attributes
              .slice(0, d.attributes.length - extra)
              .map((a) => ({ type: a.type, value: Uint8Array.from(a.value) })),
          ).toEqual(m.attributes.map((a) => ({ type: a.type, value: a.value })));
          if (integrity) {
            expect(verifyIntegrity(d, key, algorithm)).toBe(true);
            expect(verifyIntegrity(d, shortTermKey('other'), algorithm)).toBe(false);
          }
        },
      ),
    );
  });

  it('address attributes round-trip, plain and XOR, IPv4 and IPv6', () => {
    fc.assert(
      fc.property(address, txid, (a, id) => {
        expect(decodeAddress(encodeAddress(a))).toEqual(a);
        expect(decodeXorAddress(encodeXorAddress(a, id), id)).toEqual(a);
      }),
    );
  });

  it('formats IPv6 like node:dgram does (RFC 5952)', () => {
    const cases = [
      '::1',
      '::',
      '2001:db8::1',
      '2001:db8:0:1:1:1:1:1',
      'fe80::1:0:0:1',
      '::ffff:192.0.2.1',
      '2001:db8:1234:5678:11:2233:4455:6677',
    ];
    for (const c of cases) expect(formatIp(parseIPv6(c)!)).toBe(c);
    expect(formatIp(parseIPv6('2001:0db8:0000:0000:0000:0000:0000:0001')!)).toBe('2001:db8::1');
    expect(parseIPv6('1::2::3')).toBeNull();
    expect(parseIPv6('1:2:3:4:5:6:7:8:9')).toBeNull();
  });

  it('typed attributes round-trip', () => {
    expect(decodeErrorCode(encodeErrorCode({ code: 420, reason: 'Unknown Attribute' }))).toEqual({
      code: 420,
      reason: 'Unknown Attribute',
    });
    expect(decodeUnknownAttributes(encodeUnknownAttributes([0x0002, 0x7fff]))).toEqual([0x0002, 0x7fff]);
    expect(decodeChangeRequest(encodeChangeRequest({ changeIp: true, changePort: false }))).toEqual({
      changeIp: true,
      changePort: false,
    });
    expect(decodeResponsePort(encodeResponsePort(65535))).toBe(65535);
    expect(() => encodeErrorCode({ code: 200, reason: '' })).toThrow(StunError);
    expect(() => encodeAddress({ host: 'example.com', port: 1 })).toThrow(StunError);
  });

  it('the demultiplexer test accepts STUN and rejects other first bytes (RFC 7983)', () => {
    const stun = encodeStunMessage({
      method: 1,
      cls: StunClass.Request,
      transactionId: new Uint8Array(12),
      attributes: [],
    });
    expect(isStunMessage(stun)).toBe(true);
    for (const first of [0x40, 0x80, 0xc0, 0x14, 0x17]) {
      const other = Uint8Array.from(stun);
      other[0] = first;
      expect(isStunMessage(other)).toBe(first < 0x40);
    }
    expect(isStunMessage(stun.subarray(0, 19))).toBe(false);
  });

  it('ignores attributes after MESSAGE-INTEGRITY except MI-SHA256 and FINGERPRINT (§14.5)', () => {
    const key = shortTermKey('k');
    const m = encodeStunMessage(
      { method: 1, cls: StunClass.Request, transactionId: new Uint8Array(12), attributes: [] },
      { integrity: { key } },
    );
    // append a SOFTWARE attribute after MESSAGE-INTEGRITY by hand
    const tail = Uint8Array.of(0x80, 0x22, 0x00, 0x04, 0x61, 0x62, 0x63, 0x64);
    const out = new Uint8Array(m.length + tail.length);
    out.set(m);
    out.set(tail, m.length);
    new DataView(out.buffer).setUint16(2, out.length - 20);
    const d = decodeStunMessage(out);
    expect(d.attributes.map((a) => a.type)).toEqual([AttributeType.MessageIntegrity]);
  });
});

describe('hostile input', () => {
  const typedOrOk = (bytes: Uint8Array): void => {
    try {
      const d = decodeStunMessage(bytes, { allowClassic: true });
      for (const a of d.attributes) {
        // decoding each typed attribute either works or throws StunError
        for (const f of [
          decodeAddress,
          (v: Uint8Array) => decodeXorAddress(v, d.transactionId.subarray(0, 12)),
          decodeErrorCode,
          decodeChangeRequest,
          decodeResponsePort,
          decodeUnknownAttributes,
        ]) {
          try {
            f(a.value);
          } catch (error) {
            if (!(error instanceof StunError)) throw error;
          }
        }
      }
    } catch (error) {
      if (!(error instanceof StunError)) throw error;
      expect(error.code).toMatch(/^ERR_PUNCHLINE_STUN_/);
    }
  };

  it('arbitrary bytes decode or throw StunError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), typedOrOk), { numRuns: 3000 });
  });

  it('mutated valid messages decode or throw StunError', () => {
    fc.assert(
      fc.property(
        messageArb,
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }),
        (m, fingerprint, flips) => {
          const bytes = encodeStunMessage(m, { fingerprint });
          for (const [at, value] of flips) bytes[at % bytes.length] = value;
          typedOrOk(bytes);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('headers that lie about the length are typed errors', () => {
    const m = encodeStunMessage({
      method: 1,
      cls: StunClass.Request,
      transactionId: new Uint8Array(12),
      attributes: [],
    });
    const long = Uint8Array.from(m);
    long[3] = 8;
    expect(() => decodeStunMessage(long)).toThrow(
      expect.objectContaining({ code: 'ERR_PUNCHLINE_STUN_TRUNCATED' }) as StunError,
    );
    const odd = Uint8Array.from(m);
    odd[3] = 2;
    expect(() => decodeStunMessage(odd)).toThrow(
      expect.objectContaining({ code: 'ERR_PUNCHLINE_STUN_NOT_STUN' }) as StunError,
    );
  });

  it('more than MAX_ATTRIBUTES attributes is refused', () => {
    const attributes = Array.from({ length: 65 }, () => ({ type: 0x8030, value: new Uint8Array(0) }));
    const bytes = encodeStunMessage({
      method: 1,
      cls: StunClass.Request,
      transactionId: new Uint8Array(12),
      attributes,
    });
    expect(() => decodeStunMessage(bytes)).toThrow(
      expect.objectContaining({ code: 'ERR_PUNCHLINE_STUN_TOO_MANY_ATTRIBUTES' }) as StunError,
    );
  });
});
