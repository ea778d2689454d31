/**
 * Rendezvous message schema (spec/rendezvous.md §Messages): one msgpack map per message with a
 * string field `t` naming its type. Encoding is msgpackr; decoding first runs a strict structural
 * check (strict-msgpack.ts), then msgpackr, then a per-type validator from one table. Every field
 * has a type and a size bound, so a decoded message is safe to act on.
 */
import { isIP } from 'node:net';
import { Packr } from 'msgpackr';
import { RendezvousError, RendezvousErrorCode } from './errors.js';
import { checkPlainMsgpack } from './strict-msgpack.js';
import type { Address } from '../../wire/address.js';

export type { Address } from '../../wire/address.js';

export const RENDEZVOUS_PROTOCOL_VERSION = 1;
/** Largest encoded message either side accepts (spec/rendezvous.md §Limits). */
export const MAX_MESSAGE_BYTES = 4096;
export const MAX_CANDIDATES = 16;
/** Opaque application payload of a connect request / answer. */
export const MAX_PAYLOAD_BYTES = 1024;
/** Opaque data of a peer-to-peer signal (punch coordination). */
export const MAX_SIGNAL_BYTES = 512;
export const MAX_SIGNAL_KIND_LENGTH = 32;
export const MAX_REASON_LENGTH = 256;
export const PUBLIC_KEY_LENGTH = 32;
export const NONCE_LENGTH = 32;
export const PROOF_LENGTH = 32;
/** Relay channel identifiers and UDP presence identifiers (spec/relay.md). */
export const CHANNEL_ID_LENGTH = 8;
export const LEG_KEY_LENGTH = 32;
/** Opaque bytes one mailbox message carries (spec/transfer.md §Mailbox). */
export const MAX_MAILBOX_DATA = 1024;

export type CandidateType = 'host' | 'srflx' | 'mapped' | 'relay';
const CANDIDATE_TYPES: ReadonlySet<string> = new Set(['host', 'srflx', 'mapped', 'relay']);

/** A transport address a peer may be reached at (cf. RFC 8445 §5.1.1 candidate types). */
export interface Candidate {
  readonly type: CandidateType;
  /** Literal IPv4 or IPv6 address. */
  readonly host: string;
  readonly port: number;
  /** Optional preference (higher first), 0..2^31-1. */
  readonly priority?: number;
}

// ---- client → server ---------------------------------------------------------------------------

export interface RegisterMessage {
  readonly t: 'register';
  readonly publicKey: Uint8Array;
  readonly clientNonce: Uint8Array;
  readonly proof: Uint8Array;
}
export interface LookupMessage {
  readonly t: 'lookup';
  readonly id: number;
  readonly peer: Uint8Array;
}
export interface ConnectMessage {
  readonly t: 'connect';
  readonly id: number;
  readonly peer: Uint8Array;
  readonly candidates: readonly Candidate[];
  readonly payload?: Uint8Array;
}
export interface AnswerMessage {
  readonly t: 'answer';
  /** The `rid` of the connect-request being answered. */
  readonly rid: number;
  readonly accept: boolean;
  readonly candidates: readonly Candidate[];
  readonly payload?: Uint8Array;
  readonly reason?: string;
}
export interface SignalMessage {
  readonly t: 'signal';
  readonly peer: Uint8Array;
  readonly kind: string;
  readonly data: Uint8Array;
}
export interface PunchMessage {
  readonly t: 'punch';
  readonly id: number;
  readonly peer: Uint8Array;
  /** Sender's current round-trip estimate to the server, ms (used to time the go signal). */
  readonly rttMs: number;
}
export interface RelayAllocateMessage {
  readonly t: 'relay-allocate';
  readonly id: number;
  readonly peer: Uint8Array;
}
export interface RelayReleaseMessage {
  readonly t: 'relay-release';
  readonly channel: Uint8Array;
}
export interface PingMessage {
  readonly t: 'ping';
  readonly id: number;
}

/** Open a mailbox: `nameplate` 0 allocates a new one, else claims it (spec/transfer.md §Mailbox). */
export interface MailboxOpenMessage {
  readonly t: 'mailbox-open';
  readonly id: number;
  readonly nameplate: number;
}
export interface MailboxPutMessage {
  readonly t: 'mailbox-put';
  readonly nameplate: number;
  readonly data: Uint8Array;
}
export interface MailboxCloseMessage {
  readonly t: 'mailbox-close';
  readonly nameplate: number;
}

