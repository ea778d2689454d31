/**
 * Wire layer: datagram classification, short and long headers, DCID routing, frames (both decoder
 * modes), punch probes and relay encapsulation. Every successful decode must re-encode to something
 * that decodes to the same fields.
 */
import {
  classifyDatagram,
  decodeFrames,
  encodeFrame,
  FrameDecoder,
  frameLength,
  readDestinationConnectionId,
  readLongHeader,
  readPunchProbe,
  readRelayDatagram,
  readShortHeader,
  WireError,
  writeLongHeader,
  writePunchProbe,
  writeRelayHeader,
  writeShortHeader,
  type Frame,
} from '../../src/wire/index.js';
import { bytesEqual, invariant, refusing, type FuzzTarget } from '../engine/target.js';
import { canonical, hexStrings } from './vectors.js';

const scratch = new Uint8Array(70_000);

function u8(...bytes: number[]): Uint8Array {
  return Uint8Array.from(bytes);
}

export const wirePacket: FuzzTarget = {
  name: 'wire-packet',
  description: 'classifyDatagram, readShortHeader, readLongHeader, readDestinationConnectionId (spec/wire.md)',
  maxLength: 1500,
  seeds: () => hexStrings('wire-packets.json'),
  dictionary: [u8(0x40), u8(0xc0), u8(0xd0), u8(0xf0), u8(0x00, 0x00, 0x00, 0x01), u8(8), u8(0x44, 0xb0)],
  run(data) {
    classifyDatagram(data);
    const dcid = refusing(() => readDestinationConnectionId(data), WireError);
    const first = data[0] ?? 0;
    if (first >= 0x80) {
      const h = refusing(() => readLongHeader(data), WireError);
      if (h === undefined) return;
      invariant(dcid !== undefined && bytesEqual(dcid, h.destinationConnectionId), 'long header DCID routing');
      invariant(h.packetLength <= data.length && h.headerLength <= h.packetLength, 'long header lengths');
      const end = writeLongHeader(
        scratch,
        0,
        h.packetType,
        h.destinationConnectionId,
        h.sourceConnectionId,
        h.token,
        h.payload.length,
      );
      scratch.set(h.payload, end);
      const length = Math.max(end + h.payload.length, data.length);
      scratch.fill(0, end + h.payload.length, length);
      const again = readLongHeader(scratch, length);
      invariant(
        canonical({ ...again, headerLength: 0, packetLength: 0 }) ===
          canonical({ ...h, headerLength: 0, packetLength: 0 }),
        'long header round trip',
      );
    } else if (first >= 0x40) {
      const h = refusing(() => readShortHeader(data), WireError);
      if (h === undefined) return;
      invariant(dcid !== undefined && bytesEqual(dcid, h.destinationConnectionId), 'short header DCID routing');
      const end = writeShortHeader(
        scratch,
        0,
        h.destinationConnectionId,
        h.truncatedPacketNumber,
        h.packetNumberLength,
        h.keyPhase,
      );
      invariant(end === h.headerLength, 'short header length');
      for (let i = 1; i < end; i++) invariant(scratch[i] === data[i], 'short header round trip');
    }
  },
};

const decoder = new FrameDecoder();
const reusingDecoder = new FrameDecoder({ reuseFrames: true });

export const wireFrames: FuzzTarget = {
  name: 'wire-frames',
  description: 'FrameDecoder (fresh and reused frames), encodeFrame round trip (spec/wire.md §Frames)',
  maxLength: 1500,
  seeds: () => hexStrings('wire-frames.json'),
  dictionary: [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x08, 0x0a, 0x0c, 0x0e, 0x0f, 0x10, 0x12, 0x18, 0x1a, 0x1c, 0x1d, 0x1e,
    0x30, 0x31,
  ].map((b) => u8(b)),
  run(data) {
    const frames = refusing(() => decodeFrames(data), WireError);
    const fresh: string[] = [];
    let failedAt = -1;
    try {
      decoder.reset(data);
      for (let f = decoder.next(); f !== null; f = decoder.next()) fresh.push(canonical(f));
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      failedAt = fresh.length;
    }
    // The reusing decoder must see exactly the same frames (it only recycles the objects).
    let index = 0;
    try {
      reusingDecoder.reset(data);
      for (let f = reusingDecoder.next(); f !== null; f = reusingDecoder.next()) {
        invariant(canonical(f) === fresh[index], `reusing decoder differs at frame ${index}`);
        index++;
      }
      invariant(failedAt < 0, 'reusing decoder accepted what the fresh decoder refused');
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      invariant(failedAt === index, 'reusing decoder refused what the fresh decoder accepted');
    }
    invariant((frames === undefined) === failedAt >= 0, 'decodeFrames and FrameDecoder disagree');
    if (frames === undefined) return;
    for (const frame of frames) roundTrip(frame);
  },
};

function roundTrip(frame: Frame): void {
  const length = frameLength(frame);
  const end = encodeFrame(frame, scratch, 0);
  invariant(end === length, `frameLength ${length} but encodeFrame wrote ${end}`);
  const again = decodeFrames(scratch.subarray(0, end));
  invariant(again.length === 1 && canonical(again[0]) === canonical(frame), `frame round trip (type ${frame.type})`);
}

export const punchProbe: FuzzTarget = {
  name: 'punch-probe',
  description: 'readPunchProbe and writePunchProbe round trip (spec/wire.md §Punch probe)',
  maxLength: 1500,
  seeds: () => hexStrings('wire-packets.json').filter((d) => d[0] === 0x10 || d[0] === 0x11),
  dictionary: [u8(0x10, 0x50, 0x4e, 0x4c), u8(0x11, 0x50, 0x4e, 0x4c)],
  run(data) {
    const probe = refusing(() => readPunchProbe(data), WireError);
    if (probe === undefined) return;
    invariant(probe.length === data.length, 'probe length');
    const end = writePunchProbe(scratch, 0, probe, probe.length);
    invariant(bytesEqual(scratch.subarray(0, 36), data.subarray(0, 36)), 'probe round trip');
    invariant(end === probe.length, 'probe padding');
  },
};

export const relayDatagram: FuzzTarget = {
  name: 'relay-datagram',
  description: 'readRelayDatagram and writeRelayHeader round trip (spec/wire.md §Relay)',
  maxLength: 1500,
  seeds: () => hexStrings('wire-packets.json').filter((d) => d[0] === 0x12),
  dictionary: [u8(0x12), u8(0x12, 0, 0, 0, 0, 0, 0, 0, 0)],
  run(data) {
    const relayed = refusing(() => readRelayDatagram(data), WireError);
    if (relayed === undefined) return;
    invariant(relayed.inner.length >= 1 && relayed.inner[0] !== 0x12, 'relay inner datagram rules');
    const end = writeRelayHeader(scratch, 0, relayed.channelId);
    invariant(bytesEqual(scratch.subarray(0, end), data.subarray(0, end)), 'relay header round trip');
  },
};
