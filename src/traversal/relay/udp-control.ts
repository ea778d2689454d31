/**
 * UDP relay datagrams on the shared socket (spec/relay.md §UDP data plane).
 *
 * Every relay datagram uses the wire's relay encapsulation (spec/wire.md §Demultiplexing):
 *   0x12 ‖ channel ID (8 bytes) ‖ inner datagram
 * A non-zero channel ID names one leg of a relay allocation and the inner datagram is an opaque,
 * already-encrypted transport packet. The all-zero channel ID is reserved for control datagrams
 * between a peer and the relay server itself (this file): BIND / CHALLENGE / BOUND / NOTIFY.
 *
 * Leg binding is a cookie exchange in the spirit of QUIC address validation (RFC 9000 §8.1) and
 * TURN permissions (RFC 8656 §9): a BIND is authenticated with the leg's key (issued over the
 * authenticated rendezvous session) and carries a strictly increasing counter (replay protection);
 * the server answers an unvalidated source address only with a smaller CHALLENGE carrying an
 * address-bound cookie, and marks the address validated when a BIND echoes the cookie from it.
 */
import { RELAY_TYPE } from '../../wire/demux.js';
import { RELAY_HEADER_LENGTH, readRelayDatagram, writeRelayHeader } from '../../wire/relay.js';
import { mac } from '../rendezvous/auth.js';
import { CHANNEL_ID_LENGTH } from '../rendezvous/messages.js';

/** First byte of relay-encapsulated datagrams (spec/wire.md §Demultiplexing). */
export const RELAY_DATAGRAM_TYPE = RELAY_TYPE;
export { RELAY_HEADER_LENGTH };
export const COOKIE_LENGTH = 16;
export const CONTROL_MAC_LENGTH = 16;

export const RelayControlType = {
  Bind: 0x01,
  Challenge: 0x02,
  Bound: 0x03,
  Notify: 0x04,
} as const;
export type RelayControlType = (typeof RelayControlType)[keyof typeof RelayControlType];

const LABEL_BIND = new TextEncoder().encode('punchline relay bind');
const LABEL_BOUND = new TextEncoder().encode('punchline relay bound');
const LABEL_NOTIFY = new TextEncoder().encode('punchline relay notify');

export interface RelayDatagram {
  readonly channel: Uint8Array;
  readonly inner: Uint8Array;
}

/**
 * Splits a relay datagram with the wire codec (spec/wire.md §Relay); null when it is not a valid
 * one (wrong type byte, empty inner datagram, nested encapsulation). Views, not copies. Hot path:
 * the cheap checks run first so hostile traffic rarely reaches the throwing codec.
 */
export function parseRelayDatagram(datagram: Uint8Array): RelayDatagram | null {
  if (
    datagram.length <= RELAY_HEADER_LENGTH ||
    datagram[0] !== RELAY_DATAGRAM_TYPE ||
    datagram[RELAY_HEADER_LENGTH] === RELAY_DATAGRAM_TYPE
  ) {
    return null;
  }
  try {
    const { channelId, inner } = readRelayDatagram(datagram);
    return { channel: channelId, inner };
  } catch {
    return null;
  }
}

/** 0x12 ‖ channel ‖ inner, in a new buffer (wire's writeRelayHeader). */
export function encapsulate(channel: Uint8Array, inner: Uint8Array): Uint8Array {
  const out = new Uint8Array(RELAY_HEADER_LENGTH + inner.length);
  writeRelayHeader(out, 0, channel);
  out.set(inner, RELAY_HEADER_LENGTH);
  return out;
}

export function isControlChannel(channel: Uint8Array): boolean {
  for (let i = 0; i < channel.length; i++) if (channel[i] !== 0) return false;
  return true;
}

const CONTROL_CHANNEL = new Uint8Array(CHANNEL_ID_LENGTH);

function u64(value: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(value / 0x1_0000_0000));
  view.setUint32(4, value >>> 0);
  return out;
}
function readU64(bytes: Uint8Array, offset: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hi = view.getUint32(offset);
  if (hi > 0x1fffff) return -1; // above 2^53 − 1: not a counter we ever issue
  return hi * 0x1_0000_0000 + view.getUint32(offset + 4);
}

// ---- address encoding inside BOUND -------------------------------------------------------------

export interface ObservedAddress {
  readonly host: string;
  readonly port: number;
}

function encodeAddress(address: ObservedAddress): Uint8Array {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address.host);
  if (v4) {
    const out = new Uint8Array(1 + 4 + 2);
    out[0] = 4;
    for (let i = 0; i < 4; i++) out[1 + i] = Number(v4[i + 1]);
    out[5] = address.port >>> 8;
    out[6] = address.port & 0xff;
    return out;
  }
  const out = new Uint8Array(1 + 16 + 2);
  out[0] = 6;
  out.set(ipv6Bytes(address.host), 1);
  out[17] = address.port >>> 8;
  out[18] = address.port & 0xff;
  return out;
}

