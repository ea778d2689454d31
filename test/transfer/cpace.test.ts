/**
 * CPace against draft-irtf-cfrg-cpace's published test vectors (Appendix "Test vector for CPace using
 * group ristretto255 and hash SHA-512"), plus the abort conditions of scalar_mult_vfy.
 */
import { describe, expect, it } from 'vitest';
import {
  CPace,
  calculateGenerator,
  generatorString,
  lvCat,
  prependLen,
  scalarMultVerify,
  transcriptIr,
  CPACE_DSI,
} from '../../src/crypto/pake/cpace.js';
import { PakeErrorCode } from '../../src/crypto/pake/errors.js';

const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

const PRS = text('Password');
const CI = hex('0b415f696e69746961746f720b425f726573706f6e646572');
const SID = hex('7e4b4791d6a8ef019b936c79fb7f2c57');
const YA_SCALAR = hex('da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08');
const YB_SCALAR = hex('d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d');
const YA = 'd6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b9157';
const YB = '3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f7258';
const K = '80b69a8a76457ab6a4d7f887a4bf6b55a2f80ac19c333f917a05fc9887c8b40f';
const ISK_IR =
  'b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dcae7b35cd2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c3fa2068af7900447';

/** A random source that yields the vector's scalar bytes. */
const fixed =
  (bytes: Uint8Array) =>
  (buffer: Uint8Array): void => {
    buffer.set(bytes);
  };

describe('CPace string utilities (draft vectors)', () => {
  it('prepend_len and lv_cat', () => {
    expect(toHex(prependLen(new Uint8Array(0)))).toBe('00');
    expect(toHex(prependLen(text('1234')))).toBe('0431323334');
    expect(toHex(prependLen(Uint8Array.from({ length: 128 }, (_, i) => i))).slice(0, 6)).toBe('800100');
    expect(toHex(lvCat(text('1234'), text('5'), new Uint8Array(0), text('678')))).toBe('043132333401350003363738');
  });

  it('transcript_ir', () => {
    expect(toHex(transcriptIr(text('123'), text('PartyA'), text('234'), text('PartyB')))).toBe(
      '03313233065061727479410332333406506172747942',
    );
  });
});

describe('CPace ristretto255 / SHA-512 (draft vectors)', () => {
  it('generator string and generator', () => {
    const generator = generatorString(CPACE_DSI, PRS, CI, SID);
    expect(generator.length).toBe(170);
    expect(toHex(generator).slice(0, 56)).toBe('11435061636552697374726574746f3235350850617373776f726464');
    expect(toHex(calculateGenerator(PRS, CI, SID).toBytes())).toBe(
      '222b6b195fe84b1652badb6f6a3ae3d24341e7306967f0b8115b40d5698c7e56',
    );
  });

  it('messages, shared point and ISK (initiator/responder)', () => {
    const a = new CPace('initiator', { prs: PRS, ci: CI, sid: SID, ad: text('ADa') }, fixed(YA_SCALAR));
    const b = new CPace('responder', { prs: PRS, ci: CI, sid: SID, ad: text('ADb') }, fixed(YB_SCALAR));
    expect(toHex(a.share)).toBe(YA);
    expect(toHex(b.share)).toBe(YB);
    const scalarA = BigInt(`0x${toHex(YA_SCALAR.slice().reverse())}`);
    expect(toHex(scalarMultVerify(scalarA, b.share))).toBe(K);
    expect(toHex(a.finish(b.share, text('ADb')))).toBe(ISK_IR);
    expect(toHex(b.finish(a.share, text('ADa')))).toBe(ISK_IR);
  });

  it('different passwords give different keys', () => {
    const random = (buffer: Uint8Array): void => {
      crypto.getRandomValues(buffer);
    };
    const a = new CPace('initiator', { prs: PRS, ci: CI, sid: SID, ad: text('A') }, random);
    const b = new CPace('responder', { prs: text('Passwore'), ci: CI, sid: SID, ad: text('B') }, random);
    expect(toHex(a.finish(b.share, text('B')))).not.toBe(toHex(b.finish(a.share, text('A'))));
  });

  it('aborts on the identity, a non-canonical encoding or a wrong length', () => {
    const a = (): CPace => new CPace('initiator', { prs: PRS, ci: CI, sid: SID, ad: text('A') }, fixed(YA_SCALAR));
    expect(() => a().finish(new Uint8Array(32), text('B'))).toThrowError(
      expect.objectContaining({ code: PakeErrorCode.InvalidShare }),
    );
    expect(() => a().finish(new Uint8Array(32).fill(0xff), text('B'))).toThrowError(
      expect.objectContaining({ code: PakeErrorCode.InvalidShare }),
    );
    expect(() => a().finish(new Uint8Array(31), text('B'))).toThrowError(
      expect.objectContaining({ code: PakeErrorCode.InvalidShare }),
    );
    const once = a();
    once.finish(hex(YB), text('B'));
    expect(() => once.finish(hex(YB), text('B'))).toThrowError(
      expect.objectContaining({ code: PakeErrorCode.Protocol }),
    );
  });
});
