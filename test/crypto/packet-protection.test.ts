import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CryptoError } from '../../src/crypto/errors.js';
import type { AeadContext, OpensslAead } from '../../src/crypto/openssl-aead.js';
import { OpenResult, PacketProtection, type PacketProtectionOptions } from '../../src/crypto/packet-protection.js';
import { useOpensslAead } from '../../src/node/openssl-aead.js';
import { HEADER_LENGTH, openCopy, protectionPair, sealPacket, seededRandom, type SealedPacket } from './helpers.js';

/** The OpenSSL AEAD as the node layer loads it (null where it is not built or PUNCHLINE_AEAD=sodium). */
const openssl = useOpensslAead();

const payloadArb = fc.uint8Array({ minLength: 0, maxLength: 1400 });

/**
 * Every behaviour below on both AEAD backends: libsodium (nothing registered: pure-core users, the
 * simulator, PUNCHLINE_AEAD=sodium) and the OpenSSL add-on where it loads (spec/crypto.md §5.1).
 */
const backends: { name: string; aead: OpensslAead | null }[] = [
  { name: 'libsodium', aead: null },
  ...(openssl === null ? [] : [{ name: 'OpenSSL', aead: openssl }]),
];
if (openssl === null) console.log('[packet-protection] the OpenSSL AEAD is not loaded: libsodium only');