function ipv6Bytes(host: string): Uint8Array {
  const out = new Uint8Array(16);
  const zone = host.indexOf('%');
  const h = zone >= 0 ? host.slice(0, zone) : host;
  const [head = '', tail] = h.split('::') as [string, string | undefined];
  const parse = (s: string): number[] => {
    if (s === '') return [];
    const groups: number[] = [];
    for (const part of s.split(':')) {
      if (part.includes('.')) {
        const b = part.split('.').map(Number);
        groups.push(((b[0] ?? 0) << 8) | (b[1] ?? 0), ((b[2] ?? 0) << 8) | (b[3] ?? 0));
      } else groups.push(parseInt(part, 16) || 0);
    }
    return groups;
  };
  const a = parse(head);
  const b = tail === undefined ? [] : parse(tail);
  const groups = [...a, ...new Array<number>(Math.max(0, 8 - a.length - b.length)).fill(0), ...b].slice(0, 8);
  groups.forEach((g, i) => {
    out[2 * i] = g >>> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

function decodeAddress(bytes: Uint8Array, offset: number): { address: ObservedAddress; end: number } | null {
  const family = bytes[offset];
  if (family === 4) {
    if (bytes.length < offset + 7) return null;
    const host = `${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}.${bytes[offset + 4]}`;
    return { address: { host, port: (bytes[offset + 5]! << 8) | bytes[offset + 6]! }, end: offset + 7 };
  }
  if (family === 6) {
    if (bytes.length < offset + 19) return null;
    const groups: string[] = [];
    for (let i = 0; i < 8; i++)
      groups.push(((bytes[offset + 1 + 2 * i]! << 8) | bytes[offset + 2 + 2 * i]!).toString(16));
    const host = groups
      .join(':')
      .replace(/(^|:)0(:0)+(:|$)/, '::')
      .replace(/:{3,}/, '::');
    return { address: { host, port: (bytes[offset + 17]! << 8) | bytes[offset + 18]! }, end: offset + 19 };
  }
  return null;
}

// ---- control messages --------------------------------------------------------------------------

export interface BindControl {
  readonly type: typeof RelayControlType.Bind;
  readonly leg: Uint8Array;
  readonly counter: number;
  /** Empty, or the cookie of a CHALLENGE being echoed. */
  readonly cookie: Uint8Array;
  readonly mac: Uint8Array;
}
export interface ChallengeControl {
  readonly type: typeof RelayControlType.Challenge;
  readonly leg: Uint8Array;
  readonly cookie: Uint8Array;
}
export interface BoundControl {
  readonly type: typeof RelayControlType.Bound;
  readonly leg: Uint8Array;
  readonly counter: number;
  /** The source address the server saw: a server-reflexive candidate for free. */
  readonly observed: ObservedAddress;
  readonly mac: Uint8Array;
}
export interface NotifyControl {
  readonly type: typeof RelayControlType.Notify;
  readonly leg: Uint8Array;
  /** A msgpack rendezvous ServerEvent (spec/rendezvous.md §UDP carrier). */
  readonly body: Uint8Array;
  readonly mac: Uint8Array;
}
export type RelayControl = BindControl | ChallengeControl | BoundControl | NotifyControl;

function bindMac(key: Uint8Array, leg: Uint8Array, counter: Uint8Array, cookie: Uint8Array): Uint8Array {
  return mac(key, [LABEL_BIND, leg, counter, cookie], CONTROL_MAC_LENGTH);
}

/** A full relay datagram carrying BIND for `leg`, authenticated with the leg key. */
export function encodeBind(
  leg: Uint8Array,
  key: Uint8Array,
  counter: number,
  cookie: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const c = u64(counter);
  const inner = new Uint8Array(1 + CHANNEL_ID_LENGTH + 8 + 1 + cookie.length + CONTROL_MAC_LENGTH);
  let p = 0;
  inner[p++] = RelayControlType.Bind;
  inner.set(leg, p);
  p += CHANNEL_ID_LENGTH;
  inner.set(c, p);
  p += 8;
  inner[p++] = cookie.length;
  inner.set(cookie, p);
  p += cookie.length;
  inner.set(bindMac(key, leg, c, cookie), p);
  return encapsulate(CONTROL_CHANNEL, inner);
}

export function verifyBind(bind: BindControl, key: Uint8Array): boolean {
  const expected = bindMac(key, bind.leg, u64(bind.counter), bind.cookie);
  return constantTimeEqualShort(expected, bind.mac);
}

export function encodeChallenge(leg: Uint8Array, cookie: Uint8Array): Uint8Array {
  const inner = new Uint8Array(1 + CHANNEL_ID_LENGTH + COOKIE_LENGTH);
  inner[0] = RelayControlType.Challenge;
  inner.set(leg, 1);
  inner.set(cookie, 1 + CHANNEL_ID_LENGTH);
  return encapsulate(CONTROL_CHANNEL, inner);
}

function boundMac(key: Uint8Array, leg: Uint8Array, counter: Uint8Array, address: Uint8Array): Uint8Array {
  return mac(key, [LABEL_BOUND, leg, counter, address], CONTROL_MAC_LENGTH);
}

export function encodeBound(leg: Uint8Array, key: Uint8Array, counter: number, observed: ObservedAddress): Uint8Array {
  const c = u64(counter);
  const addr = encodeAddress(observed);
  const inner = new Uint8Array(1 + CHANNEL_ID_LENGTH + 8 + addr.length + CONTROL_MAC_LENGTH);
  let p = 0;
  inner[p++] = RelayControlType.Bound;
  inner.set(leg, p);
  p += CHANNEL_ID_LENGTH;
  inner.set(c, p);
  p += 8;
  inner.set(addr, p);
  p += addr.length;
  inner.set(boundMac(key, leg, c, addr), p);
  return encapsulate(CONTROL_CHANNEL, inner);
}

export function verifyBound(bound: BoundControl, key: Uint8Array): boolean {
  const expected = boundMac(key, bound.leg, u64(bound.counter), encodeAddress(bound.observed));
  return constantTimeEqualShort(expected, bound.mac);
}

function notifyMac(key: Uint8Array, leg: Uint8Array, body: Uint8Array): Uint8Array {
  return mac(key, [LABEL_NOTIFY, leg, body], CONTROL_MAC_LENGTH);
}

export function encodeNotify(leg: Uint8Array, key: Uint8Array, body: Uint8Array): Uint8Array {
  const inner = new Uint8Array(1 + CHANNEL_ID_LENGTH + body.length + CONTROL_MAC_LENGTH);
  inner[0] = RelayControlType.Notify;
  inner.set(leg, 1);
  inner.set(body, 1 + CHANNEL_ID_LENGTH);
  inner.set(notifyMac(key, leg, body), 1 + CHANNEL_ID_LENGTH + body.length);
  return encapsulate(CONTROL_CHANNEL, inner);
}

export function verifyNotify(notify: NotifyControl, key: Uint8Array): boolean {
  return constantTimeEqualShort(notifyMac(key, notify.leg, notify.body), notify.mac);
}

/** Parses the inner part of a control-channel datagram; null when malformed. Returned fields are views. */
export function parseControl(inner: Uint8Array): RelayControl | null {
  if (inner.length < 1 + CHANNEL_ID_LENGTH) return null;
  const type = inner[0];
  const leg = inner.subarray(1, 1 + CHANNEL_ID_LENGTH);
  let p = 1 + CHANNEL_ID_LENGTH;
  switch (type) {
    case RelayControlType.Bind: {
      if (inner.length < p + 8 + 1) return null;
      const counter = readU64(inner, p);
      p += 8;
      const cookieLength = inner[p++]!;
      if (cookieLength !== 0 && cookieLength !== COOKIE_LENGTH) return null;
      if (inner.length !== p + cookieLength + CONTROL_MAC_LENGTH || counter < 0) return null;
      const cookie = inner.subarray(p, p + cookieLength);
      return { type, leg, counter, cookie, mac: inner.subarray(p + cookieLength) };
    }
    case RelayControlType.Challenge:
      if (inner.length !== p + COOKIE_LENGTH) return null;
      return { type, leg, cookie: inner.subarray(p) };
    case RelayControlType.Bound: {
      if (inner.length < p + 8) return null;
      const counter = readU64(inner, p);
      const decoded = decodeAddress(inner, p + 8);
      if (decoded === null || counter < 0 || inner.length !== decoded.end + CONTROL_MAC_LENGTH) return null;
      return { type, leg, counter, observed: decoded.address, mac: inner.subarray(decoded.end) };
    }
    case RelayControlType.Notify:
      if (inner.length < p + CONTROL_MAC_LENGTH) return null;
      return {
        type,
        leg,
        body: inner.subarray(p, inner.length - CONTROL_MAC_LENGTH),
        mac: inner.subarray(inner.length - CONTROL_MAC_LENGTH),
      };
    default:
      return null;
  }
}

function constantTimeEqualShort(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
