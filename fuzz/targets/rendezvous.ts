/**
 * Rendezvous signaling: the strict MessagePack check, the client- and server-message schemas, the
 * encode/decode round trip of everything accepted, and the 2-byte length framing of the streams.
 */
import {
  decodeClientMessage,
  decodeServerMessage,
  encodeMessage,
  type ClientMessage,
  type ServerMessage,
} from '../../src/traversal/rendezvous/messages.js';
import { FrameDecoder } from '../../src/traversal/rendezvous/framing.js';
import { RendezvousError } from '../../src/traversal/rendezvous/errors.js';
import { canonical } from './vectors.js';
import { invariant, refusing, utf8, type FuzzTarget } from '../engine/target.js';

const key = (b: number) => new Uint8Array(32).fill(b);
const cands = [
  { type: 'host' as const, host: '192.0.2.1', port: 1000, priority: 5 },
  { type: 'srflx' as const, host: '2001:db8::1', port: 65535 },
];

const clientMessages: ClientMessage[] = [
  { t: 'register', publicKey: key(1), clientNonce: key(2), proof: key(3) },
  { t: 'lookup', id: 1, peer: key(4) },
  { t: 'connect', id: 2, peer: key(4), candidates: cands, payload: Uint8Array.of(1, 2) },
  { t: 'answer', rid: 3, accept: false, candidates: [], reason: 'busy' },
  { t: 'signal', peer: key(4), kind: 'x-test', data: Uint8Array.of(9) },
  { t: 'punch', id: 4, peer: key(4), rttMs: 35.5 },
  { t: 'relay-allocate', id: 5, peer: key(4) },
  { t: 'relay-release', channel: new Uint8Array(8).fill(1) },
  { t: 'ping', id: 6 },
];
const serverMessages: ServerMessage[] = [
  { t: 'challenge', version: 1, serverKey: key(5), nonce: key(6) },
  { t: 'registered', serverProof: key(7), presenceId: new Uint8Array(8), presenceKey: key(8), idleTimeoutMs: 30000 },
  { t: 'lookup-result', id: 1, peer: key(4), online: true, udp: { host: '192.0.2.9', port: 9 } },
  { t: 'connect-request', seq: 1, rid: 2, from: key(1), candidates: cands },
  { t: 'connect-answer', seq: 2, id: 2, from: key(4), accept: true, candidates: cands, payload: Uint8Array.of(3) },
  { t: 'signal-event', seq: 3, from: key(4), kind: 'k', data: Uint8Array.of(1) },
  { t: 'punch-go', seq: 4, id: 4, peer: key(4), delayMs: 20 },
  {
    t: 'relay-allocated',
    seq: 5,
    id: 5,
    peer: key(4),
    channel: new Uint8Array(8).fill(2),
    bindKey: key(9),
    expiresInMs: 60000,
  },
  { t: 'relay-closed', seq: 6, channel: new Uint8Array(8).fill(2), reason: 'idle' },
  { t: 'pong', id: 6 },
  { t: 'error', id: 0, code: 'ERR_PUNCHLINE_RENDEZVOUS_QUOTA', message: 'quota' },
];

const words = [
  't',
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
  'id',
  'rid',
  'seq',
  'peer',
  'from',
  'candidates',
  'payload',
  'publicKey',
  'clientNonce',
  'proof',
  'accept',
  'reason',
  'kind',
  'data',
  'rttMs',
  'channel',
  'host',
  'port',
  'type',
  'priority',
  'srflx',
  'relay',
  'mapped',
  'udp',
  'online',
  'bindKey',
  'expiresInMs',
  'delayMs',
];

/** MessagePack fixstr tokens for the field names and type tags, and a few container/ext headers. */
const dictionary = [
  ...words.map((w) => Uint8Array.of(0xa0 | w.length, ...utf8(w))),
  Uint8Array.of(0xc4, 0x20),
  Uint8Array.of(0xc4, 0x08),
  Uint8Array.of(0xde, 0xff, 0xff),
  Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff),
  Uint8Array.of(0xc7, 0x01, 0xff),
  Uint8Array.of(0xd4, 0xff),
  Uint8Array.of(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
  Uint8Array.of(0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0),
  Uint8Array.of(0xc1),
];

export const rendezvousMessage: FuzzTarget = {
  name: 'rendezvous-message',
  description: 'strict msgpack check, client/server message schemas, encode/decode round trip (spec/rendezvous.md)',
  maxLength: 5000,
  seeds: () => [...clientMessages, ...serverMessages].map((m) => encodeMessage(m)),
  dictionary,
  run(data) {
    const c = refusing(() => decodeClientMessage(data), RendezvousError);
    if (c !== undefined) {
      invariant(canonical(decodeClientMessage(encodeMessage(c))) === canonical(c), `client ${c.t} round trip`);
    }
    const s = refusing(() => decodeServerMessage(data), RendezvousError);
    if (s !== undefined) {
      invariant(canonical(decodeServerMessage(encodeMessage(s))) === canonical(s), `server ${s.t} round trip`);
    }
  },
};

export const rendezvousFraming: FuzzTarget = {
  name: 'rendezvous-framing',
  description: 'FrameDecoder.push over arbitrary chunkings: memory stays ≤ limit + chunk (spec/rendezvous.md)',
  maxLength: 8192,
  seeds: () => [Uint8Array.of(0, 3, 1, 2, 3, 0, 0, 0, 1), Uint8Array.of(0x10, 0, ...new Uint8Array(64))],
  run(data) {
    const limit = 1 + (data[0] ?? 0) * 16;
    const decoder = new FrameDecoder(limit);
    let p = 1;
    let total = 0;
    while (p < data.length) {
      const n = 1 + ((data[p] ?? 0) % 97);
      const chunk = data.subarray(p + 1, p + 1 + n);
      p += 1 + n;
      const frames = refusing(() => decoder.push(chunk), RendezvousError);
      if (frames === undefined) return;
      for (const f of frames) {
        invariant(f.length <= limit, 'frame above the limit');
        total += f.length;
      }
      invariant(decoder.pending <= limit + 2 + chunk.length, 'framing buffered more than a frame and a chunk');
    }
    invariant(total <= data.length, 'framing produced more bytes than it got');
  },
};