describe.each(backends)('PacketProtection on $name', ({ aead }) => {
  /** protectionPair on this backend. */
  const pair = (options: PacketProtectionOptions = {}, seed?: string) => protectionPair({ ...options, aead }, seed);

  describe('round trip', () => {
    it('runs on this backend (sealFrom only with OpenSSL)', () => {
      const [a, b] = pair();
      expect(a.sealsFromSource).toBe(aead !== null);
      expect(b.sealsFromSource).toBe(aead !== null);
    });

    it('open(seal(p)) === p for any payload and increasing packet numbers', () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(payloadArb, fc.integer({ min: 1, max: 2 ** 40 })), { minLength: 1, maxLength: 20 }),
          (items) => {
            const [a, b] = pair();
            let pn = 0;
            for (const [payload, gap] of items) {
              pn += gap;
              const sealed = sealPacket(a, pn, payload);
              expect(sealed.bytes.length).toBe(HEADER_LENGTH + payload.length + 16);
              const [r, plain] = openCopy(b, sealed);
              expect(r).toBe(payload.length);
              expect(plain).toEqual(payload);
            }
            expect(b.stats().opened).toBe(items.length);
          },
        ),
        { numRuns: 40 },
      );
    });

    it('works with an empty header (AAD of length 0)', () => {
      const [a, b] = pair();
      const buf = new Uint8Array(5 + 16);
      buf.set([1, 2, 3, 4, 5]);
      expect(a.seal(buf, 0, 5, 0)).toBe(21);
      expect(b.open(buf, 0, 21, 0, 0)).toBe(5);
      expect(buf.subarray(0, 5)).toEqual(Uint8Array.of(1, 2, 3, 4, 5));
    });

    it('nonces use the full 64-bit packet number (2^32 + 5 is not 5)', () => {
      const [a, b] = pair();
      const sealed = sealPacket(a, 2 ** 32 + 5, Uint8Array.of(9));
      expect(openCopy(b, sealed, 5)[0]).toBe(OpenResult.AUTH_FAILED);
      expect(openCopy(b, sealed)[0]).toBe(1);
    });

    it('seal refuses repeated or decreasing packet numbers and short buffers', () => {
      const [a] = pair();
      sealPacket(a, 7, Uint8Array.of(1));
      expect(() => sealPacket(a, 7, Uint8Array.of(1))).toThrow(CryptoError);
      expect(() => sealPacket(a, 3, Uint8Array.of(1))).toThrow(CryptoError);
      expect(() => a.seal(new Uint8Array(20), 4, 10, 8)).toThrow(CryptoError);
    });
  });

  describe('rejects tampering', () => {
    it('any single-bit flip anywhere in a protected packet is rejected and changes nothing', () => {
      fc.assert(
        fc.property(payloadArb, fc.nat(), (payload, bitSeed) => {
          const [a, b] = pair();
          const sealed = sealPacket(a, 1000, payload);
          const bit = bitSeed % (sealed.bytes.length * 8);
          const flipped = Uint8Array.from(sealed.bytes);
          flipped[bit >> 3]! ^= 1 << (bit & 7);
          const [r] = openCopy(b, sealed, sealed.packetNumber, flipped);
          expect(r).toBeLessThan(0);
          expect(b.stats().opened).toBe(0);
          // State untouched: the genuine packet still opens.
          expect(openCopy(b, sealed)[0]).toBe(payload.length);
        }),
        { numRuns: 300 },
      );
    });

    it('every bit flip of one packet is rejected (exhaustive)', () => {
      const [a, b] = pair();
      const sealed = sealPacket(a, 42, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
      for (let bit = 0; bit < sealed.bytes.length * 8; bit++) {
        const flipped = Uint8Array.from(sealed.bytes);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        expect(openCopy(b, sealed, 42, flipped)[0]).toBe(OpenResult.AUTH_FAILED);
      }
      expect(b.stats().authFailed).toBe(sealed.bytes.length * 8);
      expect(openCopy(b, sealed)[0]).toBe(8);
    });

    it('a forged packet releases no plaintext: the payload bytes are wiped', () => {
      const [a, b] = pair();
      const sealed = sealPacket(a, 10, new Uint8Array(64).fill(0x5a));
      const forged = Uint8Array.from(sealed.bytes);
      forged[forged.length - 1]! ^= 0x80;
      expect(b.open(forged, HEADER_LENGTH, forged.length, 10, 0)).toBe(OpenResult.AUTH_FAILED);
      expect(forged.subarray(HEADER_LENGTH, HEADER_LENGTH + 64).every((x) => x === 0)).toBe(true);
    });

    it('a wrong packet number is rejected', () => {
      const [a, b] = pair();
      const sealed = sealPacket(a, 10, Uint8Array.of(1));
      expect(openCopy(b, sealed, 11)[0]).toBe(OpenResult.AUTH_FAILED);
    });

    it('truncation at every length is rejected', () => {
      const [a, b] = pair();
      const sealed = sealPacket(a, 5, new Uint8Array(40).fill(7));
      for (let len = 0; len < sealed.bytes.length; len++) {
        const copy = Uint8Array.from(sealed.bytes.subarray(0, len));
        const r = b.open(copy, Math.min(HEADER_LENGTH, len), len, 5, 0);
        expect(r === OpenResult.TRUNCATED || r === OpenResult.AUTH_FAILED).toBe(true);
      }
      expect(b.stats().opened).toBe(0);
      expect(openCopy(b, sealed)[0]).toBe(40);
    });

    it('a packet under the wrong key is rejected', () => {
      const [a] = pair({}, 'one');
      const [, other] = pair({}, 'two');
      expect(openCopy(other, sealPacket(a, 1, Uint8Array.of(1, 2)))[0]).toBe(OpenResult.AUTH_FAILED);
    });

    it('never throws on garbage arguments', () => {
      const [, b] = pair();
      fc.assert(
        fc.property(
          fc.uint8Array({ maxLength: 100 }),
          fc.integer({ min: -5, max: 120 }),
          fc.integer({ min: -5, max: 120 }),
          fc.oneof(fc.integer(), fc.double(), fc.constant(Number.MAX_SAFE_INTEGER + 2)),
          fc.constantFrom(0, 1, 2, -1),
          (bytes, h, len, pn, phase) => {
            const r = b.open(bytes, h, len, pn, phase as 0 | 1);
            expect(r).toBeLessThan(0);
          },
        ),
        { numRuns: 500 },
      );
      expect(b.stats().opened).toBe(0);
    });

    it('integrity limit (RFC 9001 §6.6): after N forgeries every packet is refused', () => {
      const [a, b] = pair({ integrityLimit: 3 });
      const good = sealPacket(a, 1, Uint8Array.of(1));
      const forged = Uint8Array.from(good.bytes);
      forged[forged.length - 1]! ^= 1;
      expect(openCopy(b, good, 1, forged)[0]).toBe(OpenResult.AUTH_FAILED);
      expect(openCopy(b, good, 1, forged)[0]).toBe(OpenResult.AUTH_FAILED);
      expect(openCopy(b, good, 1, forged)[0]).toBe(OpenResult.AEAD_LIMIT_REACHED);
      expect(openCopy(b, good)[0]).toBe(OpenResult.AEAD_LIMIT_REACHED);
    });
  });

  describe('replay protection', () => {
    it('rejects a replay, and only after the tag verified', () => {
      const [a, b] = pair();
      const p = sealPacket(a, 3, Uint8Array.of(1, 2, 3));
      expect(openCopy(b, p)[0]).toBe(3);
      expect(openCopy(b, p)[0]).toBe(OpenResult.REPLAYED);
      // A forgery carrying a seen packet number is AUTH_FAILED, not REPLAYED: the window is not probed.
      const forged = Uint8Array.from(p.bytes);
      forged[HEADER_LENGTH]! ^= 1;
      expect(openCopy(b, p, 3, forged)[0]).toBe(OpenResult.AUTH_FAILED);
      expect(b.stats()).toMatchObject({ opened: 1, replayed: 1, authFailed: 1 });
    });

    it('a forged packet with a huge packet number does not move the window', () => {
      const [a, b] = pair();
      const p1 = sealPacket(a, 1, Uint8Array.of(1));
      const fake = Uint8Array.from(p1.bytes);
      expect(openCopy(b, p1, 1_000_000, fake)[0]).toBe(OpenResult.AUTH_FAILED);
      expect(openCopy(b, p1)[0]).toBe(1);
    });

    it('delivers every packet exactly once under reordering within the window', () => {
      fc.assert(
        fc.property(fc.array(fc.nat(), { minLength: 2, maxLength: 300 }), fc.nat(), (keys, dupSeed) => {
          const [a, b] = pair();
          const packets = keys.map((_, i) => sealPacket(a, i, Uint8Array.of(i & 0xff)));
          const order = packets
            .map((p, i) => ({ p, k: keys[i]! }))
            .sort((x, y) => x.k - y.k)
            .map((x) => x.p);
          order.push(order[dupSeed % order.length]!); // plus one duplicate
          let delivered = 0;
          for (const p of order) if (openCopy(b, p)[0] >= 0) delivered++;
          expect(delivered).toBe(packets.length);
          expect(b.stats().replayed).toBe(1);
        }),
        { numRuns: 30 },
      );
    });

    it('packets older than the window are TOO_OLD', () => {
      const [a, b] = pair();
      const old = sealPacket(a, 0, Uint8Array.of(1));
      const fresh = sealPacket(a, 10_000, Uint8Array.of(2));
      expect(openCopy(b, fresh)[0]).toBe(1);
      expect(openCopy(b, old)[0]).toBe(OpenResult.TOO_OLD);
    });
  });

  describe('key update (RFC 9001 §6)', () => {
    function exchange(from: PacketProtection, _to: PacketProtection, start: number, count: number): SealedPacket[] {
      const out: SealedPacket[] = [];
      for (let i = 0; i < count; i++) out.push(sealPacket(from, start + i, Uint8Array.of(i & 0xff, 0xaa)));
      return out;
    }

    it('survives reordering across the switch, the peer follows, and old keys are discarded', () => {
      const [a, b] = pair();
      const before = exchange(a, b, 0, 50);
      expect(a.updateKeys()).toBe(true);
      expect(a.sendKeyPhase).toBe(1);
      expect(a.updateKeys()).toBe(false); // unanswered: RFC 9001 §6.1
      const after = exchange(a, b, 50, 50);
      expect(after.every((p) => p.keyPhase === 1) && before.every((p) => p.keyPhase === 0)).toBe(true);

      const shuffled = [...before, ...after];
      const rnd = seededRandom('shuffle');
      const r = new Uint8Array(4);
      for (let i = shuffled.length - 1; i > 0; i--) {
        rnd(r);
        const j = new DataView(r.buffer).getUint32(0) % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      for (const p of shuffled) expect(openCopy(b, p)[0]).toBe(2);
      expect(b.stats()).toMatchObject({ opened: 100, keyUpdatesReceived: 1, receiveGeneration: 1, sendGeneration: 1 });
      expect(b.sendKeyPhase).toBe(1); // responded to the update (§6.2)

      // b answers in phase 1; a confirms and may update again.
      const reply = sealPacket(b, 0, Uint8Array.of(5));
      expect(openCopy(a, reply)[0]).toBe(1);
      expect(a.canUpdateKeys).toBe(true);

      // Old keys discarded: a late phase-0 packet is no longer accepted.
      b.discardPreviousReceiveKey();
      expect(openCopy(b, before[0]!)[0]).toBe(OpenResult.KEY_UNAVAILABLE);
    });

    it('several updates in a row keep both directions working', () => {
      const [a, b] = pair();
      let pa = 0;
      let pb = 0;
      for (let round = 0; round < 6; round++) {
        const initiator = round % 2 === 0 ? a : b;
        expect(initiator.updateKeys()).toBe(true);
        for (let i = 0; i < 3; i++) {
          const p = sealPacket(a, pa++, Uint8Array.of(round));
          expect(openCopy(b, p)[0]).toBe(1);
          const q = sealPacket(b, pb++, Uint8Array.of(round));
          expect(openCopy(a, q)[0]).toBe(1);
        }
      }
      expect(a.stats().sendGeneration).toBe(6);
      expect(b.stats().receiveGeneration).toBe(6);
    });

    it('initiates automatically after keyUpdateAfterPackets', () => {
      const [a, b] = pair({ keyUpdateAfterPackets: 10 });
      for (let i = 0; i < 10; i++) expect(openCopy(b, sealPacket(a, i, Uint8Array.of(i)))[0]).toBe(1);
      expect(a.sendKeyPhase).toBe(1);
      expect(a.stats().keyUpdatesInitiated).toBe(1);
      for (let i = 10; i < 30; i++) expect(openCopy(b, sealPacket(a, i, Uint8Array.of(i)))[0]).toBe(1);
      expect(a.sendKeyPhase).toBe(1); // not again until b answers
      openCopy(a, sealPacket(b, 0, Uint8Array.of(0)));
      expect(openCopy(b, sealPacket(a, 30, Uint8Array.of(0)))[0]).toBe(1);
      expect(a.sendKeyPhase).toBe(0);
    });

    it('drops previous keys once the window has moved past them', () => {
      const [a, b] = pair({ replayWindowSize: 64 });
      openCopy(b, sealPacket(a, 0, Uint8Array.of(0)));
      a.updateKeys();
      openCopy(b, sealPacket(a, 1, Uint8Array.of(0)));
      expect(b.hasPreviousReceiveKey).toBe(true);
      openCopy(b, sealPacket(a, 500, Uint8Array.of(0)));
      expect(b.hasPreviousReceiveKey).toBe(false);
    });

    it('a new phase below packets of the current phase is KEY_UPDATE_ERROR (RFC 9001 §6.4)', () => {
      const random = seededRandom('kue');
      const k1 = new Uint8Array(32);
      const k2 = new Uint8Array(32);
      random(k1);
      random(k2);
      const sender0 = new PacketProtection({ sendKey: k1, receiveKey: k2 }, { aead });
      const sender1 = new PacketProtection({ sendKey: k1, receiveKey: k2 }, { aead });
      const receiver = new PacketProtection({ sendKey: k2, receiveKey: k1 }, { aead });
      sender1.updateKeys();
      expect(openCopy(receiver, sealPacket(sender0, 60, Uint8Array.of(1)))[0]).toBe(1);
      expect(openCopy(receiver, sealPacket(sender1, 50, Uint8Array.of(1)))[0]).toBe(OpenResult.KEY_UPDATE_ERROR);
      expect(receiver.stats().receiveGeneration).toBe(0);
    });
  });

  describe('view reuse (seal/open in a few reused buffers)', () => {
    it('interleaved buffers, lengths and header lengths all round-trip, including after a forged packet (property)', () => {
      fc.assert(
        fc.property(
          fc.array(
            fc.tuple(
              fc.integer({ min: 0, max: 2 }),
              fc.integer({ min: 0, max: 1200 }),
              fc.integer({ min: 0, max: 3 }),
              fc.boolean(),
            ),
            {
              minLength: 1,
              maxLength: 60,
            },
          ),
          (steps) => {
            const [a, b] = pair();
            // Three reused "datagram" buffers on each side, as a transport with scratch buffers has.
            const tx = [new Uint8Array(1500), new Uint8Array(1500), new Uint8Array(1500)];
            const rx = [new Uint8Array(1500), new Uint8Array(1500), new Uint8Array(1500)];
            let pn = 0;
            for (const [slot, length, extraHeader, forge] of steps) {
              const header = 10 + extraHeader;
              const payload = Uint8Array.from({ length }, (_, i) => (i * 17 + pn) & 0xff);
              const t = tx[slot] as Uint8Array;
              t.fill(pn & 0xff, 0, header);
              t.set(payload, header);
              const total = a.seal(t, header, length, pn);
              const r = rx[(slot + pn) % 3] as Uint8Array;
              r.set(t.subarray(0, total));
              if (forge) {
                r[header + (length >> 1)]! ^= 1; // tag or body flipped: must fail, and change nothing
                expect(b.open(r, header, total, pn, 0)).toBe(OpenResult.AUTH_FAILED);
                r.set(t.subarray(0, total)); // the genuine copy arrives later in the same buffer
              }
              expect(b.open(r, header, total, pn, 0)).toBe(length);
              expect(r.subarray(header, header + length)).toEqual(payload);
              pn++;
            }
          },
        ),
        { numRuns: 60 },
      );
    });
  });
});