export type ClientMessage =
  | MailboxOpenMessage
  | MailboxPutMessage
  | MailboxCloseMessage
  | RegisterMessage
  | LookupMessage
  | ConnectMessage
  | AnswerMessage
  | SignalMessage
  | PunchMessage
  | RelayAllocateMessage
  | RelayReleaseMessage
  | PingMessage;

// ---- server → client ---------------------------------------------------------------------------

export interface ChallengeMessage {
  readonly t: 'challenge';
  readonly version: number;
  readonly serverKey: Uint8Array;
  readonly nonce: Uint8Array;
}
export interface RegisteredMessage {
  readonly t: 'registered';
  readonly serverProof: Uint8Array;
  /** UDP presence leg: identifier and key for keepalives on the shared socket (spec/relay.md §Presence). */
  readonly presenceId: Uint8Array;
  readonly presenceKey: Uint8Array;
  /** Session expiry without traffic, ms. */
  readonly idleTimeoutMs: number;
}
export interface LookupResultMessage {
  readonly t: 'lookup-result';
  readonly id: number;
  readonly peer: Uint8Array;
  readonly online: boolean;
  /** The peer's validated server-reflexive UDP address, when it keeps a UDP presence. */
  readonly udp?: Address;
}
export interface ConnectRequestMessage {
  readonly t: 'connect-request';
  readonly seq: number;
  readonly rid: number;
  readonly from: Uint8Array;
  readonly candidates: readonly Candidate[];
  readonly payload?: Uint8Array;
}
export interface ConnectAnswerMessage {
  readonly t: 'connect-answer';
  readonly seq: number;
  readonly id: number;
  readonly from: Uint8Array;
  readonly accept: boolean;
  readonly candidates: readonly Candidate[];
  readonly payload?: Uint8Array;
  readonly reason?: string;
}
export interface SignalEventMessage {
  readonly t: 'signal-event';
  readonly seq: number;
  readonly from: Uint8Array;
  readonly kind: string;
  readonly data: Uint8Array;
}
export interface PunchGoMessage {
  readonly t: 'punch-go';
  readonly seq: number;
  /** The `id` of the initiator's punch request, or 0 on the responder's side. */
  readonly id: number;
  readonly peer: Uint8Array;
  /** Start punching after this many ms from receipt; both peers start at about the same instant. */
  readonly delayMs: number;
}
export interface RelayAllocatedMessage {
  readonly t: 'relay-allocated';
  readonly seq: number;
  /** The `id` of the relay-allocate request, or 0 on the other peer's side. */
  readonly id: number;
  readonly peer: Uint8Array;
  /** This side's leg: its channel ID and bind key (spec/relay.md §Allocation). */
  readonly channel: Uint8Array;
  readonly bindKey: Uint8Array;
  readonly expiresInMs: number;
}
export interface RelayClosedMessage {
  readonly t: 'relay-closed';
  readonly seq: number;
  readonly channel: Uint8Array;
  readonly reason: string;
}
export interface PongMessage {
  readonly t: 'pong';
  readonly id: number;
}
export interface ErrorMessage {
  readonly t: 'error';
  /** The request's `id` when the error answers one; 0 otherwise. */
  readonly id: number;
  readonly code: string;
  readonly message: string;
}

export interface MailboxOpenedMessage {
  readonly t: 'mailbox-opened';
  readonly id: number;
  readonly nameplate: number;
  readonly expiresInMs: number;
}
export interface MailboxMessageMessage {
  readonly t: 'mailbox-message';
  readonly seq: number;
  readonly nameplate: number;
  readonly data: Uint8Array;
}
export interface MailboxClosedMessage {
  readonly t: 'mailbox-closed';
  readonly seq: number;
  readonly nameplate: number;
  readonly reason: string;
}

export type ServerMessage =
  | MailboxOpenedMessage
  | MailboxMessageMessage
  | MailboxClosedMessage
  | ChallengeMessage
  | RegisteredMessage
  | LookupResultMessage
  | ConnectRequestMessage
  | ConnectAnswerMessage
  | SignalEventMessage
  | PunchGoMessage
  | RelayAllocatedMessage
  | RelayClosedMessage
  | PongMessage
  | ErrorMessage;

