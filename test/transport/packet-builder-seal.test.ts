/**
 * PacketBuilder.finish with STREAM data not yet copied into the packet (writeStreamData defers it):
 * sealed through PacketProtection.sealFrom (OpenSSL path: one native copy from the send buffer's ring)
 * it must give exactly the bytes of the copy-then-seal path (libsodium / no sealFrom), for ring ranges
 * that wrap (copyTo at once) or not, and for two STREAM frames in one packet (the first is copied in
 * when the second is written).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { useOpensslAead } from '../../src/node/openssl-aead.js';
import { PacketProtection } from '../../src/crypto/packet-protection.js';
import { PacketBuilder } from '../../src/transport/packet-builder.js';
import { SentPacket } from '../../src/transport/recovery/sent-packets.js';
import { SendBuffer } from '../../src/transport/streams/send-buffer.js';

/** Loaded (and checked against libsodium) as the node layer does; null where it is not available. */
const opensslAead = useOpensslAead();

const skip = opensslAead === null ? 'the OpenSSL AEAD add-on is not loaded (sealFrom unavailable)' : null;
if (skip) console.log(`[packet-builder-seal] skipping: ${skip}`);

/** The same keys; `copying` hides sealFrom, so the builder copies the data in and calls seal(). */
function protections(key: Uint8Array): { direct: PacketProtection; copying: PacketProtection } {
  const direct = new PacketProtection({ sendKey: key, receiveKey: key }, { aead: opensslAead });
  const inner = new PacketProtection({ sendKey: key, receiveKey: key }, { aead: opensslAead });
  const copying = Object.create(inner, { sealsFromSource: { value: false } }) as PacketProtection;
  return { direct, copying };
}

function build(
  protection: PacketProtection,
  buffers: SendBuffer[],
  frames: Array<[number, number, number]>,
): Uint8Array {
  const b = new PacketBuilder();
  const out = new Uint8Array(1500);
  b.begin(out, new Uint8Array(8).fill(5), 7, 4, 0, 1452, new SentPacket());
  for (const [stream, offset, length] of frames) {
    b.writeStreamData(stream * 4, offset, length, false, buffers[stream] as SendBuffer);
  }
  return out.slice(0, b.finish(protection));
}

describe.skipIf(skip !== null)('PacketBuilder: sealFrom equals copy + seal', () => {
  it('gives the same datagram for any ranges, wrapping or not, one or two STREAM frames', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 0, max: 8191 }),
        fc.integer({ min: 0, max: 8191 }),
        fc.integer({ min: 1, max: 1300 }),
        fc.integer({ min: 0, max: 60 }),
        (key, skip0, skip1, length0, length1) => {
          // Two 4 KiB rings advanced by skipN acknowledged bytes, so ranges start anywhere and may wrap.
          const buffers = [0, 1].map((i) => {
            const sb = new SendBuffer(4096, 4096, 1452);
            const skipN = i === 0 ? skip0 : skip1;
            let written = 0;
            const fill = Uint8Array.from({ length: 4096 }, (_, j) => (j * 13 + i) & 0xff);
            while (written < skipN + 2048) {
              const n = sb.write(fill.subarray(0, Math.min(4096, skipN + 2048 - written)));
              written += n;
              if (n === 0 || sb.space === 0) {
                sb.onAck(sb.ackedPrefix, Math.min(1024, skipN + 2048 - sb.ackedPrefix));
              }
            }
            return sb;
          });
          const frames: Array<[number, number, number]> = [[0, (buffers[0] as SendBuffer).end - 2048, length0]];
          if (length1 > 0) frames.push([1, (buffers[1] as SendBuffer).end - 2048, length1]);
          const { direct, copying } = protections(key);
          expect(direct.sealsFromSource).toBe(true);
          expect(Buffer.from(build(direct, buffers, frames)).equals(Buffer.from(build(copying, buffers, frames)))).toBe(
            true,
          );
        },
      ),
      { numRuns: 150 },
    );
  });
});
