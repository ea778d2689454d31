/**
 * Packet-path micro-benchmark: one full-size data packet (short header + ACK + STREAM of 1400 B)
 * encoded into a reused buffer, sealed, then — as a receiver sees it — opened and decoded; and an
 * ACK-only packet decoded as the sender's hot path does. Besides ops/s (benny) it counts heap bytes
 * allocated per packet in steady state (heapUsed delta over a GC-free window; run with --expose-gc
 * for exact figures), for the decoder's default mode and the connection's `reuseFrames` mode (which,
 * with the reused buffers here, allocates nothing). bench/core-alloc.ts measures the whole core.
 *
 *   node --expose-gc --import tsx bench/packet-path.bench.ts
 */
import b from 'benny';
import { PacketProtection } from '../src/crypto/packet-protection.js';
import { useOpensslAead } from '../src/node/openssl-aead.js';
import { writeAckFrame, writeStreamFrameHeader } from '../src/wire/frames-encode.js';
import { FrameDecoder } from '../src/wire/frames-decode.js';
import { writeShortHeader } from '../src/wire/headers.js';
import { CONNECTION_ID_LENGTH, type AckRange, type Frame } from '../src/wire/types.js';

// The packet AEAD as the product runs it: Node's OpenSSL where the add-on is built (spec/crypto.md §5.1).
useOpensslAead();

const DATA = 1400;
const dcid = new Uint8Array(CONNECTION_ID_LENGTH).fill(7);
const key = (n: number): Uint8Array => new Uint8Array(32).fill(n);
const sender = new PacketProtection({ sendKey: key(1), receiveKey: key(2) });
const receiver = new PacketProtection({ sendKey: key(2), receiveKey: key(1) });
const payload = new Uint8Array(DATA).fill(0x61);
const ranges: AckRange[] = [
  { smallest: 90, largest: 100 },
  { smallest: 70, largest: 80 },
];
/** The sender's one reused datagram buffer, and the receiver's copy of the datagram (as from recvmsg). */
const tx = Buffer.allocUnsafeSlow(2048);
const rx = Buffer.allocUnsafeSlow(2048);
let pn = 0;
let sink = 0;

function buildAndSeal(): number {
  const p = pn++;
  const h = writeShortHeader(tx, 0, dcid, p, 4, 0);
  let o = writeAckFrame(tx, h, ranges, ranges.length, 25, 123456);
  o = writeStreamFrameHeader(tx, o, 4, p * DATA, DATA, false);
  tx.set(payload, o);
  o += DATA;
  return sender.seal(tx, h, o - h, p);
}

/** tx[0, length) as delivered: the datagram length is the same every time, so one view is reused. */
let txView = tx.subarray(0, 0);
function openAndDecode(decoder: FrameDecoder, length: number): void {
  if (txView.length !== length) txView = tx.subarray(0, length);
  rx.set(txView);
  const h = 1 + CONNECTION_ID_LENGTH + 4;
  const plain = receiver.open(rx, h, length, pn - 1, 0);
  if (plain < 0) throw new Error(`open failed: ${plain}`);
  decoder.reset(rx, h, h + plain);
  for (let f: Frame | null = decoder.next(); f !== null; f = decoder.next()) sink += f.type;
}

const plainDecoder = new FrameDecoder();
const reuseDecoder = new FrameDecoder({ reuseFrames: true });
const step = (decoder: FrameDecoder) => (): void => openAndDecode(decoder, buildAndSeal());

/** Heap bytes allocated per call of `fn` in steady state (minimum over several GC-free windows). */
function bytesPerCall(fn: () => void): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 5000; i++) fn(); // warm up (optimize)
  let best = Infinity;
  for (let round = 0; round < 20; round++) {
    gc?.();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1000; i++) fn();
    const after = process.memoryUsage().heapUsed;
    if (after >= before) best = Math.min(best, (after - before) / 1000); // a scavenge in between: skip
  }
  return best;
}

const allocs = {
  'seal (reused buffer)': bytesPerCall(() => void buildAndSeal()),
  'seal + open + decode (default decoder)': bytesPerCall(step(plainDecoder)),
  'seal + open + decode (reuseFrames)': bytesPerCall(step(reuseDecoder)),
};

await b.suite(
  'packet path: data packet (ACK + STREAM 1400 B), ChaCha20-Poly1305',
  b.add('seal (encode + protect)', () => void buildAndSeal()),
  b.add('seal + open + decode (default decoder)', step(plainDecoder)),
  b.add('seal + open + decode (reuseFrames)', step(reuseDecoder)),
  b.cycle(),
  b.complete(),
);

process.stdout.write(
  `\nheap bytes allocated per packet (steady state${(globalThis as { gc?: unknown }).gc ? '' : '; run with --expose-gc for exact figures'}):\n`,
);
for (const [name, bytes] of Object.entries(allocs))
  process.stdout.write(`  ${name.padEnd(42)} ${bytes.toFixed(0)} B\n`);
if (sink === -1) process.stdout.write('');
