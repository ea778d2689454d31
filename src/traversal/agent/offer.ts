/**
 * The traversal offer: what each side puts in the opaque `payload` of rendezvous `connect` and
 * `answer` (spec/traversal.md §Exchange). One msgpack map, strictly checked before decoding (as
 * rendezvous messages are):
 *
 *   v   1
 *   s   bin 8    punch session ID (chosen by the initiator at random, echoed by the answer)
 *   m   str      our NAT's mapping behaviour: 'eim' | 'edm' | 'unknown'
 *   u   bool     our UDP reaches the server (false: UDP is blocked, only a stream relay works)
 *   b   uint     extra sockets we consent to open for a birthday search (0..256)
 */
import { Packr } from 'msgpackr';
import { PUNCH_SESSION_ID_LENGTH } from '../../wire/probe.js';
import { checkPlainMsgpack } from '../rendezvous/strict-msgpack.js';
import { TraversalError, TraversalErrorCode } from './errors.js';
import type { MappingKind } from './nat-behaviour.js';

export const OFFER_VERSION = 1;
export const MAX_BIRTHDAY_SOCKETS = 256;

export interface TraversalOffer {
  readonly sessionId: Uint8Array;
  readonly mapping: MappingKind;
  readonly udp: boolean;
  readonly birthdaySockets: number;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true, int64AsType: 'number' });
const MAPPINGS: ReadonlySet<string> = new Set(['eim', 'edm', 'unknown']);

export function encodeOffer(offer: TraversalOffer): Uint8Array {
  return packr.pack({ v: OFFER_VERSION, s: offer.sessionId, m: offer.mapping, u: offer.udp, b: offer.birthdaySockets });
}

function bad(why: string): TraversalError {
  return new TraversalError(TraversalErrorCode.BadOffer, `bad traversal offer: ${why}`);
}

/** Decodes and validates a peer's offer; throws TraversalError BAD_OFFER. */
export function decodeOffer(bytes: Uint8Array | undefined): TraversalOffer {
  if (!bytes) throw bad('missing');
  const why = checkPlainMsgpack(bytes, { maxDepth: 2, maxElements: 16 });
  if (why) throw bad(why);
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch {
    throw bad('undecodable');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('not a map');
  const o = value as Record<string, unknown>;
  if (o.v !== OFFER_VERSION) throw bad(`unsupported version ${String(o.v)}`);
  if (!(o.s instanceof Uint8Array) || o.s.length !== PUNCH_SESSION_ID_LENGTH) throw bad('session ID');
  if (typeof o.m !== 'string' || !MAPPINGS.has(o.m)) throw bad('mapping');
  if (typeof o.u !== 'boolean') throw bad('udp flag');
  if (typeof o.b !== 'number' || !Number.isInteger(o.b) || o.b < 0 || o.b > MAX_BIRTHDAY_SOCKETS)
    throw bad('birthday sockets');
  return { sessionId: Uint8Array.from(o.s), mapping: o.m as MappingKind, udp: o.u, birthdaySockets: o.b };
}