describe.skipIf(openssl === null)('PacketProtection when the OpenSSL AEAD fails to make a context', () => {
  const aead = openssl as OpensslAead;

  /** The add-on, with create() replaced from call `from` on (calls counted from 1). */
  function failingFrom(from: number, create: (key: Uint8Array) => AeadContext): OpensslAead & { freed: number } {
    let calls = 0;
    const wrapper = {
      freed: 0,
      create: (key: Uint8Array) => (++calls >= from ? create(key) : aead.create(key)),
      free: (context: AeadContext) => {
        wrapper.freed++;
        aead.free(context);
      },
      seal: aead.seal,
      sealFrom: aead.sealFrom,
      open: aead.open,
    };
    return wrapper;
  }

  it('a create() that returns no context (a native failure without an exception) leaves that key on libsodium', () => {
    const broken = failingFrom(1, () => undefined as unknown as AeadContext);
    const [a, b] = protectionPair({ aead: broken });
    const plain = protectionPair({ aead: null });
    for (let pn = 0; pn < 3; pn++) {
      const sealed = sealPacket(a, pn, Uint8Array.of(pn, 7, 7));
      expect(sealed.bytes).toEqual(sealPacket(plain[0], pn, Uint8Array.of(pn, 7, 7)).bytes);
      expect(openCopy(b, sealed)).toEqual([3, Uint8Array.of(pn, 7, 7)]);
    }
    expect(a.sealsFromSource).toBe(false);
  });

  it('a create() that throws at a key update keeps the connection sealing, and frees no context still in use', () => {
    // Three contexts at construction (send, receive, next receive); the fourth is the key update's.
    const throwing = failingFrom(4, () => {
      throw new Error('ERR_PUNCHLINE_AEAD: out of memory');
    });
    const [a, b] = protectionPair({ aead: throwing });
    expect(openCopy(b, sealPacket(a, 0, Uint8Array.of(1)))[0]).toBe(1);
    expect(a.updateKeys()).toBe(true);
    expect(throwing.freed).toBe(1); // the old send context, once the new key is in place
    expect(a.sealsFromSource).toBe(false); // the new send key runs on libsodium
    for (let pn = 1; pn < 4; pn++) expect(openCopy(b, sealPacket(a, pn, Uint8Array.of(pn)))[0]).toBe(1);
    expect(b.stats()).toMatchObject({ opened: 4, keyUpdatesReceived: 1 });
    // b's reply (its own key update, on OpenSSL) still opens at a.
    expect(openCopy(a, sealPacket(b, 0, Uint8Array.of(9)))[0]).toBe(1);
  });

  it('open() never throws with a failing backend', () => {
    const [a] = protectionPair({ aead: null });
    const [, b] = protectionPair({ aead: failingFrom(1, () => undefined as unknown as AeadContext) });
    expect(openCopy(b, sealPacket(a, 0, Uint8Array.of(1)))[0]).toBe(1);
  });
});
