/**
 * The examples of spec/wire.md §Examples, as values. generate-vectors.ts encodes them with the codec
 * into spec/vectors/*.json; vectors.test.ts then checks the committed hex in both directions, so a
 * codec change that alters a single byte fails the test until the spec is deliberately regenerated.
 */
import {
  classifyDatagram,
  decodePacketNumberBigInt,
  encodeFrame,
  frameLength,
  FrameType,
  LongPacketType,
  packetNumberLengthBigInt,
  padDatagram,
  PROTOCOL_VERSION,
  readLongHeader,
  readShortHeader,
  truncatePacketNumber,
  writeLongHeader,
  writePunchProbe,
  writeRelayHeader,
  writeShortHeader,
  writeVarintBigInt,
  type Frame,
} from '../../src/wire/index.js';
import { frameToJson, toHex, type JsonObject } from './vector-json.js';

/** Deterministic filler bytes (start, start+1, …) so examples are readable and reproducible. */
function seq(length: number, start: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (start + i) & 0xff;
  return out;
}

const utf8 = new TextEncoder();

const frameExamples: { name: string; frame: Frame }[] = [
  { name: 'PADDING (3 bytes)', frame: { type: FrameType.Padding, length: 3 } },
  { name: 'PING', frame: { type: FrameType.Ping } },
  {
    name: 'ACK, one range 0..5',
    frame: {
      type: FrameType.Ack,
      ranges: [{ smallest: 0, largest: 5 }],
      ackDelayMicros: 250,
      receiveTimestampMicros: 1_000_000,
    },
  },
  {
    name: 'ACK, four ranges',
    frame: {
      type: FrameType.Ack,
      ranges: [
        { smallest: 1000, largest: 1010 },
        { smallest: 990, largest: 995 },
        { smallest: 900, largest: 980 },
        { smallest: 10, largest: 10 },
      ],
      ackDelayMicros: 25_000,
      receiveTimestampMicros: 123_456_789_012,
    },
  },
  { name: 'RESET_STREAM', frame: { type: FrameType.ResetStream, streamId: 4, errorCode: 0x10, finalSize: 70_000 } },
  { name: 'STOP_SENDING', frame: { type: FrameType.StopSending, streamId: 1, errorCode: 7 } },
  {
    name: 'STREAM 0x0a (LEN, offset 0)',
    frame: {
      type: FrameType.Stream,
      streamId: 0,
      offset: 0,
      data: utf8.encode('hello'),
      fin: false,
      explicitLength: true,
    },
  },
  {
    name: 'STREAM 0x0f (OFF, LEN, FIN)',
    frame: {
      type: FrameType.Stream,
      streamId: 6,
      offset: 16_384,
      data: utf8.encode('bye'),
      fin: true,
      explicitLength: true,
    },
  },
  {
    name: 'STREAM 0x0c (OFF, data to end of packet)',
    frame: { type: FrameType.Stream, streamId: 3, offset: 65, data: seq(4, 0xd0), fin: false, explicitLength: false },
  },
  {
    name: 'STREAM 0x09 (FIN only, empty)',
    frame: {
      type: FrameType.Stream,
      streamId: 2,
      offset: 0,
      data: new Uint8Array(0),
      fin: true,
      explicitLength: false,
    },
  },
  { name: 'MAX_DATA', frame: { type: FrameType.MaxData, maximum: 1_048_576 } },
  { name: 'MAX_STREAM_DATA', frame: { type: FrameType.MaxStreamData, streamId: 4, maximum: 262_144 } },
  { name: 'MAX_STREAMS (bidirectional)', frame: { type: FrameType.MaxStreamsBidi, maximum: 100 } },
  { name: 'MAX_STREAMS (unidirectional)', frame: { type: FrameType.MaxStreamsUni, maximum: 3 } },
  { name: 'DATA_BLOCKED', frame: { type: FrameType.DataBlocked, limit: 1_048_576 } },
  { name: 'STREAM_DATA_BLOCKED', frame: { type: FrameType.StreamDataBlocked, streamId: 8, limit: 65_536 } },
  {
    name: 'NEW_CONNECTION_ID',
    frame: {
      type: FrameType.NewConnectionId,
      sequence: 2,
      retirePriorTo: 1,
      connectionId: seq(8, 0xc0),
      resetToken: seq(16, 0xe0),
    },
  },
  { name: 'RETIRE_CONNECTION_ID', frame: { type: FrameType.RetireConnectionId, sequence: 1 } },
  { name: 'PATH_CHALLENGE', frame: { type: FrameType.PathChallenge, data: seq(8, 0x11) } },
  { name: 'PATH_RESPONSE', frame: { type: FrameType.PathResponse, data: seq(8, 0x11) } },
  {
    name: 'CLOSE 0x1c (transport error)',
    frame: { type: FrameType.Close, application: false, errorCode: 0x0a, reason: 'bad frame' },
  },
  {
    name: 'CLOSE 0x1d (application error, UTF-8 reason)',
    frame: { type: FrameType.Close, application: true, errorCode: 0x101, reason: 'au revoir ☺' },
  },
  {
    name: 'DATAGRAM 0x31 (with length)',
    frame: { type: FrameType.Datagram, data: seq(3, 0xa0), explicitLength: true },
  },
  {
    name: 'DATAGRAM 0x30 (to end of packet)',
    frame: { type: FrameType.Datagram, data: seq(3, 0xa0), explicitLength: false },
  },
];