/** Server events that carry a per-session `seq` (the client deduplicates by it; they may arrive over UDP too). */
export type ServerEvent = Extract<ServerMessage, { seq: number }>;

// ---- encoding ----------------------------------------------------------------------------------

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true, int64AsType: 'number' });

/** Drops undefined optional fields so they are absent (not nil) on the wire. */
function compact(message: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(message)) if (v !== undefined) out[k] = v;
  return out;
}

export function encodeMessage(message: ClientMessage | ServerMessage): Uint8Array {
  const bytes = packr.pack(compact(message));
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new RendezvousError(
      RendezvousErrorCode.Oversize,
      `${message.t} message is ${bytes.length} bytes (limit ${MAX_MESSAGE_BYTES})`,
    );
  }
  return bytes;
}

function malformed(what: string): never {
  throw new RendezvousError(RendezvousErrorCode.Malformed, what);
}

type Fields = Record<string, unknown>;

function bytesField(m: Fields, key: string, length: number): Uint8Array {
  const v = m[key];
  if (!(v instanceof Uint8Array) || v.length !== length) malformed(`${key}: expected ${length} bytes`);
  return new Uint8Array(v); // copy: never keep views into a reused receive buffer
}
function varBytesField(m: Fields, key: string, max: number): Uint8Array {
  const v = m[key];
  if (!(v instanceof Uint8Array) || v.length > max) malformed(`${key}: expected at most ${max} bytes`);
  return new Uint8Array(v);
}
function optionalVarBytes(m: Fields, key: string, max: number): Uint8Array | undefined {
  return m[key] === undefined ? undefined : varBytesField(m, key, max);
}
function uintField(m: Fields, key: string, max = 0xffffffff): number {
  const v = m[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max)
    malformed(`${key}: expected integer 0..${max}`);
  return v;
}
function boolField(m: Fields, key: string): boolean {
  const v = m[key];
  if (typeof v !== 'boolean') malformed(`${key}: expected boolean`);
  return v;
}
function stringField(m: Fields, key: string, maxLength: number): string {
  const v = m[key];
  if (typeof v !== 'string' || v.length > maxLength) malformed(`${key}: expected string of at most ${maxLength}`);
  return v;
}
function optionalString(m: Fields, key: string, maxLength: number): string | undefined {
  return m[key] === undefined ? undefined : stringField(m, key, maxLength);
}
function addressOf(v: unknown, key: string): Address {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array)
    malformed(`${key}: expected map`);
  const a = v as Fields;
  const host = stringField(a, 'host', 45);
  if (isIP(host) === 0) malformed(`${key}.host: not an IP literal`);
  const port = uintField(a, 'port', 65535);
  if (port === 0) malformed(`${key}.port: zero`);
  return { host, port };
}
function candidatesField(m: Fields, key: string): Candidate[] {
  const v = m[key];
  if (!Array.isArray(v) || v.length > MAX_CANDIDATES)
    malformed(`${key}: expected at most ${MAX_CANDIDATES} candidates`);
  return v.map((c, i) => {
    const addr = addressOf(c, `${key}[${i}]`);
    const f = c as Fields;
    const type = f['type'];
    if (typeof type !== 'string' || !CANDIDATE_TYPES.has(type)) malformed(`${key}[${i}].type: unknown`);
    const candidate: Candidate = { type: type as CandidateType, host: addr.host, port: addr.port };
    return f['priority'] === undefined ? candidate : { ...candidate, priority: uintField(f, 'priority', 0x7fffffff) };
  });
}
function withOptional<T extends object, K extends string, V>(
  base: T,
  key: K,
  value: V | undefined,
): T & { [P in K]?: V } {
  return value === undefined ? base : { ...base, [key]: value };
}

