/**
 * Codec micro-benchmarks: encoding and decoding one full-size data packet
 * (short header + ACK with 4 ranges + STREAM carrying 1400 bytes) and one ACK-only packet, into and
 * out of preallocated buffers, as the packet path does. AEAD is excluded (bench/crypto.bench.ts).
 *
 *   npm run bench:codec
 */
import b from 'benny';
import {
  ackFrameLength,
  AEAD_TAG_LENGTH,
  decodePacketNumber,
  FrameDecoder,
  FrameType,
  packetNumberLength,
  readShortHeader,
  writeAckFrame,
  writeShortHeader,
  writeStreamFrameHeader,
  type AckRange,
} from '../src/wire/index.js';

const dcid = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
const ranges: AckRange[] = [
  { smallest: 100_990, largest: 101_000 },
  { smallest: 100_900, largest: 100_980 },
  { smallest: 100_500, largest: 100_890 },
  { smallest: 99_000, largest: 100_400 },
];
const data = new Uint8Array(1400).fill(0x61);
const dataPacket = new Uint8Array(1500);
const ackPacket = new Uint8Array(1500);
const scratch = new Uint8Array(1500);
const largestAcked = 4_999_900;
let counter = 0;
/** Packet numbers advance but stay within 100 of the largest acknowledged (steady state: 1-byte or 2-byte PN). */
const nextPacketNumber = (): number => largestAcked + 1 + (counter++ % 200);
const streamOffset = 7_000_000;

/** Short header + ACK + STREAM(1400) + room for the tag; returns the datagram length. */
function encodeDataPacket(buf: Uint8Array): number {
  const pn = nextPacketNumber();
  let o = writeShortHeader(buf, 0, dcid, pn, packetNumberLength(pn, largestAcked), 0);
  o = writeAckFrame(buf, o, ranges, ranges.length, 1_250, 987_654_321);
  o = writeStreamFrameHeader(buf, o, 4, streamOffset, data.length, false, false);
  buf.set(data, o);
  return o + data.length + AEAD_TAG_LENGTH; // the crypto layer writes the tag
}

function encodeAckPacket(buf: Uint8Array): number {
  const pn = nextPacketNumber();
  const o = writeShortHeader(buf, 0, dcid, pn, packetNumberLength(pn, largestAcked), 0);
  return writeAckFrame(buf, o, ranges, ranges.length, 1_250, 987_654_321) + AEAD_TAG_LENGTH;
}

const dataLength = encodeDataPacket(dataPacket);
const ackLength = encodeAckPacket(ackPacket);
const decoder = new FrameDecoder();
let sink = 0;

/** Parse header, recover the packet number, walk every frame (as the receive path does after AEAD open). */
function decodePacket(buf: Uint8Array, length: number): void {
  const h = readShortHeader(buf, length);
  sink += decodePacketNumber(largestAcked, h.truncatedPacketNumber, h.packetNumberLength);
  decoder.reset(buf, h.headerLength, length - AEAD_TAG_LENGTH);
  for (let f = decoder.next(); f !== null; f = decoder.next()) {
    if (f.type === FrameType.Stream) sink += f.data.length;
    else if (f.type === FrameType.Ack) sink += f.ranges.length;
  }
}

process.stdout.write(
  `data packet: ${dataLength} bytes (ACK frame ${ackFrameLength(ranges, 4, 1_250, 987_654_321)} B, STREAM 1400 B); ` +
    `ACK-only packet: ${ackLength} bytes\n`,
);

const summary = await b.suite(
  'punchline wire codec',
  b.configure({ cases: { maxTime: 2, minSamples: 10 } }),
  b.add('encode data packet (header + ACK×4 + STREAM 1400 B)', () => {
    encodeDataPacket(scratch);
  }),
  b.add('decode data packet', () => {
    decodePacket(dataPacket, dataLength);
  }),
  b.add('encode ACK-only packet (4 ranges)', () => {
    encodeAckPacket(scratch);
  }),
  b.add('decode ACK-only packet', () => {
    decodePacket(ackPacket, ackLength);
  }),
  b.cycle(),
  b.complete(),
);

process.stdout.write('\nops/s\n');
for (const r of summary.results) {
  process.stdout.write(
    `  ${r.name.padEnd(52)} ${Math.round(r.ops).toLocaleString('en-US').padStart(12)} ops/s ±${r.margin}%\n`,
  );
}
if (sink === -1) process.stdout.write('unreachable\n'); // keeps `sink` observable so the work is not elided