const payloadExamples: { name: string; frames: Frame[] }[] = [
  {
    name: 'ACK + STREAM (typical data packet payload)',
    frames: [
      {
        type: FrameType.Ack,
        ranges: [{ smallest: 40, largest: 42 }],
        ackDelayMicros: 1000,
        receiveTimestampMicros: 5_000_000,
      },
      {
        type: FrameType.Stream,
        streamId: 0,
        offset: 1200,
        data: utf8.encode('punchline'),
        fin: false,
        explicitLength: false,
      },
    ],
  },
  {
    name: 'PING + PADDING',
    frames: [{ type: FrameType.Ping }, { type: FrameType.Padding, length: 4 }],
  },
];

/** Malformed frame payloads and the WireError code a decoder must throw. */
const invalidFrameExamples: { name: string; hex: string; error: string }[] = [
  { name: 'unknown frame type 0x20', hex: '20', error: 'ERR_PUNCHLINE_WIRE_UNKNOWN_FRAME' },
  { name: 'frame type as non-minimal varint (0x4001)', hex: '4001', error: 'ERR_PUNCHLINE_WIRE_UNKNOWN_FRAME' },
  { name: 'ACK first range below 0', hex: '020500000006', error: 'ERR_PUNCHLINE_WIRE_ACK_RANGES' },
  { name: 'ACK range after a gap below 0', hex: '0205000001000500', error: 'ERR_PUNCHLINE_WIRE_ACK_RANGES' },
  { name: 'ACK with 257 ranges', hex: '0205000041000000', error: 'ERR_PUNCHLINE_WIRE_ACK_RANGES' },
  { name: 'STREAM length beyond payload', hex: '0a000568656c6c', error: 'ERR_PUNCHLINE_WIRE_TRUNCATED' },
  {
    name: 'STREAM offset + length above 2^53-1',
    hex: '0e00c01fffffffffffff0201',
    error: 'ERR_PUNCHLINE_WIRE_STREAM_OFFSET',
  },
  { name: 'MAX_DATA above 2^53-1', hex: '10c020000000000000', error: 'ERR_PUNCHLINE_WIRE_VARINT_UNSAFE' },
  {
    name: 'NEW_CONNECTION_ID with a 4-byte connection ID',
    hex: '18010004c0c1c2c3e0e1e2e3e4e5e6e7e8e9eaebecedeeef',
    error: 'ERR_PUNCHLINE_WIRE_CID_LENGTH',
  },
  { name: 'NEW_CONNECTION_ID retire prior to > sequence', hex: '180102', error: 'ERR_PUNCHLINE_WIRE_FRAME_ENCODING' },
  { name: 'CLOSE reason not UTF-8', hex: '1c0002c328', error: 'ERR_PUNCHLINE_WIRE_REASON' },
  { name: 'CLOSE reason longer than 1024 bytes', hex: '1c00440100', error: 'ERR_PUNCHLINE_WIRE_REASON' },
  { name: 'PATH_CHALLENGE truncated', hex: '1a01020304', error: 'ERR_PUNCHLINE_WIRE_TRUNCATED' },
];

