import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { CryptoError, CryptoErrorCode } from '../../src/crypto/errors.js';
import {
  decodeTransportParameters,
  DEFAULT_TRANSPORT_PARAMETERS,
  encodeTransportParameters,
  MAX_TRANSPORT_PARAMETERS_BYTES,
} from '../../src/crypto/transport-parameters.js';

const pack = (v: unknown): Uint8Array => new Packr({ useRecords: false }).pack(v);
const code = { code: CryptoErrorCode.TransportParameters };

describe('transport parameters', () => {
  it('round-trips and fills defaults', () => {
    const bytes = encodeTransportParameters({ initialMaxData: 2 ** 40, maxAckDelayMs: 10 });
    expect(bytes.length).toBeLessThan(MAX_TRANSPORT_PARAMETERS_BYTES);
    expect(decodeTransportParameters(bytes)).toEqual({
      ...DEFAULT_TRANSPORT_PARAMETERS,
      initialMaxData: 2 ** 40,
      maxAckDelayMs: 10,
    });
    expect(decodeTransportParameters(pack({ version: 1 }))).toEqual(DEFAULT_TRANSPORT_PARAMETERS);
  });

  it.each([
    ['unknown field', { version: 1, evil: 1 }],
    ['missing version', { initialMaxData: 5 }],
    ['wrong version', { version: 2 }],
    ['negative', { version: 1, initialMaxData: -1 }],
    ['fraction', { version: 1, initialMaxData: 1.5 }],
    ['string', { version: 1, initialMaxData: '5' }],
    ['ack delay >= 2^14', { version: 1, maxAckDelayMs: 2 ** 14 }],
    ['cid limit < 2', { version: 1, activeConnectionIdLimit: 1 }],
    ['array', [1, 2]],
    ['number', 5],
    ['proto key', JSON.parse('{"version":1,"__proto__":{"x":1}}') as unknown],
  ])('rejects %s', (_name, value) => {
    expect(() => decodeTransportParameters(pack(value))).toThrow(expect.objectContaining(code));
  });

  it('rejects bigint, trailing bytes, empty, oversize and malformed input', () => {
    expect(() =>
      decodeTransportParameters(
        Uint8Array.of(0x81, 0xa7, ...new TextEncoder().encode('version'), 0xcf, 0xff, 0, 0, 0, 0, 0, 0, 1),
      ),
    ).toThrow(expect.objectContaining(code));
    const ok = encodeTransportParameters({});
    expect(() => decodeTransportParameters(Uint8Array.of(...ok, 0x00))).toThrow(expect.objectContaining(code));
    expect(() => decodeTransportParameters(new Uint8Array(0))).toThrow(expect.objectContaining(code));
    expect(() => decodeTransportParameters(new Uint8Array(MAX_TRANSPORT_PARAMETERS_BYTES + 1))).toThrow(
      expect.objectContaining(code),
    );
    expect(() => decodeTransportParameters(Uint8Array.of(0xc1))).toThrow(expect.objectContaining(code));
    expect(() => encodeTransportParameters({ maxDatagramFrameSize: 70_000 })).toThrow(expect.objectContaining(code));
  });

  it('never throws anything but CryptoError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1100 }), (bytes) => {
        try {
          decodeTransportParameters(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(CryptoError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
