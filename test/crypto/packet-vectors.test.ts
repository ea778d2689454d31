/**
 * spec/vectors/crypto-packet-protection.json: key schedule and protected packets, checked against
 * src/crypto and, independently, against node:crypto (OpenSSL) HMAC-BLAKE2b and ChaCha20-Poly1305.
 */
import { createDecipheriv, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { derivePhaseKeys, nextPhaseKeys } from '../../src/crypto/key-update.js';
import { PacketProtection } from '../../src/crypto/packet-protection.js';

interface PacketVector {
  trafficSecret0: string;
  key0: string;
  iv0: string;
  trafficSecret1: string;
  key1: string;
  iv1: string;
  payload: string;
  headerLength: number;
  packets: { keyPhase: 0 | 1; packetNumber: number; protected: string }[];
}
const v = JSON.parse(
  readFileSync(new URL('../../spec/vectors/crypto-packet-protection.json', import.meta.url), 'utf8'),
) as PacketVector;
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('packet protection vectors', () => {
  it('key schedule matches, and matches an independent HMAC-BLAKE2b (OpenSSL)', () => {
    const g0 = derivePhaseKeys(hex(v.trafficSecret0));
    const g1 = nextPhaseKeys(g0);
    expect([toHex(g0.key), toHex(g0.iv), toHex(g1.secret), toHex(g1.key), toHex(g1.iv)]).toEqual([
      v.key0,
      v.iv0,
      v.trafficSecret1,
      v.key1,
      v.iv1,
    ]);
    const expand = (secret: string, label: string, n: number): string =>
      createHmac('blake2b512', hex(secret)).update(`punchline/1 ${label}\x01`).digest().subarray(0, n).toString('hex');
    expect(expand(v.trafficSecret0, 'key', 32)).toBe(v.key0);
    expect(expand(v.trafficSecret0, 'ku', 32)).toBe(v.trafficSecret1);
    expect(expand(v.trafficSecret1, 'iv', 12)).toBe(v.iv1);
  });

  it('seal reproduces the packets; open and node:crypto both recover the payload', () => {
    const other = Uint8Array.from({ length: 32 }, (_, i) => 0xff - i);
    const sender = new PacketProtection({ sendKey: hex(v.trafficSecret0), receiveKey: other });
    const receiver = new PacketProtection({ sendKey: other, receiveKey: hex(v.trafficSecret0) });
    const payload = hex(v.payload);
    for (const p of v.packets) {
      if (p.keyPhase !== sender.sendKeyPhase) sender.updateKeys();
      const expected = hex(p.protected);
      const buf = Uint8Array.from(expected);
      buf.set(payload, v.headerLength);
      expect(toHex(buf.subarray(0, sender.seal(buf, v.headerLength, payload.length, p.packetNumber)))).toBe(
        p.protected,
      );

      const copy = Uint8Array.from(expected);
      expect(receiver.open(copy, v.headerLength, copy.length, p.packetNumber, p.keyPhase)).toBe(payload.length);
      expect(toHex(copy.subarray(v.headerLength, v.headerLength + payload.length))).toBe(v.payload);

      const nonce = Buffer.alloc(12);
      nonce.writeBigUInt64BE(BigInt(p.packetNumber), 4);
      const iv = hex(p.keyPhase === 0 ? v.iv0 : v.iv1);
      for (let i = 0; i < 12; i++) nonce[i]! ^= iv[i]!;
      const d = createDecipheriv('chacha20-poly1305', hex(p.keyPhase === 0 ? v.key0 : v.key1), nonce, {
        authTagLength: 16,
      });
      d.setAAD(expected.subarray(0, v.headerLength), { plaintextLength: payload.length });
      d.setAuthTag(expected.subarray(expected.length - 16));
      const plain = Buffer.concat([d.update(expected.subarray(v.headerLength, expected.length - 16)), d.final()]);
      expect(plain.toString('hex')).toBe(v.payload);
    }
  });
});
