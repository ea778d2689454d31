/**
 * Crypto-layer parsers: the handshake payload framing, a Noise responder reading an arbitrary first
 * message and an initiator reading an arbitrary second message (XX, XXpsk3, IK, IKpsk2), and the
 * transport-parameters map (both the crypto codec and the transport's negotiated view).
 */
import { CryptoError } from '../../src/crypto/errors.js';
import { decodeHandshakePayload } from '../../src/crypto/handshake-payload.js';
import { keyPairFromSecretKey } from '../../src/crypto/keys.js';
import { HandshakeState } from '../../src/crypto/noise/handshake-state.js';
import {
  decodeTransportParameters,
  DEFAULT_TRANSPORT_PARAMETERS,
  encodeTransportParameters,
} from '../../src/crypto/transport-parameters.js';
import { peerTransportParameters as decodeNegotiated } from '../../src/transport/transport-parameters.js';
import { TransportError } from '../../src/transport/errors.js';
import { canonical, hexStrings } from './vectors.js';
import { invariant, refusing, utf8, type FuzzTarget } from '../engine/target.js';

const initiatorStatic = keyPairFromSecretKey(new Uint8Array(32).fill(1));
const responderStatic = keyPairFromSecretKey(new Uint8Array(32).fill(2));
const ephemeral = keyPairFromSecretKey(new Uint8Array(32).fill(3));
const psk = new Uint8Array(32).fill(4);
const prologue = utf8('punchline fuzz');
const random = (b: Uint8Array) => b.fill(0x5a);

type Variant = { pattern: 'IK' | 'XX'; psk?: Uint8Array };
const VARIANTS: Variant[] = [{ pattern: 'XX' }, { pattern: 'XX', psk }, { pattern: 'IK' }, { pattern: 'IK', psk }];

function options(v: Variant) {
  return { pattern: v.pattern, prologue, random, ephemeral, ...(v.psk ? { psk: v.psk } : {}) };
}

/** Valid first and second messages of each variant, to seed the corpus. */
function handshakeSeeds(): Uint8Array[] {
  const out: Uint8Array[] = [];
  VARIANTS.forEach((v, i) => {
    const initiator = HandshakeState.initiator({
      ...options(v),
      staticKeyPair: initiatorStatic,
      remoteStaticKey: responderStatic.publicKey,
    });
    const responder = HandshakeState.responder({ ...options(v), staticKeyPair: responderStatic });
    const m1 = initiator.writeMessage(utf8('hello'));
    responder.readMessage(m1);
    const m2 = responder.writeMessage(utf8('world'));
    out.push(Uint8Array.of(i * 2, ...m1), Uint8Array.of(i * 2 + 1, ...m2));
  });
  for (const name of ['noise-XX.json', 'noise-IK.json']) {
    for (const c of hexStrings(name, ['ciphertext']).slice(0, 2)) out.push(Uint8Array.of(0, ...c));
  }
  return out;
}

export const noiseHandshake: FuzzTarget = {
  name: 'noise-handshake',
  description:
    'HandshakeState.readMessage as responder (message 1) and initiator (message 2), IK/XX ± psk; handshake payload framing',
  maxLength: 1200,
  seeds: handshakeSeeds,
  run(data) {
    refusing(() => decodeHandshakePayload(data), CryptoError);
    const selector = data[0] ?? 0;
    const variant = VARIANTS[(selector >> 1) & 3]!;
    const message = data.subarray(1);
    if ((selector & 1) === 0) {
      const responder = HandshakeState.responder({ ...options(variant), staticKeyPair: responderStatic });
      const payload = refusing(() => responder.readMessage(message), CryptoError);
      invariant((payload === undefined) === (responder.rejectedMessages === 1), 'rejected count');
      if (payload !== undefined) responder.writeMessage(new Uint8Array(0));
    } else {
      const initiator = HandshakeState.initiator({
        ...options(variant),
        staticKeyPair: initiatorStatic,
        remoteStaticKey: responderStatic.publicKey,
      });
      initiator.writeMessage(utf8('hello'));
      const before = canonical(initiator.handshakeHash);
      const payload = refusing(() => initiator.readMessage(message), CryptoError);
      // A refused message leaves the handshake exactly as it was (spec/crypto.md §Hostile input).
      if (payload === undefined)
        invariant(canonical(initiator.handshakeHash) === before, 'state changed by a refused message');
    }
  },
};

export const transportParameters: FuzzTarget = {
  name: 'transport-parameters',
  description: 'decodeTransportParameters (crypto codec) and the transport’s negotiated view; round trip',
  maxLength: 1100,
  seeds: () => [
    encodeTransportParameters({}),
    encodeTransportParameters({ ...DEFAULT_TRANSPORT_PARAMETERS, maxIdleTimeoutMs: 0 }),
  ],
  dictionary: Object.keys(DEFAULT_TRANSPORT_PARAMETERS).map((k) => Uint8Array.of(0xa0 | k.length, ...utf8(k))),
  run(data) {
    const params = refusing(() => decodeTransportParameters(data), CryptoError);
    const negotiated = refusing(() => decodeNegotiated(data), TransportError);
    invariant((params === undefined) === (negotiated === undefined), 'crypto and transport decoders disagree');
    if (params === undefined) return;
    invariant(
      canonical(decodeTransportParameters(encodeTransportParameters(params))) === canonical(params),
      'transport parameters round trip',
    );
  },
};
