/** Shared fixtures for crypto tests: deterministic randomness and short-header packet building. */
import { createHash } from 'node:crypto';
import { PacketProtection, type PacketProtectionOptions } from '../../src/crypto/packet-protection.js';

/** Deterministic RandomSource (SHA-256 counter stream) so tests are reproducible. */
export function seededRandom(seed: string): (buf: Uint8Array) => void {
  let counter = 0;
  return (buf) => {
    for (let off = 0; off < buf.length; off += 32) {
      const block = createHash('sha256').update(`${seed}/${counter++}`).digest();
      buf.set(block.subarray(0, Math.min(32, buf.length - off)), off);
    }
  };
}

function randomKey(random: (b: Uint8Array) => void): Uint8Array {
  const k = new Uint8Array(32);
  random(k);
  return k;
}

export function protectionPair(
  options: PacketProtectionOptions = {},
  seed = 'pair',
): [PacketProtection, PacketProtection] {
  const random = seededRandom(seed);
  const k1 = randomKey(random);
  const k2 = randomKey(random);
  return [
    new PacketProtection({ sendKey: k1, receiveKey: k2 }, options),
    new PacketProtection({ sendKey: k2, receiveKey: k1 }, options),
  ];
}

export const HEADER_LENGTH = 1 + 8 + 4;

export interface SealedPacket {
  bytes: Uint8Array;
  packetNumber: number;
  keyPhase: 0 | 1;
  payload: Uint8Array;
}

/** Builds a short-header packet (spec/wire.md) with a 4-byte packet number and seals it. */
export function sealPacket(sender: PacketProtection, packetNumber: number, payload: Uint8Array): SealedPacket {
  const keyPhase = sender.sendKeyPhase;
  const buf = new Uint8Array(HEADER_LENGTH + payload.length + 16);
  buf[0] = 0x40 | (keyPhase << 2) | 3;
  buf.fill(0xd7, 1, 9);
  new DataView(buf.buffer).setUint32(9, packetNumber >>> 0);
  buf.set(payload, HEADER_LENGTH);
  const length = sender.seal(buf, HEADER_LENGTH, payload.length, packetNumber);
  return { bytes: buf.subarray(0, length), packetNumber, keyPhase, payload };
}

/** Opens a copy (the original stays sealed); returns [result, plaintext]. Key phase read from byte 0. */
export function openCopy(
  receiver: PacketProtection,
  p: SealedPacket,
  packetNumber = p.packetNumber,
  bytes = p.bytes,
): [number, Uint8Array] {
  const copy = Uint8Array.from(bytes);
  const phase = (((copy[0] ?? 0) >> 2) & 1) as 0 | 1;
  const r = receiver.open(copy, HEADER_LENGTH, copy.length, packetNumber, phase);
  return [r, r >= 0 ? copy.subarray(HEADER_LENGTH, HEADER_LENGTH + r) : new Uint8Array(0)];
}
