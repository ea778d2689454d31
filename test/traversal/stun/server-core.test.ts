import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AMPLIFICATION_ALLOWANCE,
  AttributeType,
  decodeAddress,
  decodeErrorCode,
  decodeStunMessage,
  decodeUnknownAttributes,
  decodeXorAddress,
  encodeChangeRequest,
  encodeResponsePort,
  encodeStunMessage,
  findAttribute,
  StunClass,
  StunServerCore,
  type SocketIndex,
  type StunAttribute,
} from '../../../src/traversal/stun/index.js';

const PRIMARY = { host: '198.51.100.1', port: 3478 };
const ALTERNATE = { host: '198.51.100.2', port: 3479 };
const CLIENT = { host: '203.0.113.7', port: 50000 };
const tx = Uint8Array.from({ length: 12 }, (_, i) => i + 1);

const request = (attributes: StunAttribute[] = [], transactionId = tx): Uint8Array =>
  encodeStunMessage({ method: 1, cls: StunClass.Request, transactionId, attributes }, { fingerprint: true });

describe('STUN server core', () => {
  it('answers a Binding request with XOR-MAPPED-ADDRESS, RESPONSE-ORIGIN and OTHER-ADDRESS', () => {
    const s = new StunServerCore({ primary: PRIMARY, alternate: ALTERNATE, software: 'punchline' });
    const out = s.receive(request(), CLIENT, 0, 0)!;
    expect(out.socket).toBe(0);
    expect(out.destination).toEqual(CLIENT);
    const m = decodeStunMessage(out.data);
    expect(m.cls).toBe(StunClass.SuccessResponse);
    expect(decodeXorAddress(findAttribute(m.attributes, AttributeType.XorMappedAddress)!, m.transactionId)).toEqual(
      CLIENT,
    );
    expect(decodeAddress(findAttribute(m.attributes, AttributeType.ResponseOrigin)!)).toEqual(PRIMARY);
    expect(decodeAddress(findAttribute(m.attributes, AttributeType.OtherAddress)!)).toEqual(ALTERNATE);
  });

  it('honours CHANGE-REQUEST by answering from the flipped socket (RFC 5780 §6.1)', () => {
    const s = new StunServerCore({ primary: PRIMARY, alternate: ALTERNATE });
    const cases: Array<[SocketIndex, boolean, boolean, SocketIndex]> = [
      [0, true, true, 3],
      [0, false, true, 1],
      [0, true, false, 2],
      [3, true, true, 0],
      [1, true, false, 3],
    ];
    for (const [inSocket, changeIp, changePort, outSocket] of cases) {
      const out = s.receive(
        request([{ type: AttributeType.ChangeRequest, value: encodeChangeRequest({ changeIp, changePort }) }]),
        CLIENT,
        0,
        inSocket,
      )!;
      expect(out.socket).toBe(outSocket);
      const origin = decodeAddress(
        findAttribute(decodeStunMessage(out.data).attributes, AttributeType.ResponseOrigin)!,
      );
      expect(origin).toEqual(s.socketAddress(outSocket));
    }
  });

  it('refuses CHANGE-REQUEST with 420 without an alternate address, and unknown comprehension-required attributes', () => {
    const s = new StunServerCore({ primary: PRIMARY });
    for (const type of [AttributeType.ChangeRequest, AttributeType.ResponseAddress, 0x7123]) {
      // CHANGE-REQUEST asking to change IP and port (with no flags it is a plain request, below).
      const value = type === AttributeType.ChangeRequest ? Uint8Array.of(0, 0, 0, 6) : new Uint8Array(4);
      const out = s.receive(request([{ type, value }]), CLIENT, 0, 0)!;
      const m = decodeStunMessage(out.data);
      expect(m.cls).toBe(StunClass.ErrorResponse);
      expect(decodeErrorCode(findAttribute(m.attributes, AttributeType.ErrorCode)!).code).toBe(420);
      expect(decodeUnknownAttributes(findAttribute(m.attributes, AttributeType.UnknownAttributes)!)).toEqual([type]);
    }
    // comprehension-optional unknowns are ignored
    expect(
      decodeStunMessage(s.receive(request([{ type: 0x8123, value: new Uint8Array(4) }]), CLIENT, 0, 0)!.data).cls,
    ).toBe(StunClass.SuccessResponse);
  });

  it('answers CHANGE-REQUEST with no flags (a classic client first test) as a plain Binding request', () => {
    const s = new StunServerCore({ primary: PRIMARY });
    for (const flags of [0, 2, 4, 6]) {
      const out = s.receive(
        request([{ type: AttributeType.ChangeRequest, value: Uint8Array.of(0, 0, 0, flags) }]),
        CLIENT,
        0,
        0,
      )!;
      expect(decodeStunMessage(out.data).cls).toBe(flags === 0 ? StunClass.SuccessResponse : StunClass.ErrorResponse);
      expect(out.socket).toBe(0);
    }
  });

  it('sends to RESPONSE-PORT at the source IP only (RFC 5780 §7.5)', () => {
    const s = new StunServerCore({ primary: PRIMARY, alternate: ALTERNATE });
    const out = s.receive(
      request([{ type: AttributeType.ResponsePort, value: encodeResponsePort(6000) }]),
      CLIENT,
      0,
      0,
    )!;
    expect(out.destination).toEqual({ host: CLIENT.host, port: 6000 });
  });

  it('answers classic RFC 3489 requests with MAPPED-, SOURCE- and CHANGED-ADDRESS', () => {
    const s = new StunServerCore({ primary: PRIMARY, alternate: ALTERNATE });
    const classicId = Uint8Array.from({ length: 16 }, (_, i) => 100 + i);
    const req = encodeStunMessage({ method: 1, cls: StunClass.Request, transactionId: classicId, attributes: [] });
    const out = s.receive(req, CLIENT, 0, 0)!;
    const m = decodeStunMessage(out.data, { allowClassic: true });
    expect(m.classic).toBe(true);
    expect(m.transactionId).toEqual(classicId);
    expect(m.attributes.map((a) => a.type)).toEqual([
      AttributeType.MappedAddress,
      AttributeType.SourceAddress,
      AttributeType.ChangedAddress,
    ]);
  });

  it('drops responses, indications and garbage silently', () => {
    const s = new StunServerCore({ primary: PRIMARY });
    const response = encodeStunMessage({
      method: 1,
      cls: StunClass.SuccessResponse,
      transactionId: tx,
      attributes: [],
    });
    expect(s.receive(response, CLIENT, 0, 0)).toBeNull();
    expect(s.receive(Uint8Array.of(0, 1, 0, 0), CLIENT, 0, 0)).toBeNull();
    expect(s.counters.droppedNotRequest).toBe(1);
    expect(s.counters.droppedMalformed).toBe(1);
  });

  it('never amplifies: response ≤ request + AMPLIFICATION_ALLOWANCE, and never throws, for any input', () => {
    const s = new StunServerCore({
      primary: PRIMARY,
      alternate: ALTERNATE,
      software: 'x'.repeat(700),
      rateLimit: { burst: 1e9 },
    });
    const sources = fc.record({
      host: fc.constantFrom('203.0.113.7', '2001:db8::7'),
      port: fc.integer({ min: 1, max: 65535 }),
    });
    const attributes = fc.array(
      fc.record({
        type: fc.constantFrom(0x0003, 0x0026, 0x0027, 0x0006, 0x7777, 0x8022, 0x0002),
        value: fc.uint8Array({ maxLength: 40 }),
      }),
      { maxLength: 6 },
    );
    fc.assert(
      fc.property(
        attributes,
        sources,
        fc.constantFrom<SocketIndex>(0, 1, 2, 3),
        fc.boolean(),
        (attrs, from, socket, fingerprint) => {
          const req = encodeStunMessage(
            { method: 1, cls: StunClass.Request, transactionId: tx, attributes: attrs },
            { fingerprint },
          );
          const out = s.receive(req, from, 0, socket);
          if (out) expect(out.data.length).toBeLessThanOrEqual(req.length + AMPLIFICATION_ALLOWANCE);
        },
      ),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        const out = s.receive(bytes, CLIENT, 0, 0);
        if (out) expect(out.data.length).toBeLessThanOrEqual(bytes.length + AMPLIFICATION_ALLOWANCE);
      }),
      { numRuns: 2000 },
    );
  });

  it('a bare 20-byte request still gets XOR-MAPPED-ADDRESS, dropping SOFTWARE that would not fit', () => {
    const s = new StunServerCore({ primary: PRIMARY, alternate: ALTERNATE, software: 'x'.repeat(200) });
    const bare = encodeStunMessage({ method: 1, cls: StunClass.Request, transactionId: tx, attributes: [] });
    const out = s.receive(bare, { host: '2001:db8::1', port: 9 }, 0, 0)!;
    const m = decodeStunMessage(out.data);
    expect(findAttribute(m.attributes, AttributeType.Software)).toBeUndefined();
    expect(findAttribute(m.attributes, AttributeType.XorMappedAddress)).toBeDefined();
    expect(out.data.length).toBeLessThanOrEqual(bare.length + AMPLIFICATION_ALLOWANCE);
  });

  it('rate-limits per source IP with a token bucket (injected time)', () => {
    const s = new StunServerCore({ primary: PRIMARY, rateLimit: { ratePerSecond: 10, burst: 5 } });
    const answered = (from: { host: string; port: number }, now: number): boolean =>
      s.receive(request(), from, now, 0) !== null;
    let ok = 0;
    for (let i = 0; i < 20; i++) if (answered({ host: '203.0.113.7', port: 1000 + i }, 0)) ok++;
    expect(ok).toBe(5); // burst, whatever the source port
    expect(answered({ host: '203.0.113.8', port: 1 }, 0)).toBe(true); // another source is unaffected
    expect(answered(CLIENT, 50)).toBe(false); // 0.5 token
    expect(answered(CLIENT, 100)).toBe(true); // one token after 100 ms at 10/s
    expect(s.counters.droppedRateLimited).toBe(16);
  });

  it('bounds the number of tracked sources', () => {
    const s = new StunServerCore({ primary: PRIMARY, rateLimit: { maxSources: 100 } });
    for (let i = 0; i < 1000; i++) s.receive(request(), { host: `10.0.${i >> 8}.${i & 255}`, port: 1 }, 0, 0);
    expect(s.counters.responses).toBe(1000);
  });

  it('rejects an alternate address that does not differ in both IP and port', () => {
    expect(() => new StunServerCore({ primary: PRIMARY, alternate: { host: PRIMARY.host, port: 9 } })).toThrow(
      expect.objectContaining({ code: 'ERR_PUNCHLINE_STUN_INVALID_ARGUMENT' }) as Error,
    );
  });
});
