import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CryptoError, CryptoErrorCode } from '../../src/crypto/errors.js';
import { generateKeyPair, type KeyPair } from '../../src/crypto/keys.js';
import { HandshakeState } from '../../src/crypto/noise/handshake-state.js';
import { patternById } from '../../src/crypto/noise/patterns.js';
import { PacketProtection } from '../../src/crypto/packet-protection.js';
import { makePrologue } from '../../src/crypto/prologue.js';
import { openCopy, sealPacket, seededRandom } from './helpers.js';

const random = seededRandom('handshake');
const alice = generateKeyPair(random);
const bob = generateKeyPair(random);
const psk = new Uint8Array(32).fill(0x42);
const prologue = makePrologue();

type Setup = { pattern: 'IK' | 'XX'; psk?: Uint8Array };
const setups: Setup[] = [{ pattern: 'IK' }, { pattern: 'XX' }, { pattern: 'IK', psk }, { pattern: 'XX', psk }];

function pair(
  s: Setup,
  o: { initiatorPsk?: Uint8Array; respPrologue?: Uint8Array; remote?: Uint8Array; responderKeys?: KeyPair } = {},
) {
  const ipsk = o.initiatorPsk ?? s.psk;
  const initiator = HandshakeState.initiator({
    pattern: s.pattern,
    staticKeyPair: alice,
    ...(s.pattern === 'IK' ? { remoteStaticKey: o.remote ?? bob.publicKey } : {}),
    ...(ipsk ? { psk: ipsk } : {}),
    prologue,
    random,
  });
  const responder = HandshakeState.responder({
    pattern: s.pattern,
    staticKeyPair: o.responderKeys ?? bob,
    ...(s.psk ? { psk: s.psk } : {}),
    prologue: o.respPrologue ?? prologue,
    random,
  });
  return { initiator, responder };
}

/** Runs the handshake; `tamper(i, msg)` may replace message i on the way. Returns the messages sent. */
function run(initiator: HandshakeState, responder: HandshakeState): Uint8Array[] {
  const messages: Uint8Array[] = [];
  for (let i = 0; !initiator.isComplete || !responder.isComplete; i++) {
    const [w, r] = i % 2 === 0 ? [initiator, responder] : [responder, initiator];
    const m = w.writeMessage(new TextEncoder().encode(`payload ${i}`));
    expect(new TextDecoder().decode(r.readMessage(m))).toBe(`payload ${i}`);
    messages.push(m);
  }
  return messages;
}

describe.each(setups)('handshake %o', (s) => {
  it('completes, authenticates both statics and yields matching traffic keys', () => {
    const { initiator, responder } = pair(s);
    run(initiator, responder);
    expect(initiator.handshakeHash).toEqual(responder.handshakeHash);
    expect(responder.remoteStaticKey).toEqual(alice.publicKey);
    expect(initiator.remoteStaticKey).toEqual(bob.publicKey);
    const a = new PacketProtection(initiator.split());
    const b = new PacketProtection(responder.split());
    expect(openCopy(b, sealPacket(a, 0, Uint8Array.of(1, 2)))[0]).toBe(2);
    expect(openCopy(a, sealPacket(b, 0, Uint8Array.of(3)))[0]).toBe(1);
    expect(patternById(initiator.pattern.id)).toBe(initiator.pattern);
  });

  it('rejects every truncation and every single-bit flip of every message, without changing state', () => {
    const { initiator, responder } = pair(s);
    for (let i = 0; !initiator.isComplete; i++) {
      const [w, r] = i % 2 === 0 ? [initiator, responder] : [responder, initiator];
      const m = w.writeMessage(Uint8Array.of(i));
      const hashBefore = r.handshakeHash;
      // XX message 1 carries no key yet: it cannot be authenticated when read (Noise §7.4); tampering
      // is caught one message later (see 'tampered XX message 1' below).
      const authenticated = !(s.pattern === 'XX' && !s.psk && i === 0);
      for (let len = 0; len < (authenticated ? m.length : 32); len++) {
        expect(() => r.readMessage(m.subarray(0, len))).toThrow(CryptoError);
      }
      if (authenticated)
        fc.assert(
          fc.property(fc.nat(m.length * 8 - 1), (bit) => {
            const bad = Uint8Array.from(m);
            bad[bit >> 3]! ^= 1 << (bit & 7);
            expect(() => r.readMessage(bad)).toThrow(CryptoError);
          }),
          { numRuns: 60 },
        );
      expect(r.handshakeHash).toEqual(hashBefore);
      expect(r.rejectedMessages).toBeGreaterThanOrEqual(authenticated ? m.length : 32);
      expect(r.readMessage(m)).toEqual(Uint8Array.of(i)); // genuine message still accepted
      // Replaying it is out of turn.
      expect(() => r.readMessage(m)).toThrow(expect.objectContaining({ code: CryptoErrorCode.WrongTurn }));
    }
    expect(responder.isComplete && initiator.isComplete).toBe(true);
    expect(initiator.handshakeHash).toEqual(responder.handshakeHash);
  });

  it('fails on a prologue (version) mismatch', () => {
    const { initiator, responder } = pair(s, { respPrologue: makePrologue(0x504e4c02) });
    expect(() => run(initiator, responder)).toThrow(CryptoError);
  });
});

