/**
 * Stateful fuzzing of a connection: a hostile peer that completed a real handshake (it holds the
 * traffic keys) sends valid, authenticated packets full of adversarial frame sequences to a victim
 * endpoint, which also serves a legitimate connection from a third peer. Everything runs in the
 * deterministic simulator (src/sim), so a failing seed replays exactly.
 *
 * Invariants checked per scenario:
 *   - no exception escapes the victim endpoint (receive, pollTransmit, onTimeout, pollEvent);
 *   - the victim's heap grows by a bounded amount;
 *   - when the scenario breaks a rule with an RFC-mandated error, the victim closes the hostile
 *     connection with that transport error code (RFC 9000 §20.1);
 *   - the legitimate connection on the same endpoint still delivers a stream intact.
 */
import { generateKeyPair } from '../../src/crypto/keys.js';
import type { PacketProtection } from '../../src/crypto/packet-protection.js';
import { AEAD_TAG_LENGTH } from '../../src/crypto/packet-protection.js';
import type { Address, ConnectionHandle } from '../../src/transport/api.js';
import { TransportErrorCode } from '../../src/transport/errors.js';
import { TransportEndpoint } from '../../src/transport/endpoint.js';
import { encodeFrame, frameLength, writeShortHeader } from '../../src/wire/index.js';
import { FrameType, type Frame } from '../../src/wire/types.js';
import { SimNetwork } from '../../src/sim/index.js';
import { FuzzRandom } from '../engine/random.js';

const HOSTILE: Address = { host: '10.0.0.66', port: 6666 };
const VICTIM: Address = { host: '10.0.0.2', port: 2000 };
const LEGIT: Address = { host: '10.0.0.3', port: 3000 };
const MAX_VARINT = 2 ** 53 - 1;

export type ScenarioName =
  | 'huge-offset'
  | 'flow-control'
  | 'stream-limit'
  | 'ack-unsent'
  | 'final-size'
  | 'path-challenge-flood'
  | 'key-update-every-packet'
  | 'random-frames';

/** Transport error codes an RFC requires for the scenario (undefined: the connection may survive). */
export const EXPECTED_CODE: Readonly<Record<ScenarioName, readonly number[] | undefined>> = {
  'huge-offset': [TransportErrorCode.FLOW_CONTROL_ERROR, TransportErrorCode.FRAME_ENCODING_ERROR],
  'flow-control': [TransportErrorCode.FLOW_CONTROL_ERROR],
  'stream-limit': [TransportErrorCode.STREAM_LIMIT_ERROR],
  'ack-unsent': [TransportErrorCode.PROTOCOL_VIOLATION],
  'final-size': [TransportErrorCode.FINAL_SIZE_ERROR],
  'path-challenge-flood': undefined,
  'key-update-every-packet': undefined,
  'random-frames': undefined,
};

export const SCENARIOS = Object.keys(EXPECTED_CODE) as ScenarioName[];

export interface ScenarioResult {
  readonly scenario: ScenarioName;
  readonly seed: number;
  readonly packets: number;
  readonly frames: number;
  /** The victim's close code for the hostile connection, or null when it is still open. */
  readonly closeCode: number | null;
  readonly heapGrowthBytes: number;
  readonly legitDelivered: boolean;
  /** An exception that escaped the victim, as text (null: none). */
  readonly escaped: string | null;
}

interface Internals {
  protection: PacketProtection | null;
  /** The peer's connection ID our packets carry (connection.ts). */
  peerCid: Uint8Array;
}