/** RFC 9000 §A.1 sample varints, plus boundaries. `value` is decimal (may exceed 2^53). */
const varintExamples: { name: string; hex: string; value: string; minimal: boolean; numberError?: string }[] = [
  { name: 'RFC 9000 A.1: 1 byte', hex: '25', value: '37', minimal: true },
  { name: 'RFC 9000 A.1: 37 in 2 bytes (non-minimal, accepted)', hex: '4025', value: '37', minimal: false },
  { name: 'RFC 9000 A.1: 2 bytes', hex: '7bbd', value: '15293', minimal: true },
  { name: 'RFC 9000 A.1: 4 bytes', hex: '9d7f3e7d', value: '494878333', minimal: true },
  {
    name: 'RFC 9000 A.1: 8 bytes (above 2^53-1: rejected by the number API)',
    hex: 'c2197c5eff14e88c',
    value: '151288809941952652',
    minimal: true,
    numberError: 'ERR_PUNCHLINE_WIRE_VARINT_UNSAFE',
  },
  {
    name: '2^53-1, the largest value of the number API',
    hex: 'c01fffffffffffff',
    value: '9007199254740991',
    minimal: true,
  },
  {
    name: '2^62-1, the largest varint',
    hex: 'ffffffffffffffff',
    value: '4611686018427387903',
    minimal: true,
    numberError: 'ERR_PUNCHLINE_WIRE_VARINT_UNSAFE',
  },
];

export function buildFrameVectors(): JsonObject {
  const buf = new Uint8Array(4096);
  const encode = (frames: Frame[]): string => {
    let o = 0;
    for (const f of frames) o = encodeFrame(f, buf, o);
    return toHex(buf.subarray(0, o));
  };
  for (const v of varintExamples) {
    const b = new Uint8Array(8);
    const end = writeVarintBigInt(b, 0, BigInt(v.value));
    if (v.minimal && toHex(b.subarray(0, end)) !== v.hex) throw new Error(`varint example ${v.name} disagrees`);
  }
  for (const f of frameExamples) frameLength(f.frame);
  return {
    description:
      'punchline wire v1 frame test vectors (spec/wire.md §Examples). Generated by test/wire/generate-vectors.ts; do not edit.',
    varints: varintExamples.map((v) => ({ ...v })),
    frames: frameExamples.map((f) => ({ name: f.name, hex: encode([f.frame]), frame: frameToJson(f.frame) })),
    payloads: payloadExamples.map((p) => ({ name: p.name, hex: encode(p.frames), frames: p.frames.map(frameToJson) })),
    invalid: invalidFrameExamples.map((v) => ({ ...v })),
  };
}

const DCID = seq(8, 0x01);
const SCID = seq(8, 0x81);