const clientValidators: { readonly [K in ClientMessage['t']]: (m: Fields) => Extract<ClientMessage, { t: K }> } = {
  register: (m) => ({
    t: 'register',
    publicKey: bytesField(m, 'publicKey', PUBLIC_KEY_LENGTH),
    clientNonce: bytesField(m, 'clientNonce', NONCE_LENGTH),
    proof: bytesField(m, 'proof', PROOF_LENGTH),
  }),
  lookup: (m) => ({ t: 'lookup', id: uintField(m, 'id'), peer: bytesField(m, 'peer', PUBLIC_KEY_LENGTH) }),
  connect: (m) =>
    withOptional(
      {
        t: 'connect',
        id: uintField(m, 'id'),
        peer: bytesField(m, 'peer', PUBLIC_KEY_LENGTH),
        candidates: candidatesField(m, 'candidates'),
      },
      'payload',
      optionalVarBytes(m, 'payload', MAX_PAYLOAD_BYTES),
    ),
  answer: (m) =>
    withOptional(
      withOptional(
        {
          t: 'answer',
          rid: uintField(m, 'rid'),
          accept: boolField(m, 'accept'),
          candidates: candidatesField(m, 'candidates'),
        },
        'payload',
        optionalVarBytes(m, 'payload', MAX_PAYLOAD_BYTES),
      ),
      'reason',
      optionalString(m, 'reason', MAX_REASON_LENGTH),
    ),
  signal: (m) => ({
    t: 'signal',
    peer: bytesField(m, 'peer', PUBLIC_KEY_LENGTH),
    kind: stringField(m, 'kind', MAX_SIGNAL_KIND_LENGTH),
    data: varBytesField(m, 'data', MAX_SIGNAL_BYTES),
  }),
  punch: (m) => ({
    t: 'punch',
    id: uintField(m, 'id'),
    peer: bytesField(m, 'peer', PUBLIC_KEY_LENGTH),
    rttMs: uintField(m, 'rttMs', 60_000),
  }),
  'relay-allocate': (m) => ({
    t: 'relay-allocate',
    id: uintField(m, 'id'),
    peer: bytesField(m, 'peer', PUBLIC_KEY_LENGTH),
  }),
  'relay-release': (m) => ({ t: 'relay-release', channel: bytesField(m, 'channel', CHANNEL_ID_LENGTH) }),
  ping: (m) => ({ t: 'ping', id: uintField(m, 'id') }),
  'mailbox-open': (m) => ({ t: 'mailbox-open', id: uintField(m, 'id'), nameplate: uintField(m, 'nameplate') }),
  'mailbox-put': (m) => ({
    t: 'mailbox-put',
    nameplate: uintField(m, 'nameplate'),
    data: varBytesField(m, 'data', MAX_MAILBOX_DATA),
  }),
  'mailbox-close': (m) => ({ t: 'mailbox-close', nameplate: uintField(m, 'nameplate') }),
};

