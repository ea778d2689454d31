/** Message schema, strict msgpack pre-check, framing and UDP control codecs, incl. properties on hostile bytes. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  decodeClientMessage,
  decodeServerMessage,
  encodeMessage,
  MAX_MESSAGE_BYTES,
  type ClientMessage,
} from '../../src/traversal/rendezvous/messages.js';
import { RendezvousError, RendezvousErrorCode } from '../../src/traversal/rendezvous/errors.js';
import { checkPlainMsgpack } from '../../src/traversal/rendezvous/strict-msgpack.js';
import { FrameDecoder, encodeFrame } from '../../src/traversal/rendezvous/framing.js';
import {
  COOKIE_LENGTH,
  RelayControlType,
  encodeBind,
  encodeBound,
  encodeChallenge,
  encodeNotify,
  parseControl,
  parseRelayDatagram,
  verifyBind,
  verifyBound,
  verifyNotify,
} from '../../src/traversal/relay/udp-control.js';

const key32 = new Uint8Array(32).fill(5);

describe('rendezvous messages', () => {
  it('round-trips every client message type', () => {
    const messages: ClientMessage[] = [
      { t: 'register', publicKey: key32, clientNonce: key32, proof: key32 },
      { t: 'lookup', id: 1, peer: key32 },
      {
        t: 'connect',
        id: 2,
        peer: key32,
        candidates: [{ type: 'mapped', host: '::1', port: 9, priority: 7 }],
        payload: new Uint8Array([1]),
      },
      { t: 'answer', rid: 3, accept: false, candidates: [], reason: 'busy' },
      { t: 'signal', peer: key32, kind: 'k', data: new Uint8Array(512) },
      { t: 'punch', id: 4, peer: key32, rttMs: 33 },
      { t: 'relay-allocate', id: 5, peer: key32 },
      { t: 'relay-release', channel: new Uint8Array(8).fill(1) },
      { t: 'ping', id: 6 },
    ];
    for (const m of messages) {
      const decoded = decodeClientMessage(encodeMessage(m));
      expect(decoded).toEqual(m);
    }
  });

  it('rejects wrong types, sizes and unknown types with MALFORMED; too large with OVERSIZE', () => {
    const packr = new Packr({ useRecords: false });
    const cases: unknown[] = [
      { t: 'lookup', id: -1, peer: key32 },
      { t: 'lookup', id: 1.5, peer: key32 },
      { t: 'lookup', id: 1, peer: 'x'.repeat(32) },
      { t: 'signal', peer: key32, kind: 'k'.repeat(33), data: new Uint8Array(1) },
      { t: 'signal', peer: key32, kind: 'k', data: new Uint8Array(513) },
      { t: 'connect', id: 1, peer: key32, candidates: [{ type: 'prflx', host: '1.2.3.4', port: 1 }] },
      { t: 'connect', id: 1, peer: key32, candidates: [{ type: 'host', host: '1.2.3.4', port: 0 }] },
      { t: 'challenge', version: 1, serverKey: key32, nonce: key32 }, // a server message sent by a client
      { t: 'toString' },
      'just a string',
      null,
    ];
    for (const c of cases) {
      expect(() => decodeClientMessage(packr.pack(c))).toThrow(
        expect.objectContaining({ code: RendezvousErrorCode.Malformed }),
      );
    }
    expect(() => decodeClientMessage(new Uint8Array(MAX_MESSAGE_BYTES + 1))).toThrow(
      expect.objectContaining({ code: RendezvousErrorCode.Oversize }),
    );
    expect(() =>
      encodeMessage({ t: 'connect', id: 1, peer: key32, candidates: [], payload: new Uint8Array(5000) }),
    ).toThrow(RendezvousError);
  });

  it('never throws anything but RendezvousError on arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        for (const decode of [decodeClientMessage, decodeServerMessage]) {
          try {
            decode(bytes);
          } catch (error) {
            if (!(error instanceof RendezvousError)) throw error;
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('validates well-formed maps with arbitrary fields without throwing anything else (property)', () => {
    const packr = new Packr({ useRecords: false });
    const types = [
      'register',
      'lookup',
      'connect',
      'answer',
      'signal',
      'punch',
      'relay-allocate',
      'relay-release',
      'ping',
      'challenge',
      'registered',
      'lookup-result',
      'connect-request',
      'connect-answer',
      'signal-event',
      'punch-go',
      'relay-allocated',
      'relay-closed',
      'pong',
      'error',
    ];
    const fields = [
      'id',
      'rid',
      'peer',
      'publicKey',
      'clientNonce',
      'proof',
      'candidates',
      'payload',
      'accept',
      'reason',
      'kind',
      'data',
      'rttMs',
      'channel',
      'version',
      'serverKey',
      'nonce',
      'serverProof',
      'presenceId',
      'presenceKey',
      'idleTimeoutMs',
      'online',
      'udp',
      'seq',
      'from',
      'delayMs',
      'bindKey',
      'expiresInMs',
      'code',
      'message',
    ];
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.integer(),
        fc.double(),
        fc.string(),
        fc.boolean(),
        fc.constant(null),
        fc.uint8Array({ maxLength: 40 }),
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(fc.constantFrom('host', 'port', 'type', 'priority', 'x'), tie('v'), { maxKeys: 4 }),
      ),
    })).v;
    fc.assert(
      fc.property(
        fc.constantFrom(...types),
        fc.dictionary(fc.constantFrom(...fields), value, { maxKeys: 8 }),
        (t, rest) => {
          const bytes = packr.pack({ t, ...rest });
          for (const decode of [decodeClientMessage, decodeServerMessage]) {
            try {
              decode(bytes);
            } catch (error) {
              if (!(error instanceof RendezvousError)) throw error;
            }
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('strict msgpack check accepts plain values and refuses extensions, depth and lying lengths', () => {
    const packr = new Packr({ useRecords: false });
    const limits = { maxDepth: 4, maxElements: 256 };
    expect(
      checkPlainMsgpack(packr.pack({ a: [1, 'x', new Uint8Array(3), null, true, 1.5, -7, 2 ** 40] }), limits),
    ).toBeNull();
    expect(checkPlainMsgpack(packr.pack(new Date()), limits)).toMatch(/not allowed/);
    expect(checkPlainMsgpack(packr.pack([[[[[1]]]]]), limits)).toBe('too deep');
    expect(checkPlainMsgpack(packr.pack(Array.from({ length: 300 }, () => 0)), limits)).toBe('too many elements');
    expect(checkPlainMsgpack(new Uint8Array([0xdf, 0x7f, 0xff, 0xff, 0xff]), limits)).not.toBeNull();
    expect(checkPlainMsgpack(new Uint8Array([0x01, 0x02]), limits)).toBe('trailing bytes');
  });
});

describe('stream framing', () => {
  it('reassembles frames from any chunking (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 10 }),
        (frames, cuts) => {
          const wire = Buffer.concat(frames.map((f) => encodeFrame(f)));
          const decoder = new FrameDecoder(300);
          const out: Uint8Array[] = [];
          let pos = 0;
          let i = 0;
          while (pos < wire.length) {
            const n = cuts[i++ % cuts.length]!;
            out.push(...decoder.push(wire.subarray(pos, pos + n)));
            pos += n;
          }
          expect(out.map((f) => Buffer.from(f))).toEqual(frames.map((f) => Buffer.from(f)));
          expect(decoder.pending).toBe(0);
        },
      ),
    );
  });

  it('refuses a frame longer than the limit before buffering it', () => {
    const decoder = new FrameDecoder(100);
    expect(() => decoder.push(new Uint8Array([0x00, 101]))).toThrow(
      expect.objectContaining({ code: RendezvousErrorCode.Oversize }),
    );
  });
});

describe('relay control datagrams', () => {
  const leg = new Uint8Array(8).fill(9);
  it('BIND/CHALLENGE/BOUND/NOTIFY round-trip and authenticate', () => {
    const cookie = new Uint8Array(COOKIE_LENGTH).fill(3);
    const bind = parseControl(parseRelayDatagram(encodeBind(leg, key32, 77, cookie))!.inner)!;
    expect(bind).toMatchObject({ type: RelayControlType.Bind, counter: 77 });
    expect(bind.type === RelayControlType.Bind && verifyBind(bind, key32)).toBe(true);
    expect(bind.type === RelayControlType.Bind && verifyBind(bind, new Uint8Array(32))).toBe(false);
    const challenge = encodeChallenge(leg, cookie);
    expect(challenge.length).toBeLessThan(encodeBind(leg, key32, 1).length); // never amplifies
    for (const observed of [
      { host: '203.0.113.9', port: 4242 },
      { host: '2001:db8::7', port: 1 },
    ]) {
      const bound = parseControl(parseRelayDatagram(encodeBound(leg, key32, 5, observed))!.inner)!;
      expect(bound).toMatchObject({ type: RelayControlType.Bound, counter: 5, observed });
      expect(bound.type === RelayControlType.Bound && verifyBound(bound, key32)).toBe(true);
    }
    const notify = parseControl(parseRelayDatagram(encodeNotify(leg, key32, new Uint8Array([1, 2])))!.inner)!;
    expect(notify.type === RelayControlType.Notify && verifyNotify(notify, key32)).toBe(true);
  });

  it('parses arbitrary bytes without throwing (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        const d = parseRelayDatagram(bytes);
        if (d) parseControl(d.inner);
        parseControl(bytes);
      }),
      { numRuns: 3000 },
    );
  });
});