export function buildPacketVectors(): JsonObject {
  const datagrams: JsonObject[] = [];
  const buf = new Uint8Array(2048);

  // Short header: packet 0x1234 sent after 0x1200 was acknowledged → 1 byte? 0x34 unacked → 1 byte.
  const shortExamples = [
    { name: 'short header, 1-byte packet number, key phase 0', pn: 0x1234, largestAcked: 0x1200, keyPhase: 0 as const },
    {
      name: 'short header, 2-byte packet number, key phase 1',
      pn: 0xac5c02,
      largestAcked: 0xabe8bc,
      keyPhase: 1 as const,
    },
    {
      name: 'short header, 4-byte packet number',
      pn: 0x1_0000_0005,
      largestAcked: 0x1_0000_0005 - 0x900000,
      keyPhase: 0 as const,
    },
  ];
  for (const e of shortExamples) {
    const pnLength = packetNumberLengthBigInt(BigInt(e.pn), BigInt(e.largestAcked));
    // Opaque protected payload: 3 bytes of ciphertext followed by a 16-byte tag (filler values).
    const payload = seq(3 + 16, 0x50);
    let o = writeShortHeader(buf, 0, DCID, e.pn, pnLength, e.keyPhase);
    buf.set(payload, o);
    o += payload.length;
    const h = readShortHeader(buf, o);
    datagrams.push({
      name: e.name,
      kind: classifyDatagram(buf, o),
      hex: toHex(buf.subarray(0, o)),
      fields: {
        destinationConnectionId: toHex(DCID),
        keyPhase: e.keyPhase,
        packetNumberLength: pnLength,
        truncatedPacketNumber: h.truncatedPacketNumber,
        reservedBits: 0,
        headerLength: h.headerLength,
        packetNumber: e.pn,
        largestAcked: e.largestAcked,
        payload: toHex(payload),
      },
    });
  }

  const longExamples = [
    {
      name: 'Initial, padded to 1200 bytes',
      type: LongPacketType.Initial,
      token: new Uint8Array(0),
      payload: seq(32, 0x20),
    },
    {
      name: 'Initial with a token (after Retry)',
      type: LongPacketType.Initial,
      token: seq(12, 0x70),
      payload: seq(32, 0x20),
    },
    { name: 'Handshake', type: LongPacketType.Handshake, token: new Uint8Array(0), payload: seq(48, 0x30) },
    { name: 'Retry', type: LongPacketType.Retry, token: seq(24, 0x70), payload: seq(16, 0xf0) },
  ];
  for (const e of longExamples) {
    let o = writeLongHeader(buf, 0, e.type, DCID, SCID, e.token, e.payload.length);
    buf.set(e.payload, o);
    o += e.payload.length;
    const packetLength = o;
    if (e.type === LongPacketType.Initial) o = padDatagram(buf, o);
    const h = readLongHeader(buf, o);
    datagrams.push({
      name: e.name,
      kind: classifyDatagram(buf, o),
      hex: toHex(buf.subarray(0, o)),
      fields: {
        packetType: (['Initial', 'Handshake', 'Retry'] as const)[e.type],
        version: PROTOCOL_VERSION,
        destinationConnectionId: toHex(DCID),
        sourceConnectionId: toHex(SCID),
        token: toHex(e.token),
        payload: toHex(e.payload),
        headerLength: h.headerLength,
        packetLength,
        datagramLength: o,
      },
    });
  }

  for (const reply of [false, true]) {
    const total = reply ? 48 : 36;
    const probe = { reply, sessionId: seq(8, 0xa0), nonce: seq(8, 0xb0), mac: seq(16, 0xc0) };
    const o = writePunchProbe(buf, 0, probe, total);
    datagrams.push({
      name: reply ? 'punch probe reply, padded to 48 bytes' : 'punch probe',
      kind: classifyDatagram(buf, o),
      hex: toHex(buf.subarray(0, o)),
      fields: {
        reply,
        sessionId: toHex(probe.sessionId),
        nonce: toHex(probe.nonce),
        mac: toHex(probe.mac),
        length: total,
      },
    });
  }

  {
    const channelId = seq(8, 0x90);
    let o = writeRelayHeader(buf, 0, channelId);
    const innerStart = o;
    o = writeShortHeader(buf, o, DCID, 7, 1, 0);
    buf.set(seq(17, 0x50), o);
    o += 17;
    datagrams.push({
      name: 'relay-encapsulated short-header packet',
      kind: classifyDatagram(buf, o),
      hex: toHex(buf.subarray(0, o)),
      fields: { channelId: toHex(channelId), inner: toHex(buf.subarray(innerStart, o)) },
    });
  }

  // STUN Binding request header (RFC 8489 §5): type 0x0001, length 0, cookie, 12-byte transaction ID.
  const stun = new Uint8Array([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, ...seq(12, 0x01)]);
  datagrams.push({
    name: 'STUN Binding request (classification only)',
    kind: classifyDatagram(stun),
    hex: toHex(stun),
    fields: {},
  });
  const unknown = new Uint8Array([0x20, 0x00, 0x00, 0x00]);
  datagrams.push({
    name: 'unassigned first byte 0x20 (dropped)',
    kind: classifyDatagram(unknown),
    hex: toHex(unknown),
    fields: {},
  });
  const stunLike = new Uint8Array([0x00, 0x01, 0x00, 0x00, 0, 0, 0, 0, ...seq(12, 0x01)]);
  datagrams.push({
    name: 'first byte 0x00 without magic cookie (dropped)',
    kind: classifyDatagram(stunLike),
    hex: toHex(stunLike),
    fields: {},
  });

  const pnEncode = [
    { largestAcked: '0xabe8bc', packetNumber: '0xac5c02' },
    { largestAcked: '0xabe8bc', packetNumber: '0xace8fe' },
    { largestAcked: null, packetNumber: '0x0' },
    { largestAcked: '0x3ffffffffffffff0', packetNumber: '0x3ffffffffffffffe' },
  ].map((e) => {
    const len = packetNumberLengthBigInt(
      BigInt(e.packetNumber),
      e.largestAcked === null ? null : BigInt(e.largestAcked),
    );
    const truncated = BigInt(e.packetNumber) & ((1n << BigInt(8 * len)) - 1n);
    return { ...e, packetNumberLength: len, truncated: `0x${truncated.toString(16)}` };
  });
  const pnDecode = [
    { largestReceived: '0xa82f30ea', truncated: '0x9b32', packetNumberLength: 2 },
    { largestReceived: '0xabe8bc', truncated: '0x5c02', packetNumberLength: 2 },
    { largestReceived: '0x3ffffffffffffff0', truncated: '0x05', packetNumberLength: 1 },
    { largestReceived: '0x1ff', truncated: '0xff', packetNumberLength: 1 },
    { largestReceived: '-1', truncated: '0x00', packetNumberLength: 1 },
  ].map((e) => {
    const pn = decodePacketNumberBigInt(
      BigInt(e.largestReceived),
      BigInt(e.truncated),
      e.packetNumberLength as 1 | 2 | 3 | 4,
    );
    return { ...e, packetNumber: `0x${pn.toString(16)}` };
  });
  if (truncatePacketNumber(0xac5c02, 2) !== 0x5c02) throw new Error('truncation disagrees with RFC 9000 §A.2');

  return {
    description:
      'punchline wire v1 packet and datagram test vectors (spec/wire.md §Examples). Generated by test/wire/generate-vectors.ts; do not edit.',
    packetNumberEncoding: pnEncode,
    packetNumberDecoding: pnDecode,
    datagrams,
    invalid: invalidDatagramExamples.map((v) => ({ ...v })),
  };
}