/** Runs one scenario; never throws for the victim's behaviour (it reports it). */
export function runScenario(scenario: ScenarioName, seed: number, packets = 200): ScenarioResult {
  const random = new FuzzRandom(seed);
  const net = new SimNetwork({ seed, link: { delayMs: 2 } });
  const victimRandom = net.randomSource('victim');
  const victimKeys = generateKeyPair(victimRandom);
  const victim = net.addEndpoint(VICTIM, new TransportEndpoint({ staticKeyPair: victimKeys, random: victimRandom }));
  const hostileRandom = net.randomSource('hostile');
  const hostile = net.addEndpoint(
    HOSTILE,
    new TransportEndpoint({ staticKeyPair: generateKeyPair(hostileRandom), random: hostileRandom }),
  );
  const legitRandom = net.randomSource('legit');
  const legit = net.addEndpoint(
    LEGIT,
    new TransportEndpoint({ staticKeyPair: generateKeyPair(legitRandom), random: legitRandom }),
  );
  const hostileConn = hostile.connect(VICTIM, { remotePublicKey: victimKeys.publicKey }, net.now);
  const legitConn = legit.connect(VICTIM, { remotePublicKey: victimKeys.publicKey }, net.now);
  net.runUntil(() => hostileConn.state === 'established' && legitConn.state === 'established', { maxTimeMs: 5000 });
  net.runFor(50);
  const victimHostile = [...victim.connections.values()].find((c) => sameAddress(c.remoteAddress, HOSTILE));
  if (victimHostile === undefined) throw new Error('victim has no connection from the hostile peer');

  // From here on the hostile peer speaks only through send() below: its own connection stays silent
  // (it would reuse packet numbers we take over).
  hostile.pollTransmit = () => null;
  hostile.nextDeadline = () => Number.POSITIVE_INFINITY;
  hostile.onTimeout = () => undefined;
  const internals = hostileConn as unknown as Internals;
  const protection = internals.protection as PacketProtection;
  const dcid = internals.peerCid; // the victim's connection ID the hostile peer's packets carry
  const buffer = new Uint8Array(1500);
  let pn = 1_000_000;
  let frames = 0;
  let escaped: string | null = null;
  const guard = (f: () => void): void => {
    if (escaped !== null) return;
    try {
      f();
    } catch (e) {
      escaped = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
    }
  };

  const send = (list: Frame[]): void => {
    const pnLength = 4;
    const keyPhase = protection.sendKeyPhase;
    const header = writeShortHeader(buffer, 0, dcid, pn, pnLength, keyPhase);
    let o = header;
    for (const f of list) {
      if (o + frameLength(f) + AEAD_TAG_LENGTH > buffer.length) break;
      o = encodeFrame(f, buffer, o);
      frames++;
    }
    if (o === header) return;
    const length = protection.seal(buffer, header, o - header, pn);
    pn++;
    const datagram = buffer.slice(0, length);
    guard(() => victim.receive(datagram, HOSTILE, net.now));
  };

  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const generator = SCENARIO_FRAMES[scenario];
  for (let i = 0; i < packets && escaped === null; i++) {
    if (scenario === 'key-update-every-packet') protection.updateKeys();
    send(generator(random, i));
    // Let the victim react (ACKs, responses, close) without the hostile connection answering.
    if (i % 8 === 7) guard(() => net.runFor(5));
  }
  guard(() => net.runFor(200));
  gc?.();
  const heapGrowthBytes = process.memoryUsage().heapUsed - heapBefore;

  // The legitimate connection on the same endpoint must still work.
  let legitDelivered = false;
  guard(() => {
    const payload = new Uint8Array(30_000).map((_, k) => (k * 7) & 0xff);
    const sid = legitConn.openStream(true);
    legitConn.write(sid, payload);
    legitConn.finish(sid);
    const peer = [...victim.connections.values()].find((c) => sameAddress(c.remoteAddress, LEGIT)) as
      | ConnectionHandle
      | undefined;
    if (peer === undefined) return;
    const got: number[] = [];
    net.runUntil(
      () => {
        if (!net.events(VICTIM).some((e) => e.type === 'stream-opened' && e.connection === peer && e.streamId === sid))
          return false;
        for (let r = peer.read(sid); r.kind === 'data'; r = peer.read(sid)) got.push(...r.data);
        return got.length >= payload.length;
      },
      { maxTimeMs: 10_000 },
    );
    legitDelivered = got.length === payload.length && got.every((b, k) => b === payload[k]);
  });

  const reason = victimHostile.closeReason;
  return {
    scenario,
    seed,
    packets,
    frames,
    closeCode: reason === null ? null : reason.errorCode,
    heapGrowthBytes,
    legitDelivered,
    escaped,
  };
}

function sameAddress(a: Address, b: Address): boolean {
  return a.host === b.host && a.port === b.port;
}

type FrameGenerator = (random: FuzzRandom, packetIndex: number) => Frame[];

const bytes = (random: FuzzRandom, n: number): Uint8Array => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = random.next() & 0xff;
  return out;
};

/** Client-initiated bidirectional stream IDs (RFC 9000 §2.1): 0, 4, 8, ... */
const clientBidi = (n: number): number => n * 4;

