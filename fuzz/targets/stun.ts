/**
 * STUN: decodeStunMessage (RFC 8489 and classic RFC 3489 framing), every attribute codec, integrity
 * and fingerprint checks, re-encoding, and the sans-IO server answering the message (with and without
 * an alternate address). Invariant: a response is never larger than the request plus the allowance.
 */
import type { Address } from '../../src/transport/api.js';
import {
  AttributeType,
  decodeAddress,
  decodeChangeRequest,
  decodeErrorCode,
  decodeResponsePort,
  decodeText,
  decodeUint32,
  decodeUnknownAttributes,
  decodeXorAddress,
  encodeAddress,
  encodeXorAddress,
} from '../../src/traversal/stun/attributes.js';
import { StunError } from '../../src/traversal/stun/errors.js';
import { decodeStunMessage, encodeStunMessage, verifyIntegrity } from '../../src/traversal/stun/message.js';
import { AMPLIFICATION_ALLOWANCE, StunServerCore } from '../../src/traversal/stun/server-core.js';
import { canonical, hexStrings } from './vectors.js';
import { invariant, refusing, type FuzzTarget } from '../engine/target.js';

const FROM: Address = { host: '192.0.2.10', port: 40000 };
const FROM6: Address = { host: '2001:db8::10', port: 40000 };

function stunSeeds(): Uint8Array[] {
  const tid = new Uint8Array(12).fill(5);
  const change = (flags: number) => Uint8Array.of(0, 0, 0, flags);
  return [
    ...hexStrings('stun-rfc5769.json'),
    encodeStunMessage({ method: 1, cls: 0, transactionId: tid, attributes: [] }),
    encodeStunMessage({
      method: 1,
      cls: 0,
      transactionId: tid,
      attributes: [{ type: AttributeType.ChangeRequest, value: change(0) }],
    }),
    encodeStunMessage({
      method: 1,
      cls: 0,
      transactionId: tid,
      attributes: [{ type: AttributeType.ChangeRequest, value: change(6) }],
    }),
    encodeStunMessage(
      {
        method: 1,
        cls: 0,
        transactionId: tid,
        attributes: [{ type: AttributeType.Padding, value: new Uint8Array(64) }],
      },
      { fingerprint: true },
    ),
    encodeStunMessage({
      method: 1,
      cls: 0,
      transactionId: tid,
      attributes: [{ type: AttributeType.ResponsePort, value: Uint8Array.of(0x1f, 0x90, 0, 0) }],
    }),
  ];
}

const SEALS = new Set<number>([
  AttributeType.Fingerprint,
  AttributeType.MessageIntegrity,
  AttributeType.MessageIntegritySha256,
]);
const ATTRIBUTE_TYPES = Object.values(AttributeType);

const servers = [
  new StunServerCore({
    primary: { host: '192.0.2.1', port: 3478 },
    software: 'punchline fuzz',
    rateLimit: { burst: 1e15, ratePerSecond: 1e15 },
  }),
  new StunServerCore({
    primary: { host: '192.0.2.1', port: 3478 },
    alternate: { host: '192.0.2.2', port: 3479 },
    software: 'punchline fuzz',
    rateLimit: { burst: 1e15, ratePerSecond: 1e15 },
  }),
];

export const stunMessage: FuzzTarget = {
  name: 'stun-message',
  description: 'decodeStunMessage, every attribute decoder, integrity/fingerprint, re-encoding (RFC 8489/5780/3489)',
  maxLength: 1500,
  seeds: stunSeeds,
  dictionary: [
    Uint8Array.of(0x21, 0x12, 0xa4, 0x42),
    ...ATTRIBUTE_TYPES.map((t) => Uint8Array.of(t >> 8, t & 0xff)),
    Uint8Array.of(0, 1),
    Uint8Array.of(1, 1),
    Uint8Array.of(1, 0x11),
  ],
  run(data) {
    for (const allowClassic of [false, true]) {
      const message = refusing(() => decodeStunMessage(data, { allowClassic }), StunError);
      if (message === undefined) continue;
      for (const a of message.attributes) decodeAttribute(a.type, a.value, message.transactionId);
      refusing(() => verifyIntegrity(message, new Uint8Array(16)), StunError);
      if (!allowClassic) {
        // Integrity and fingerprint cover the bytes before them: re-encode only the other attributes.
        const plain = message.attributes.filter((a) => !SEALS.has(a.type));
        const again = decodeStunMessage(encodeStunMessage({ ...message, attributes: plain }));
        invariant(canonical(again.attributes) === canonical(plain), 'STUN attribute round trip');
      }
    }
  },
};

function decodeAttribute(type: number, value: Uint8Array, transactionId: Uint8Array): void {
  refusing(() => {
    switch (type) {
      case AttributeType.MappedAddress:
      case AttributeType.SourceAddress:
      case AttributeType.ChangedAddress:
      case AttributeType.ResponseOrigin:
      case AttributeType.OtherAddress:
      case AttributeType.AlternateServer: {
        const a = decodeAddress(value);
        invariant(canonical(decodeAddress(encodeAddress(a))) === canonical(a), 'address round trip');
        return;
      }
      case AttributeType.XorMappedAddress: {
        if (transactionId.length !== 12) return;
        const a = decodeXorAddress(value, transactionId);
        invariant(
          canonical(decodeXorAddress(encodeXorAddress(a, transactionId), transactionId)) === canonical(a),
          'xor address round trip',
        );
        return;
      }
      case AttributeType.Username:
      case AttributeType.Realm:
      case AttributeType.Nonce:
      case AttributeType.Software:
        decodeText(value, 763, 'text');
        return;
      case AttributeType.ErrorCode:
        decodeErrorCode(value);
        return;
      case AttributeType.UnknownAttributes:
        decodeUnknownAttributes(value);
        return;
      case AttributeType.ChangeRequest:
        decodeChangeRequest(value);
        return;
      case AttributeType.ResponsePort:
        decodeResponsePort(value);
        return;
      case AttributeType.Fingerprint:
        decodeUint32(value, 'FINGERPRINT');
        return;
    }
  }, StunError);
}

export const stunServer: FuzzTarget = {
  name: 'stun-server',
  description: 'StunServerCore.receive on one- and four-socket servers, IPv4 and IPv6 sources',
  maxLength: 1500,
  seeds: stunSeeds,
  dictionary: stunMessage.dictionary ?? [],
  run(data) {
    for (const server of servers) {
      for (const from of [FROM, FROM6]) {
        const out = server.receive(data, from, 0, 0);
        if (out === null) continue;
        invariant(out.data.length <= data.length + AMPLIFICATION_ALLOWANCE, 'STUN response amplifies');
        invariant(out.destination.host === from.host, 'STUN response to another host');
        decodeStunMessage(out.data, { allowClassic: true });
      }
    }
  },
};