/** Malformed datagrams: `parser` names the reader that must throw `error`. */
const invalidDatagramExamples: { name: string; parser: string; hex: string; error: string }[] = [
  {
    name: 'short header shorter than header + 1 + tag',
    parser: 'short',
    hex: '4001020304050607080900',
    error: 'ERR_PUNCHLINE_WIRE_TRUNCATED',
  },
  {
    name: 'long header with unknown version',
    parser: 'long',
    hex: 'c0000000010801020304050607080881828384858687880000',
    error: 'ERR_PUNCHLINE_WIRE_VERSION',
  },
  {
    name: 'long header with reserved packet type 3',
    parser: 'long',
    hex: 'f0504e4c01',
    error: 'ERR_PUNCHLINE_WIRE_HEADER',
  },
  {
    name: 'long header with a 20-byte DCID',
    parser: 'long',
    hex: 'd0504e4c0114',
    error: 'ERR_PUNCHLINE_WIRE_CID_LENGTH',
  },
  {
    name: 'Handshake payload length beyond datagram',
    parser: 'long',
    hex: 'd0504e4c010801020304050607080881828384858687884030',
    error: 'ERR_PUNCHLINE_WIRE_TRUNCATED',
  },
  {
    name: 'Initial in a datagram shorter than 1200 bytes',
    parser: 'long',
    hex: 'c0504e4c0108010203040506070808818283848586878800' + '00',
    error: 'ERR_PUNCHLINE_WIRE_TRUNCATED',
  },
  {
    name: 'Retry without a token',
    parser: 'long',
    hex: 'e0504e4c010801020304050607080881828384858687880000',
    error: 'ERR_PUNCHLINE_WIRE_TOKEN',
  },
  {
    name: 'token longer than 256 bytes',
    parser: 'long',
    hex: 'c0504e4c0108010203040506070808818283848586878841010000',
    error: 'ERR_PUNCHLINE_WIRE_TOKEN',
  },
  {
    name: 'punch probe with bad magic',
    parser: 'probe',
    hex: '10504e58' + '00'.repeat(32),
    error: 'ERR_PUNCHLINE_WIRE_PROBE',
  },
  {
    name: 'nested relay encapsulation',
    parser: 'relay',
    hex: '12' + '90'.repeat(8) + '12' + '00'.repeat(9),
    error: 'ERR_PUNCHLINE_WIRE_RELAY',
  },
];
