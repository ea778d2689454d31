/**
 * spec/vectors/wire-*.json, checked in both directions: decoding the hex gives the fields, encoding
 * the fields gives the hex, and malformed examples fail with the stated code. Also checks that the
 * Examples section of spec/wire.md is exactly the rendering of these files.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  classifyDatagram,
  decodeFrames,
  decodePacketNumberBigInt,
  encodeFrame,
  type LongPacketType,
  packetNumberLengthBigInt,
  readLongHeader,
  readPunchProbe,
  readRelayDatagram,
  readShortHeader,
  readVarintBigInt,
  WireError,
  WireReader,
  writeLongHeader,
  writePunchProbe,
  writeRelayHeader,
  writeShortHeader,
  writeVarintBigInt,
  padDatagram,
  decodePacketNumber,
} from '../../src/wire/index.js';
import { EXAMPLES_BEGIN, EXAMPLES_END, renderExamples } from './render-examples.js';
import { fromHex, frameFromJson, frameToJson, toHex, type JsonObject } from './vector-json.js';

const root = new URL('../../', import.meta.url);
const load = (path: string): JsonObject => JSON.parse(readFileSync(new URL(path, root), 'utf8')) as JsonObject;
const frames = load('spec/vectors/wire-frames.json');
const packets = load('spec/vectors/wire-packets.json');
const list = (obj: JsonObject, key: string): JsonObject[] => obj[key] as JsonObject[];
const str = (v: unknown): string => v as string;
const num = (v: unknown): number => v as number;

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof WireError) return e.code;
    throw e;
  }
  return 'no error';
}

describe('vectors: varints', () => {
  for (const v of list(frames, 'varints')) {
    it(str(v['name']), () => {
      const wire = fromHex(str(v['hex']));
      expect(readVarintBigInt(wire, 0)).toBe(BigInt(str(v['value'])));
      const reader = new WireReader(wire);
      if (v['numberError'] !== undefined) expect(codeOf(() => reader.readVarint())).toBe(v['numberError']);
      else expect(reader.readVarint()).toBe(Number(str(v['value'])));
      if (v['minimal'] === true) {
        const out = new Uint8Array(8);
        expect(toHex(out.subarray(0, writeVarintBigInt(out, 0, BigInt(str(v['value'])))))).toBe(v['hex']);
      }
    });
  }
});

describe('vectors: frames', () => {
  for (const v of list(frames, 'frames')) {
    it(str(v['name']), () => {
      const decoded = decodeFrames(fromHex(str(v['hex'])));
      expect(decoded.map(frameToJson)).toEqual([v['frame']]);
      const buf = new Uint8Array(4096);
      expect(toHex(buf.subarray(0, encodeFrame(frameFromJson(v['frame'] as JsonObject), buf, 0)))).toBe(v['hex']);
    });
  }
  for (const v of list(frames, 'payloads')) {
    it(`payload: ${str(v['name'])}`, () => {
      expect(decodeFrames(fromHex(str(v['hex']))).map(frameToJson)).toEqual(v['frames']);
      const buf = new Uint8Array(4096);
      let o = 0;
      for (const f of v['frames'] as JsonObject[]) o = encodeFrame(frameFromJson(f), buf, o);
      expect(toHex(buf.subarray(0, o))).toBe(v['hex']);
    });
  }
  for (const v of list(frames, 'invalid')) {
    it(`rejects: ${str(v['name'])}`, () => {
      expect(codeOf(() => decodeFrames(fromHex(str(v['hex']))))).toBe(v['error']);
    });
  }
});

describe('vectors: packet numbers', () => {
  for (const v of list(packets, 'packetNumberEncoding')) {
    it(`encode ${str(v['packetNumber'])} after ${String(v['largestAcked'])}`, () => {
      const pn = BigInt(str(v['packetNumber']));
      const len = packetNumberLengthBigInt(pn, v['largestAcked'] === null ? null : BigInt(str(v['largestAcked'])));
      expect(len).toBe(v['packetNumberLength']);
      expect(pn & ((1n << BigInt(8 * len)) - 1n)).toBe(BigInt(str(v['truncated'])));
    });
  }
  for (const v of list(packets, 'packetNumberDecoding')) {
    it(`decode ${str(v['truncated'])} after ${str(v['largestReceived'])}`, () => {
      const largest = BigInt(str(v['largestReceived']));
      const len = num(v['packetNumberLength']) as 1 | 2 | 3 | 4;
      const expected = BigInt(str(v['packetNumber']));
      expect(decodePacketNumberBigInt(largest, BigInt(str(v['truncated'])), len)).toBe(expected);
      if (expected <= BigInt(Number.MAX_SAFE_INTEGER)) {
        expect(decodePacketNumber(Number(largest), Number(BigInt(str(v['truncated']))), len)).toBe(Number(expected));
      }
    });
  }
});

const LONG_TYPES: Record<string, LongPacketType> = { Initial: 0, Handshake: 1, Retry: 2 };

describe('vectors: datagrams', () => {
  for (const v of list(packets, 'datagrams')) {
    it(str(v['name']), () => {
      const wire = fromHex(str(v['hex']));
      const f = v['fields'] as JsonObject;
      expect(classifyDatagram(wire)).toBe(v['kind']);
      const buf = new Uint8Array(2048);
      let end = 0;
      switch (v['kind']) {
        case 'short': {
          const h = readShortHeader(wire);
          expect({
            destinationConnectionId: toHex(h.destinationConnectionId),
            keyPhase: h.keyPhase,
            packetNumberLength: h.packetNumberLength,
            truncatedPacketNumber: h.truncatedPacketNumber,
            reservedBits: h.reservedBits,
            headerLength: h.headerLength,
            packetNumber: decodePacketNumber(num(f['largestAcked']), h.truncatedPacketNumber, h.packetNumberLength),
            largestAcked: f['largestAcked'],
            payload: toHex(wire.subarray(h.headerLength)),
          }).toEqual(f);
          end = writeShortHeader(
            buf,
            0,
            fromHex(str(f['destinationConnectionId'])),
            num(f['packetNumber']),
            num(f['packetNumberLength']) as 1 | 2 | 3 | 4,
            num(f['keyPhase']) as 0 | 1,
          );
          const payload = fromHex(str(f['payload']));
          buf.set(payload, end);
          end += payload.length;
          break;
        }
        case 'long': {
          const h = readLongHeader(wire);
          expect({
            packetType: Object.keys(LONG_TYPES)[h.packetType],
            version: h.version,
            destinationConnectionId: toHex(h.destinationConnectionId),
            sourceConnectionId: toHex(h.sourceConnectionId),
            token: toHex(h.token),
            payload: toHex(h.payload),
            headerLength: h.headerLength,
            packetLength: h.packetLength,
            datagramLength: wire.length,
          }).toEqual(f);
          const payload = fromHex(str(f['payload']));
          const type = LONG_TYPES[str(f['packetType'])] as LongPacketType;
          end = writeLongHeader(
            buf,
            0,
            type,
            fromHex(str(f['destinationConnectionId'])),
            fromHex(str(f['sourceConnectionId'])),
            fromHex(str(f['token'])),
            payload.length,
          );
          buf.set(payload, end);
          end = padDatagram(buf, end + payload.length, num(f['datagramLength']));
          break;
        }
        case 'punch-probe': {
          const p = readPunchProbe(wire);
          expect({
            reply: p.reply,
            sessionId: toHex(p.sessionId),
            nonce: toHex(p.nonce),
            mac: toHex(p.mac),
            length: p.length,
          }).toEqual(f);
          end = writePunchProbe(
            buf,
            0,
            {
              reply: f['reply'] === true,
              sessionId: fromHex(str(f['sessionId'])),
              nonce: fromHex(str(f['nonce'])),
              mac: fromHex(str(f['mac'])),
            },
            num(f['length']),
          );
          break;
        }
        case 'relay': {
          const r = readRelayDatagram(wire);
          expect({ channelId: toHex(r.channelId), inner: toHex(r.inner) }).toEqual(f);
          end = writeRelayHeader(buf, 0, fromHex(str(f['channelId'])));
          const inner = fromHex(str(f['inner']));
          buf.set(inner, end);
          end += inner.length;
          break;
        }
        default:
          // STUN and unknown: classification only (the STUN codec is the traversal layer's).
          buf.set(wire, 0);
          end = wire.length;
      }
      expect(toHex(buf.subarray(0, end))).toBe(v['hex']);
    });
  }

  const parsers: Record<string, (b: Uint8Array) => unknown> = {
    short: readShortHeader,
    long: readLongHeader,
    probe: readPunchProbe,
    relay: readRelayDatagram,
  };
  for (const v of list(packets, 'invalid')) {
    it(`rejects: ${str(v['name'])}`, () => {
      const parse = parsers[str(v['parser'])];
      expect(parse).toBeDefined();
      expect(codeOf(() => parse!(fromHex(str(v['hex']))))).toBe(v['error']);
    });
  }
});

describe('spec/wire.md', () => {
  it('contains exactly the rendering of the committed vectors in §Examples', () => {
    const spec = readFileSync(new URL('spec/wire.md', root), 'utf8');
    const begin = spec.indexOf(EXAMPLES_BEGIN);
    const end = spec.indexOf(EXAMPLES_END) + EXAMPLES_END.length;
    expect(begin).toBeGreaterThan(0);
    expect(spec.slice(begin, end)).toBe(renderExamples(frames, packets));
  });
});