const serverValidators: { readonly [K in ServerMessage['t']]: (m: Fields) => Extract<ServerMessage, { t: K }> } = {
  challenge: (m) => ({
    t: 'challenge',
    version: uintField(m, 'version', 255),
    serverKey: bytesField(m, 'serverKey', PUBLIC_KEY_LENGTH),
    nonce: bytesField(m, 'nonce', NONCE_LENGTH),
  }),
  registered: (m) => ({
    t: 'registered',
    serverProof: bytesField(m, 'serverProof', PROOF_LENGTH),
    presenceId: bytesField(m, 'presenceId', CHANNEL_ID_LENGTH),
    presenceKey: bytesField(m, 'presenceKey', LEG_KEY_LENGTH),
    idleTimeoutMs: uintField(m, 'idleTimeoutMs'),
  }),
  'lookup-result': (m) =>
    withOptional(
      {
        t: 'lookup-result',
        id: uintField(m, 'id'),
        peer: bytesField(m, 'peer', PUBLIC_KEY_LENGTH),
        online: boolField(m, 'online'),
      },
      'udp',
      m['udp'] === undefined ? undefined : addressOf(m['udp'], 'udp'),
    ),
  'connect-request': (m) =>
    withOptional(
      {
        t: 'connect-request',
        seq: uintField(m, 'seq'),
        rid: uintField(m, 'rid'),
        from: bytesField(m, 'from', PUBLIC_KEY_LENGTH),
        candidates: candidatesField(m, 'candidates'),
      },
      'payload',
      optionalVarBytes(m, 'payload', MAX_PAYLOAD_BYTES),
    ),
  'connect-answer': (m) =>
    withOptional(
      withOptional(
        {
          t: 'connect-answer',
          seq: uintField(m, 'seq'),
          id: uintField(m, 'id'),
          from: bytesField(m, 'from', PUBLIC_KEY_LENGTH),
          accept: boolField(m, 'accept'),
          candidates: candidatesField(m, 'candidates'),
        },
        'payload',
        optionalVarBytes(m, 'payload', MAX_PAYLOAD_BYTES),
      ),
      'reason',
      optionalString(m, 'reason', MAX_REASON_LENGTH),
    ),
  'signal-event': (m) => ({
    t: 'signal-event',
    seq: uintField(m, 'seq'),
    from: bytesField(m, 'from', PUBLIC_KEY_LENGTH),
    kind: stringField(m, 'kind', MAX_SIGNAL_KIND_LENGTH),
    data: varBytesField(m, 'data', MAX_SIGNAL_BYTES),
  }),
  'punch-go': (m) => ({
    t: 'punch-go',
    seq: uintField(m, 'seq'),
    id: uintField(m, 'id'),
    peer: bytesField(m, 'peer', PUBLIC_KEY_LENGTH),
    delayMs: uintField(m, 'delayMs', 60_000),
  }),
  'relay-allocated': (m) => ({
    t: 'relay-allocated',
    seq: uintField(m, 'seq'),
    id: uintField(m, 'id'),
    peer: bytesField(m, 'peer', PUBLIC_KEY_LENGTH),
    channel: bytesField(m, 'channel', CHANNEL_ID_LENGTH),
    bindKey: bytesField(m, 'bindKey', LEG_KEY_LENGTH),
    expiresInMs: uintField(m, 'expiresInMs'),
  }),
  'relay-closed': (m) => ({
    t: 'relay-closed',
    seq: uintField(m, 'seq'),
    channel: bytesField(m, 'channel', CHANNEL_ID_LENGTH),
    reason: stringField(m, 'reason', MAX_REASON_LENGTH),
  }),
  pong: (m) => ({ t: 'pong', id: uintField(m, 'id') }),
  error: (m) => ({
    t: 'error',
    id: uintField(m, 'id'),
    code: stringField(m, 'code', 64),
    message: stringField(m, 'message', MAX_REASON_LENGTH),
  }),
  'mailbox-opened': (m) => ({
    t: 'mailbox-opened',
    id: uintField(m, 'id'),
    nameplate: uintField(m, 'nameplate'),
    expiresInMs: uintField(m, 'expiresInMs'),
  }),
  'mailbox-message': (m) => ({
    t: 'mailbox-message',
    seq: uintField(m, 'seq'),
    nameplate: uintField(m, 'nameplate'),
    data: varBytesField(m, 'data', MAX_MAILBOX_DATA),
  }),
  'mailbox-closed': (m) => ({
    t: 'mailbox-closed',
    seq: uintField(m, 'seq'),
    nameplate: uintField(m, 'nameplate'),
    reason: stringField(m, 'reason', MAX_REASON_LENGTH),
  }),
};

function decodeFields(bytes: Uint8Array): Fields {
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new RendezvousError(
      RendezvousErrorCode.Oversize,
      `message of ${bytes.length} bytes (limit ${MAX_MESSAGE_BYTES})`,
    );
  }
  const problem = checkPlainMsgpack(bytes, { maxDepth: 4, maxElements: 256 });
  if (problem !== null) malformed(`not a plain msgpack value: ${problem}`);
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (cause) {
    throw new RendezvousError(RendezvousErrorCode.Malformed, 'msgpack decoding failed', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array)
    malformed('message is not a map');
  return value as Fields;
}

function typeOf(m: Fields, table: object): string {
  const t = m['t'];
  if (typeof t !== 'string' || !Object.hasOwn(table, t))
    malformed(`unknown message type ${JSON.stringify(String(t)).slice(0, 40)}`);
  return t;
}

/** Decodes and validates a message a client sent. Throws RendezvousError (MALFORMED / OVERSIZE). */
export function decodeClientMessage(bytes: Uint8Array): ClientMessage {
  const m = decodeFields(bytes);
  const t = typeOf(m, clientValidators) as ClientMessage['t'];
  return (clientValidators[t] as (m: Fields) => ClientMessage)(m);
}

/** Decodes and validates a message a server sent. Throws RendezvousError (MALFORMED / OVERSIZE). */
export function decodeServerMessage(bytes: Uint8Array): ServerMessage {
  const m = decodeFields(bytes);
  const t = typeOf(m, serverValidators) as ServerMessage['t'];
  return (serverValidators[t] as (m: Fields) => ServerMessage)(m);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
