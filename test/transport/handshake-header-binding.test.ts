/**
 * Handshake packet headers are authenticated (spec/crypto.md §3.3): a connection ID, type or version
 * altered on the way makes that handshake message fail (it is dropped) instead of being adopted, and
 * retransmission completes the handshake. Before the binding, a corrupted SCID in the server's
 * message 2 was adopted by the client, which then sent every packet to a connection ID the server did
 * not know and stalled (the transport property test found it with simulator seed 1639053256).
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import type { Address } from '../../src/transport/api.js';
import { TransportEndpoint } from '../../src/transport/endpoint.js';
import { readLongHeader } from '../../src/wire/headers.js';
import { LongPacketType } from '../../src/wire/types.js';
import { SimNetwork } from '../sim/index.js';
import { drain } from './helpers.js';

const A: Address = { host: '10.0.0.1', port: 1000 };
const B: Address = { host: '10.0.0.2', port: 2000 };

type Field = 'scid' | 'dcid' | 'version';

/** Flips one bit of `field` in the first long-header packet of `type` that reaches `at`. */
function tamperOnce(type: LongPacketType, field: Field) {
  let done = false;
  return {
    get done() {
      return done;
    },
    intercept(datagram: Uint8Array): boolean {
      if (done || (datagram[0]! & 0x80) === 0) return false;
      let header: ReturnType<typeof readLongHeader>;
      try {
        header = readLongHeader(datagram, datagram.length);
      } catch {
        return false;
      }
      if (header.packetType !== type) return false;
      const offset =
        field === 'scid'
          ? header.sourceConnectionId.byteOffset - datagram.byteOffset
          : field === 'dcid'
            ? header.destinationConnectionId.byteOffset - datagram.byteOffset
            : 1;
      datagram[offset]! ^= 0x04;
      done = true;
      return false;
    },
  };
}

function connectThrough(
  pattern: 'IK' | 'XX',
  tamperAt: Address,
  type: LongPacketType,
  field: Field,
  seed = 1639053256,
) {
  const net = new SimNetwork({ seed, link: { delayMs: 10 } });
  const clientRandom = net.randomSource('A');
  const serverRandom = net.randomSource('B');
  const serverKeys = generateKeyPair(serverRandom);
  const tamper = tamperOnce(type, field);
  const hook = { intercept: (d: Uint8Array) => tamper.intercept(d) };
  const client = net.addEndpoint(
    A,
    new TransportEndpoint({ staticKeyPair: generateKeyPair(clientRandom), random: clientRandom }),
    tamperAt === A ? hook : {},
  );
  const server = net.addEndpoint(
    B,
    new TransportEndpoint({ staticKeyPair: serverKeys, random: serverRandom }),
    tamperAt === B ? hook : {},
  );
  const conn = client.connect(B, pattern === 'IK' ? { remotePublicKey: serverKeys.publicKey } : {}, net.now);
  net.runUntil(() => conn.state === 'established', { maxTimeMs: 8_000 });
  const id = conn.openStream(true);
  conn.write(id, new Uint8Array([1, 2, 3]));
  conn.finish(id);
  const got: number[] = [];
  net.runUntil(
    () => {
      const s = [...server.connections.values()].find((c) => c.state === 'established' && c.handshakeConfirmed);
      if (s === undefined) return false;
      try {
        return drain(s, id, got).fin;
      } catch {
        return false; // the stream is not there yet
      }
    },
    { maxTimeMs: 8_000 },
  );
  expect(tamper.done).toBe(true);
  expect(got).toEqual([1, 2, 3]);
  expect(conn.remotePublicKey).toEqual(serverKeys.publicKey);
}

describe('handshake header binding', () => {
  for (const pattern of ['IK', 'XX'] as const) {
    for (const field of ['scid', 'version'] as const) {
      it(`${pattern}: a ${field} altered in the server's message 2 is dropped; the handshake completes`, () => {
        connectThrough(pattern, A, LongPacketType.Handshake, field);
      });
    }
    for (const field of ['scid', 'dcid', 'version'] as const) {
      it(`${pattern}: a ${field} altered in the client's Initial does not capture the handshake`, () => {
        connectThrough(pattern, B, LongPacketType.Initial, field);
      });
    }
  }

  it("XX: a SCID altered in the client's message 3 is dropped; the handshake completes", () => {
    connectThrough('XX', B, LongPacketType.Handshake, 'scid');
  });

  it('a message bound to one header does not read under another (the Noise hash differs)', async () => {
    const { HandshakeState } = await import('../../src/crypto/noise/handshake-state.js');
    const { makePrologue } = await import('../../src/crypto/prologue.js');
    const { headerBinding } = await import('../../src/crypto/handshake-payload.js');
    const random = (b: Uint8Array): void => {
      for (let i = 0; i < b.length; i++) b[i] = (i * 37 + b.length) & 0xff;
    };
    const serverKeys = generateKeyPair(random);
    const cid = (v: number) => new Uint8Array(8).fill(v);
    const bound = headerBinding(LongPacketType.Initial, 0x504e4c01, cid(1), cid(2));
    for (const [other, ok] of [
      [headerBinding(LongPacketType.Initial, 0x504e4c01, cid(1), cid(2)), true],
      [headerBinding(LongPacketType.Initial, 0x504e4c01, cid(1), cid(3)), false],
      [headerBinding(LongPacketType.Handshake, 0x504e4c01, cid(1), cid(2)), false],
      [headerBinding(LongPacketType.Initial, 0x504e4c02, cid(1), cid(2)), false],
    ] as const) {
      const i = HandshakeState.initiator({
        pattern: 'IK',
        staticKeyPair: generateKeyPair(random),
        remoteStaticKey: serverKeys.publicKey,
        prologue: makePrologue(),
        random,
      });
      const r = HandshakeState.responder({
        pattern: 'IK',
        staticKeyPair: serverKeys,
        prologue: makePrologue(),
        random,
      });
      const message = i.writeMessage(new Uint8Array([9]), bound);
      if (ok) expect(r.readMessage(message, other)).toEqual(new Uint8Array([9]));
      else expect(() => r.readMessage(message, other)).toThrow();
    }
  });
});