const SCENARIO_FRAMES: Readonly<Record<ScenarioName, FrameGenerator>> = {
  'huge-offset': (r) => [
    {
      type: FrameType.Stream,
      streamId: clientBidi(r.below(4)),
      offset: 2 ** 52 + r.below(1000),
      data: bytes(r, 100),
      fin: false,
    },
  ],
  'flow-control': (_r, i) => [
    // 1 KiB per packet on one stream, far past any initial window after a few thousand packets;
    // the offsets run ahead so the limit is crossed within the scenario.
    { type: FrameType.Stream, streamId: 0, offset: i * 64 * 1024, data: new Uint8Array(1024), fin: false },
  ],
  'stream-limit': (r, i) => [
    {
      type: FrameType.Stream,
      streamId: clientBidi(1000 + i * 100 + r.below(50)),
      offset: 0,
      data: bytes(r, 10),
      fin: false,
    },
  ],
  'ack-unsent': (r) => [
    {
      type: FrameType.Ack,
      ranges: [{ smallest: 500_000, largest: 500_000 + r.below(1000) }],
      ackDelayMicros: r.below(1000),
      receiveTimestampMicros: 0,
    },
  ],
  'final-size': (r, i) =>
    i === 0
      ? [{ type: FrameType.Stream, streamId: 0, offset: 0, data: bytes(r, 100), fin: true }]
      : [{ type: FrameType.Stream, streamId: 0, offset: 100 + r.below(100), data: bytes(r, 50), fin: r.chance(2) }],
  'path-challenge-flood': (r) =>
    Array.from({ length: 100 }, () => ({ type: FrameType.PathChallenge, data: bytes(r, 8) }) as Frame),
  'key-update-every-packet': (r) => [{ type: FrameType.Ping }, { type: FrameType.Padding, length: 1 + r.below(100) }],
  'random-frames': (r) => Array.from({ length: 1 + r.below(6) }, () => randomFrame(r)),
};

const INTERESTING = [0, 1, 2, 3, 4, 63, 64, 1000, 16383, 16384, 2 ** 30, 2 ** 32, 2 ** 40, 2 ** 52, MAX_VARINT];

function value(r: FuzzRandom): number {
  return r.chance(2) ? r.pick(INTERESTING) : r.below(100_000);
}

function randomFrame(r: FuzzRandom): Frame {
  switch (r.below(16)) {
    case 0:
      return { type: FrameType.Ping };
    case 1: {
      const largest = r.below(2_000_000);
      return {
        type: FrameType.Ack,
        ranges: [{ smallest: Math.max(0, largest - r.below(100)), largest }],
        ackDelayMicros: value(r),
        receiveTimestampMicros: value(r),
      };
    }
    case 2:
      return {
        type: FrameType.ResetStream,
        streamId: value(r) % 2 ** 52,
        errorCode: value(r),
        finalSize: value(r) % 2 ** 52,
      };
    case 3:
      return { type: FrameType.StopSending, streamId: value(r) % 2 ** 52, errorCode: value(r) };
    case 4: {
      const data = bytes(r, r.below(200));
      const offset = r.chance(2) ? r.below(4096) : value(r) % (2 ** 52 - data.length);
      return { type: FrameType.Stream, streamId: value(r) % 2 ** 52, offset, data, fin: r.chance(4) };
    }
    case 5:
      return { type: FrameType.MaxData, maximum: value(r) };
    case 6:
      return { type: FrameType.MaxStreamData, streamId: value(r) % 2 ** 52, maximum: value(r) };
    case 7:
      return { type: r.chance(2) ? FrameType.MaxStreamsBidi : FrameType.MaxStreamsUni, maximum: value(r) % 2 ** 52 };
    case 8:
      return { type: FrameType.DataBlocked, limit: value(r) };
    case 9:
      return { type: FrameType.StreamDataBlocked, streamId: value(r) % 2 ** 52, limit: value(r) };
    case 10: {
      const sequence = value(r);
      return {
        type: FrameType.NewConnectionId,
        sequence,
        retirePriorTo: r.below(sequence + 1),
        connectionId: bytes(r, 8),
        resetToken: bytes(r, 16),
      };
    }
    case 11:
      return { type: FrameType.RetireConnectionId, sequence: value(r) };
    case 12:
      return { type: FrameType.PathChallenge, data: bytes(r, 8) };
    case 13:
      return { type: FrameType.PathResponse, data: bytes(r, 8) };
    case 14:
      return { type: FrameType.Datagram, data: bytes(r, r.below(1200)), explicitLength: true };
    default:
      return { type: FrameType.Padding, length: 1 + r.below(20) };
  }
}
