/**
 * The OpenSSL packet AEAD (src/node/openssl-aead.ts over native/punchline_aead.c) against libsodium:
 * the same bytes on the wire for any key, nonce, header and text; each opens the other's packets; any
 * flipped bit is refused with the text zeroed; a freed context does nothing.
 *
 * On Linux with the add-on built it must load (a failed known-answer test at load would silently put
 * PacketProtection back on libsodium, so that is a failure here); elsewhere, or with
 * PUNCHLINE_AEAD=sodium, these tests are skipped and say why.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { useOpensslAead } from '../../src/node/openssl-aead.js';
import type { AeadContext } from '../../src/crypto/openssl-aead.js';
import { packetAead } from '../../src/crypto/sodium.js';

/** Loaded (and checked against libsodium) as the node layer does; null where it is not available. */
const opensslAead = useOpensslAead();

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const built = existsSync(path.join(root, 'build', 'Release', 'punchline_aead.node'));
const skipReason =
  process.env['PUNCHLINE_AEAD'] === 'sodium'
    ? 'PUNCHLINE_AEAD=sodium'
    : !built
      ? 'the add-on build/Release/punchline_aead.node is not built'
      : null;
if (skipReason) console.log(`[openssl-aead] skipping: ${skipReason}`);

/** libsodium's seal of the same layout, on a copy. */
function sodiumSeal(packet: Uint8Array, header: number, end: number, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  const out = Uint8Array.from(packet);
  packetAead.seal(out.subarray(header, end), out.subarray(end, end + 16), out.subarray(0, header), nonce, key);
  return out;
}

const layout = fc.record({
  key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  header: fc.uint8Array({ minLength: 0, maxLength: 24 }),
  text: fc.uint8Array({ minLength: 0, maxLength: 1500 }),
  /** Bytes before the packet in its buffer: the add-on must honour a view's byteOffset. */
  lead: fc.integer({ min: 0, max: 7 }),
});

function packetOf(l: { header: Uint8Array; text: Uint8Array; lead: number }): Uint8Array {
  const buffer = new Uint8Array(l.lead + l.header.length + l.text.length + 16);
  const packet = buffer.subarray(l.lead);
  packet.set(l.header, 0);
  packet.set(l.text, l.header.length);
  return packet;
}

/**
 * Whether a 64-bit little-endian ELF file asks the loader to bind every symbol at load: DT_FLAGS has
 * DF_BIND_NOW or DT_FLAGS_1 has DF_1_NOW in its PT_DYNAMIC segment (what `-Wl,-z,now` writes).
 */
function bindsNow(file: string): boolean {
  const elf = readFileSync(file);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error(`${file}: not ELF64 LE`);
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (elf.readUInt32LE(ph) !== 2) continue; // PT_DYNAMIC
    const offset = Number(elf.readBigUInt64LE(ph + 8));
    const size = Number(elf.readBigUInt64LE(ph + 32));
    for (let at = offset; at + 16 <= offset + size; at += 16) {
      const tag = elf.readBigUInt64LE(at);
      const value = elf.readBigUInt64LE(at + 8);
      if (tag === 0n) break; // DT_NULL
      if (tag === 30n && (value & 8n) !== 0n) return true; // DT_FLAGS, DF_BIND_NOW
      if (tag === 0x6ffffffbn && (value & 1n) !== 0n) return true; // DT_FLAGS_1, DF_1_NOW
    }
  }
  return false;
}