describe('handshake failures', () => {
  it('IK to the wrong responder key fails at the responder', () => {
    const { initiator, responder } = pair({ pattern: 'IK' }, { remote: generateKeyPair(random).publicKey });
    expect(() => responder.readMessage(initiator.writeMessage(new Uint8Array(0)))).toThrow(
      expect.objectContaining({ code: CryptoErrorCode.DecryptFailed }),
    );
  });

  it.each(['IK', 'XX'] as const)('%s with mismatched psk fails', (pattern) => {
    const { initiator, responder } = pair({ pattern, psk }, { initiatorPsk: new Uint8Array(32).fill(1) });
    expect(() => run(initiator, responder)).toThrow(CryptoError);
  });

  it('message encrypted for another session is rejected', () => {
    const one = pair({ pattern: 'XX' });
    const two = pair({ pattern: 'XX' });
    two.responder.readMessage(two.initiator.writeMessage(new Uint8Array(0)));
    one.responder.readMessage(one.initiator.writeMessage(new Uint8Array(0)));
    const m2 = two.responder.writeMessage(new Uint8Array(0));
    expect(() => one.initiator.readMessage(m2)).toThrow(CryptoError);
  });

  it('tampered XX message 1 (unauthenticated when read) makes message 2 fail at the initiator', () => {
    for (const bit of [0, 255, 290]) {
      const { initiator, responder } = pair({ pattern: 'XX' });
      const m1 = initiator.writeMessage(new TextEncoder().encode('hello'));
      m1[bit >> 3]! ^= 1 << (bit & 7);
      responder.readMessage(m1);
      expect(() => initiator.readMessage(responder.writeMessage(new Uint8Array(0)))).toThrow(CryptoError);
    }
  });

  it.each(['IK', 'XX'] as const)('%s: a low-order ephemeral key is rejected on read with BadPublicKey', (pattern) => {
    const { responder } = pair({ pattern });
    const lowOrder = new Uint8Array(32); // the point 0: X25519 output all zero
    const m = new Uint8Array(pattern === 'IK' ? 32 + 48 + 16 : 32);
    m.set(lowOrder);
    expect(() => responder.readMessage(m)).toThrow(expect.objectContaining({ code: CryptoErrorCode.BadPublicKey }));
    expect(responder.isMyTurn).toBe(false);
  });

  it('usage errors are typed', () => {
    const { initiator, responder } = pair({ pattern: 'IK' });
    expect(() => responder.writeMessage(new Uint8Array(0))).toThrow(
      expect.objectContaining({ code: CryptoErrorCode.WrongTurn }),
    );
    expect(() => initiator.split()).toThrow(expect.objectContaining({ code: CryptoErrorCode.NotComplete }));
    expect(() => initiator.writeMessage(new Uint8Array(70000))).toThrow(
      expect.objectContaining({ code: CryptoErrorCode.MessageTooLong }),
    );
    expect(initiator.isMyTurn).toBe(true); // the failed write changed nothing
    expect(() => HandshakeState.initiator({ pattern: 'IK', staticKeyPair: alice, prologue, random })).toThrow(
      expect.objectContaining({ code: CryptoErrorCode.InvalidArgument }),
    );
    expect(() =>
      HandshakeState.responder({ pattern: 'XX', staticKeyPair: alice, psk: new Uint8Array(5), prologue, random }),
    ).toThrow(CryptoError);
    expect(() => responder.readMessage('nope' as unknown as Uint8Array)).toThrow(CryptoError);
  });

  it('random garbage never throws anything but CryptoError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom<'IK' | 'XX'>('IK', 'XX'), (bytes, pattern) => {
        const { responder } = pair({ pattern });
        try {
          responder.readMessage(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(CryptoError);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('handshake payload framing (spec/crypto.md §3.3)', () => {
  it('round-trips the pattern id and rejects unknown ids and empty payloads', async () => {
    const { decodeHandshakePayload, encodeHandshakePayload } = await import('../../src/crypto/handshake-payload.js');
    const { initiator, responder } = pair({ pattern: 'XX', psk });
    const framed = encodeHandshakePayload(initiator.pattern, initiator.writeMessage(new Uint8Array(0)));
    expect(framed[0]).toBe(0x04);
    const { pattern, message } = decodeHandshakePayload(framed);
    expect(pattern.name).toBe('XXpsk3');
    expect(pattern.base).toBe('XX');
    expect(responder.readMessage(message)).toEqual(new Uint8Array(0));
    expect(() => decodeHandshakePayload(Uint8Array.of(0x09, 1))).toThrow(
      expect.objectContaining({ code: CryptoErrorCode.UnknownPattern }),
    );
    expect(() => decodeHandshakePayload(new Uint8Array(0))).toThrow(
      expect.objectContaining({ code: CryptoErrorCode.Truncated }),
    );
  });
});
