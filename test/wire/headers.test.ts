import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  classifyDatagram,
  CONNECTION_ID_LENGTH,
  DatagramKind,
  decodePacketNumber,
  longHeaderLength,
  LongPacketType,
  MAX_TOKEN_LENGTH,
  MIN_INITIAL_DATAGRAM_SIZE,
  minShortPacketLength,
  packetNumberLength,
  padDatagram,
  PROTOCOL_VERSION,
  readDestinationConnectionId,
  readLongHeader,
  readPunchProbe,
  readRelayDatagram,
  readShortHeader,
  shortHeaderLength,
  WireError,
  writeLongHeader,
  writePunchProbe,
  writePunchProbeHeader,
  writeRelayHeader,
  writeShortHeader,
} from '../../src/wire/index.js';
import { bytes, fixedBytes } from './arbitraries.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof WireError) return e.code;
    throw e;
  }
  return 'no error';
}

const cid = () => fixedBytes(CONNECTION_ID_LENGTH);
const _pnLength = () => fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const);

describe('short header', () => {
  it('round-trips and the packet number is recovered by the receiver', () => {
    fc.assert(
      fc.property(
        cid(),
        fc.bigInt({ min: 0n, max: 2n ** 50n }).map(Number),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.constantFrom(0 as const, 1 as const),
        fc.integer({ min: 17, max: 100 }),
        (dcid, largestAcked, distance, keyPhase, payloadLength) => {
          const pn = largestAcked + distance;
          const len = packetNumberLength(pn, largestAcked);
          const buf = new Uint8Array(200);
          const end = writeShortHeader(buf, 0, dcid, pn, len, keyPhase);
          expect(end).toBe(shortHeaderLength(len));
          const h = readShortHeader(buf, end + payloadLength);
          expect(h.destinationConnectionId).toEqual(dcid);
          expect(h.keyPhase).toBe(keyPhase);
          expect(h.packetNumberLength).toBe(len);
          expect(h.headerLength).toBe(end);
          expect(h.reservedBits).toBe(0);
          expect(decodePacketNumber(largestAcked, h.truncatedPacketNumber, h.packetNumberLength)).toBe(pn);
          expect(classifyDatagram(buf, end + payloadLength)).toBe(DatagramKind.Short);
          expect(readDestinationConnectionId(buf, end + payloadLength)).toEqual(dcid);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('exposes reserved bits instead of rejecting them (checked after authentication)', () => {
    const buf = new Uint8Array(64);
    writeShortHeader(buf, 0, new Uint8Array(8), 1, 1, 0);
    buf[0] = buf[0]! | 0x28;
    expect(readShortHeader(buf).reservedBits).toBe(0b101);
  });

  it('rejects packets too short to hold a frame and a tag, and long-form first bytes', () => {
    const buf = new Uint8Array(64);
    writeShortHeader(buf, 0, new Uint8Array(8), 1, 2, 0);
    expect(codeOf(() => readShortHeader(buf, minShortPacketLength(2) - 1))).toBe('ERR_PUNCHLINE_WIRE_TRUNCATED');
    expect(readShortHeader(buf, minShortPacketLength(2)).headerLength).toBe(11);
    buf[0] = 0xc1;
    expect(codeOf(() => readShortHeader(buf))).toBe('ERR_PUNCHLINE_WIRE_HEADER');
  });
});

describe('long header', () => {
  const types = fc.constantFrom(LongPacketType.Initial, LongPacketType.Handshake, LongPacketType.Retry);

  it('round-trips every packet type, with padding after the packet ignored', () => {
    fc.assert(
      fc.property(
        types,
        cid(),
        cid(),
        fc.uint8Array({ minLength: 1, maxLength: MAX_TOKEN_LENGTH }),
        bytes(300),
        fc.integer({ min: 0, max: 50 }),
        (type, dcid, scid, tokenRaw, payload, extra) => {
          const token = type === LongPacketType.Handshake ? new Uint8Array(0) : tokenRaw;
          const buf = new Uint8Array(2048);
          let o = writeLongHeader(buf, 0, type, dcid, scid, token, payload.length);
          expect(o).toBe(longHeaderLength(type, token.length, payload.length));
          buf.set(payload, o);
          o += payload.length;
          const packetLength = o;
          const datagramLength = type === LongPacketType.Initial ? padDatagram(buf, o) : padDatagram(buf, o, o + extra);
          const h = readLongHeader(buf, datagramLength);
          expect(h).toEqual({
            form: 'long',
            packetType: type,
            version: PROTOCOL_VERSION,
            destinationConnectionId: dcid,
            sourceConnectionId: scid,
            token,
            payload,
            headerLength: packetLength - payload.length,
            packetLength,
          });
          expect(classifyDatagram(buf, datagramLength)).toBe(DatagramKind.Long);
          expect(readDestinationConnectionId(buf, datagramLength)).toEqual(dcid);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('enforces the Initial minimum datagram size', () => {
    const buf = new Uint8Array(MIN_INITIAL_DATAGRAM_SIZE);
    const o = writeLongHeader(
      buf,
      0,
      LongPacketType.Initial,
      new Uint8Array(8),
      new Uint8Array(8),
      new Uint8Array(0),
      10,
    );
    expect(codeOf(() => readLongHeader(buf, o + 10))).toBe('ERR_PUNCHLINE_WIRE_TRUNCATED');
    expect(readLongHeader(buf, padDatagram(buf, o + 10)).packetLength).toBe(o + 10);
  });

  it('refuses to write what a receiver would reject', () => {
    const buf = new Uint8Array(2048);
    const z = new Uint8Array(8);
    expect(codeOf(() => writeLongHeader(buf, 0, LongPacketType.Handshake, z, z, new Uint8Array(1), 0))).toBe(
      'ERR_PUNCHLINE_WIRE_TOKEN',
    );
    expect(
      codeOf(() => writeLongHeader(buf, 0, LongPacketType.Initial, z, z, new Uint8Array(MAX_TOKEN_LENGTH + 1), 0)),
    ).toBe('ERR_PUNCHLINE_WIRE_TOKEN');
    expect(codeOf(() => writeLongHeader(buf, 0, LongPacketType.Retry, z, z, new Uint8Array(0), 0))).toBe(
      'ERR_PUNCHLINE_WIRE_TOKEN',
    );
    expect(
      codeOf(() => writeLongHeader(buf, 0, LongPacketType.Initial, new Uint8Array(4), z, new Uint8Array(0), 0)),
    ).toBe('ERR_PUNCHLINE_WIRE_CID_LENGTH');
  });
});

describe('punch probes and relay encapsulation', () => {
  it('probe round-trips with padding; the header writer leaves the MAC to the caller', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fixedBytes(8),
        fixedBytes(8),
        fixedBytes(16),
        fc.integer({ min: 36, max: 1400 }),
        (reply, sessionId, nonce, mac, total) => {
          const buf = new Uint8Array(1400).fill(0xee);
          expect(writePunchProbe(buf, 0, { reply, sessionId, nonce, mac }, total)).toBe(total);
          expect(classifyDatagram(buf, total)).toBe(DatagramKind.PunchProbe);
          const p = readPunchProbe(buf, total);
          expect(p).toEqual({ reply, sessionId, nonce, mac, authenticated: buf.subarray(0, 20), length: total });
          expect(buf.subarray(36, total).every((b) => b === 0)).toBe(true);
          const other = new Uint8Array(1400);
          const macOffset = writePunchProbeHeader(other, 0, reply, sessionId, nonce, total);
          other.set(mac, macOffset);
          expect(other.subarray(0, total)).toEqual(buf.subarray(0, total));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('relay header wraps any inner datagram and refuses nesting', () => {
    fc.assert(
      fc.property(
        fixedBytes(8),
        bytes(100).filter((b) => b.length > 0 && b[0] !== 0x12),
        (channelId, inner) => {
          const buf = new Uint8Array(200);
          const o = writeRelayHeader(buf, 0, channelId);
          buf.set(inner, o);
          expect(classifyDatagram(buf, o + inner.length)).toBe(DatagramKind.Relay);
          expect(readRelayDatagram(buf, o + inner.length)).toEqual({ channelId, inner });
        },
      ),
      { numRuns: 200 },
    );
    const nested = new Uint8Array(20);
    writeRelayHeader(nested, 0, new Uint8Array(8));
    writeRelayHeader(nested, 9, new Uint8Array(8));
    expect(codeOf(() => readRelayDatagram(nested))).toBe('ERR_PUNCHLINE_WIRE_RELAY');
  });
});

describe('classifyDatagram', () => {
  it('implements the first-byte table exactly', () => {
    const buf = new Uint8Array(40);
    buf.set([0x21, 0x12, 0xa4, 0x42], 4);
    for (let b = 0; b < 256; b++) {
      buf[0] = b;
      const expected =
        b <= 0x03
          ? 'stun'
          : b === 0x10 || b === 0x11
            ? 'punch-probe'
            : b === 0x12
              ? 'relay'
              : b >= 0x80
                ? 'long'
                : b >= 0x40
                  ? 'short'
                  : 'unknown';
      expect(classifyDatagram(buf)).toBe(expected);
    }
    buf[0] = 0x00;
    expect(classifyDatagram(buf, 19)).toBe('unknown'); // shorter than a STUN header
    buf[7] = 0x43;
    expect(classifyDatagram(buf)).toBe('unknown'); // no magic cookie
    expect(classifyDatagram(new Uint8Array(0))).toBe('unknown');
  });
});