describe.skipIf(skipReason !== null)('OpenSSL packet AEAD', () => {
  it('loads and passed its known-answer test against libsodium', () => {
    expect(opensslAead).not.toBeNull();
  });

  it('is linked to bind its OpenSSL symbols at load, so a Node without them fails the require() (caught), not the first call', () => {
    // process.dlopen uses RTLD_LAZY: without -z now a missing EVP_* symbol kills the process with
    // "symbol lookup error" at the self-test's first call, which no try/catch can stop.
    expect(bindsNow(path.join(root, 'build', 'Release', 'punchline_aead.node'))).toBe(true);
  });

  it('seals exactly as libsodium does, and each opens the other’s packets', () => {
    const aead = opensslAead!;
    fc.assert(
      fc.property(layout, (l) => {
        const h = l.header.length;
        const end = h + l.text.length;
        const plain = packetOf(l);
        const theirs = sodiumSeal(plain, h, end, l.nonce, l.key);
        const ours = Uint8Array.from(plain);
        const context = aead.create(l.key);
        try {
          expect(aead.seal(context, ours, h, end, l.nonce)).toBe(end + 16);
          expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
          // OpenSSL opens libsodium's packet …
          const opened = packetOf(l);
          opened.set(theirs);
          expect(aead.open(context, opened, h, end + 16, l.nonce)).toBe(l.text.length);
          expect(Buffer.from(opened.subarray(h, end)).equals(Buffer.from(l.text))).toBe(true);
          // … and libsodium opens OpenSSL's.
          const back = Uint8Array.from(ours);
          const ok = packetAead.open(
            back.subarray(h, end),
            back.subarray(end, end + 16),
            back.subarray(0, h),
            l.nonce,
            l.key,
          );
          expect(ok).toBe(true);
          expect(Buffer.from(back.subarray(h, end)).equals(Buffer.from(l.text))).toBe(true);
        } finally {
          aead.free(context);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('sealFrom (text partly from another buffer) gives the same bytes as copying it in, then seal', () => {
    const aead = opensslAead!;
    fc.assert(
      fc.property(
        layout,
        fc.uint8Array({ minLength: 0, maxLength: 1600 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        (l, source, a, b, c) => {
          const h = l.header.length;
          const end = h + l.text.length;
          const length =
            Math.min(l.text.length, source.length) === 0 ? 0 : a % (Math.min(l.text.length, source.length) + 1);
          const at = h + (b % (l.text.length - length + 1));
          const sourceStart = c % (source.length - length + 1);
          const copied = packetOf(l);
          copied.set(source.subarray(sourceStart, sourceStart + length), at);
          const expected = sodiumSeal(copied, h, end, l.nonce, l.key);
          const ours = packetOf(l);
          const context = aead.create(l.key);
          try {
            expect(aead.sealFrom(context, ours, h, end, l.nonce, source, sourceStart, at, length)).toBe(end + 16);
            expect(Buffer.from(ours).equals(Buffer.from(expected))).toBe(true);
          } finally {
            aead.free(context);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('sealFrom refuses ranges outside the packet text or the source', () => {
    const aead = opensslAead!;
    const context = aead.create(new Uint8Array(32).fill(3));
    const nonce = new Uint8Array(12);
    const packet = new Uint8Array(100);
    const source = new Uint8Array(50);
    expect(aead.sealFrom(context, packet, 10, 84, nonce, source, 0, 5, 20)).toBe(-1); // before the text
    expect(aead.sealFrom(context, packet, 10, 84, nonce, source, 0, 70, 20)).toBe(-1); // past its end
    expect(aead.sealFrom(context, packet, 10, 84, nonce, source, 40, 20, 20)).toBe(-1); // past the source
    expect(aead.sealFrom(context, packet, 10, 85, nonce, source, 0, 20, 20)).toBe(-1); // no room for the tag
    expect(aead.sealFrom(context, packet, 10, 84, nonce, source, 30, 20, 20)).toBe(100);
    aead.free(context);
    expect(aead.sealFrom(context, packet, 10, 84, nonce, source, 30, 20, 20)).toBe(-1);
  });

  it('refuses any flipped bit (header, text or tag) and zeroes the text', () => {
    const aead = opensslAead!;
    fc.assert(
      fc.property(layout, fc.nat(), fc.integer({ min: 0, max: 7 }), (l, at, bit) => {
        const h = l.header.length;
        const end = h + l.text.length;
        const packet = packetOf(l);
        const context = aead.create(l.key);
        try {
          aead.seal(context, packet, h, end, l.nonce);
          const i = at % (end + 16);
          packet[i] = (packet[i] as number) ^ (1 << bit);
          expect(aead.open(context, packet, h, end + 16, l.nonce)).toBe(-1);
          expect(packet.subarray(h, end).every((b) => b === 0)).toBe(true);
        } finally {
          aead.free(context);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('refuses lengths outside the buffer, and a freed context', () => {
    const aead = opensslAead!;
    const key = new Uint8Array(32).fill(9);
    const nonce = new Uint8Array(12);
    const packet = new Uint8Array(100);
    const context = aead.create(key);
    expect(aead.seal(context, packet, 10, 85, nonce)).toBe(-1); // no room for the tag
    expect(aead.seal(context, packet, 20, 10, nonce)).toBe(-1); // header past the end
    expect(aead.open(context, packet, 90, 100, nonce)).toBe(-1); // shorter than header + tag
    expect(aead.open(context, packet, 0, 101, nonce)).toBe(-1); // past the buffer
    expect(aead.seal(context, packet, 10, 84, nonce)).toBe(100);
    expect(aead.open(context, packet, 10, 100, nonce)).toBe(74);
    aead.free(context);
    expect(aead.seal(context, packet, 10, 84, nonce)).toBe(-1);
    expect(aead.open(context, packet, 10, 100, nonce)).toBe(-1);
    expect(() => aead.create(new Uint8Array(16))).toThrow(RangeError);
    // Every failure throws: a bare NULL return would hand JavaScript `undefined` as a context.
    expect(() => (aead.create as unknown as () => AeadContext)()).toThrow(TypeError);
    expect(() => (aead.free as unknown as () => void)()).toThrow(TypeError);
    expect(() => aead.seal({} as never, packet, 0, 10, nonce)).toThrow(TypeError);
  });
});
