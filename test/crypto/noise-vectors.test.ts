/**
 * Cacophony test vectors (spec/vectors/noise-*.json): every handshake message, every following
 * transport message (Noise CipherState from Split) and the final handshake hash must match byte for byte.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CipherState } from '../../src/crypto/noise/cipher-state.js';
import { HandshakeState } from '../../src/crypto/noise/handshake-state.js';
import { keyPairFromSecretKey } from '../../src/crypto/keys.js';

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_psks?: string[];
  init_static: string;
  init_ephemeral: string;
  init_remote_static?: string;
  resp_prologue: string;
  resp_psks?: string[];
  resp_static: string;
  resp_ephemeral: string;
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const noRandom = (): void => {
  throw new Error('vectors use fixed ephemerals');
};

function load(name: string): Vector {
  const url = new URL(`../../spec/vectors/noise-${name}.json`, import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { vector: Vector }).vector;
}

describe.each(['IK', 'IKpsk2', 'XX', 'XXpsk3'])('cacophony Noise_%s_25519_ChaChaPoly_BLAKE2b', (name) => {
  const v = load(name);
  const base = name.startsWith('IK') ? 'IK' : 'XX';

  it('matches every message and the handshake hash', () => {
    expect(v.protocol_name).toBe(`Noise_${name}_25519_ChaChaPoly_BLAKE2b`);
    const initPsk = v.init_psks?.[0];
    const respPsk = v.resp_psks?.[0];
    const initiator = HandshakeState.initiator({
      pattern: base,
      staticKeyPair: keyPairFromSecretKey(hex(v.init_static)),
      ...(v.init_remote_static ? { remoteStaticKey: hex(v.init_remote_static) } : {}),
      ...(initPsk ? { psk: hex(initPsk) } : {}),
      prologue: hex(v.init_prologue),
      random: noRandom,
      ephemeral: keyPairFromSecretKey(hex(v.init_ephemeral)),
    });
    const responder = HandshakeState.responder({
      pattern: base,
      staticKeyPair: keyPairFromSecretKey(hex(v.resp_static)),
      ...(respPsk ? { psk: hex(respPsk) } : {}),
      prologue: hex(v.resp_prologue),
      random: noRandom,
      ephemeral: keyPairFromSecretKey(hex(v.resp_ephemeral)),
    });
    expect(initiator.pattern.name).toBe(name);

    let i = 0;
    for (; !initiator.isComplete; i++) {
      const m = v.messages[i]!;
      const [writer, reader] = i % 2 === 0 ? [initiator, responder] : [responder, initiator];
      const wire = writer.writeMessage(hex(m.payload));
      expect(toHex(wire)).toBe(m.ciphertext);
      expect(toHex(reader.readMessage(wire))).toBe(m.payload);
    }
    expect(responder.isComplete).toBe(true);
    expect(toHex(initiator.handshakeHash)).toBe(v.handshake_hash);
    expect(toHex(responder.handshakeHash)).toBe(v.handshake_hash);
    expect(toHex(responder.remoteStaticKey!)).toBe(toHex(keyPairFromSecretKey(hex(v.init_static)).publicKey));
    expect(toHex(initiator.remoteStaticKey!)).toBe(toHex(keyPairFromSecretKey(hex(v.resp_static)).publicKey));

    // Transport messages after Split(): Noise CipherStates, alternating as in cacophony.
    const ik = initiator.split();
    const rk = responder.split();
    expect(toHex(ik.sendKey)).toBe(toHex(rk.receiveKey));
    expect(toHex(ik.receiveKey)).toBe(toHex(rk.sendKey));
    const cipher = (key: Uint8Array): CipherState => {
      const c = new CipherState();
      c.initializeKey(key);
      return c;
    };
    const [iSend, iRecv, rSend, rRecv] = [
      cipher(ik.sendKey),
      cipher(ik.receiveKey),
      cipher(rk.sendKey),
      cipher(rk.receiveKey),
    ];
    const empty = new Uint8Array(0);
    for (; i < v.messages.length; i++) {
      const m = v.messages[i]!;
      const [send, recv] = i % 2 === 0 ? [iSend, rRecv] : [rSend, iRecv];
      const wire = send.encryptWithAd(empty, hex(m.payload));
      expect(toHex(wire)).toBe(m.ciphertext);
      expect(toHex(recv.decryptWithAd(empty, wire))).toBe(m.payload);
    }
    expect(i).toBe(v.messages.length);
  });
});
