/**
 * Codec of each STUN attribute value (RFC 8489 §14, RFC 5780 §7, RFC 3489 §11.2 for the classic
 * ones an RFC 3489 client still asks for). A message carries attributes as raw {type, value}; these
 * functions turn a value into a typed field and back, and throw StunError on values that do not fit.
 */
import type { Address } from '../../transport/api.js';
import { formatIp, ipToBytes } from './address.js';
import { StunError, StunErrorCode } from './errors.js';
import type { StunAttribute } from './message.js';

export const AttributeType = {
  MappedAddress: 0x0001,
  /** RFC 3489 §11.2.2; comprehension-required, never honoured (it would reflect traffic at a victim). */
  ResponseAddress: 0x0002,
  ChangeRequest: 0x0003,
  /** RFC 3489 §11.2.3 (classic servers' RESPONSE-ORIGIN). */
  SourceAddress: 0x0004,
  /** RFC 3489 §11.2.3 (classic servers' OTHER-ADDRESS). */
  ChangedAddress: 0x0005,
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  Realm: 0x0014,
  Nonce: 0x0015,
  MessageIntegritySha256: 0x001c,
  UserHash: 0x001e,
  XorMappedAddress: 0x0020,
  Padding: 0x0026,
  ResponsePort: 0x0027,
  Software: 0x8022,
  AlternateServer: 0x8023,
  Fingerprint: 0x8028,
  ResponseOrigin: 0x802b,
  OtherAddress: 0x802c,
} as const;

/** Comprehension-required range: 0x0000–0x7FFF (RFC 8489 §14). */
export function isComprehensionRequired(type: number): boolean {
  return type < 0x8000;
}

/** Byte limits of the text attributes (RFC 8489 §14.3, §14.8, §14.9, §14.10). */
export const MAX_USERNAME_BYTES = 513;
export const MAX_REALM_BYTES = 763;
export const MAX_NONCE_BYTES = 763;
export const MAX_SOFTWARE_BYTES = 763;
export const MAX_REASON_BYTES = 763;

const FAMILY_IPV4 = 0x01;
const FAMILY_IPV6 = 0x02;
const MAGIC_COOKIE_BYTES = Uint8Array.of(0x21, 0x12, 0xa4, 0x42);

function bad(message: string): StunError {
  return new StunError(StunErrorCode.BadAttribute, message);
}

// ---- address family (MAPPED-ADDRESS §14.1 and everything shaped like it) ------------------------

export function decodeAddress(value: Uint8Array): Address {
  if (value.length < 4) throw bad(`address attribute of ${value.length} bytes`);
  const family = value[1];
  const expected = family === FAMILY_IPV4 ? 8 : family === FAMILY_IPV6 ? 20 : -1;
  if (expected < 0) throw bad(`unknown address family 0x${(family ?? 0).toString(16)}`);
  if (value.length !== expected) throw bad(`address attribute of ${value.length} bytes for family ${family}`);
  const port = (value[2]! << 8) | value[3]!;
  return { host: formatIp(value.subarray(4)), port };
}

export function encodeAddress(address: Address): Uint8Array {
  checkPort(address.port);
  const ip = ipToBytes(address.host);
  const out = new Uint8Array(4 + ip.length);
  out[1] = ip.length === 4 ? FAMILY_IPV4 : FAMILY_IPV6;
  out[2] = address.port >> 8;
  out[3] = address.port & 0xff;
  out.set(ip, 4);
  return out;
}

/** XOR with the magic cookie and (IPv6) the transaction ID: RFC 8489 §14.2. Self-inverse. */
function xorAddressValue(value: Uint8Array, transactionId: Uint8Array): Uint8Array {
  if (transactionId.length !== 12) throw bad('XOR-MAPPED-ADDRESS needs a 12-byte transaction ID (RFC 8489 message)');
  const out = Uint8Array.from(value);
  out[2]! ^= 0x21;
  out[3]! ^= 0x12;
  for (let i = 4; i < out.length; i++) {
    const j = i - 4;
    out[i]! ^= j < 4 ? MAGIC_COOKIE_BYTES[j]! : transactionId[j - 4]!;
  }
  return out;
}

export function decodeXorAddress(value: Uint8Array, transactionId: Uint8Array): Address {
  if (value.length < 4) throw bad(`address attribute of ${value.length} bytes`);
  return decodeAddress(xorAddressValue(value, transactionId));
}

export function encodeXorAddress(address: Address, transactionId: Uint8Array): Uint8Array {
  return xorAddressValue(encodeAddress(address), transactionId);
}

// ---- text (USERNAME, REALM, NONCE, SOFTWARE) ----------------------------------------------------

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function decodeText(value: Uint8Array, maxBytes: number, name: string): string {
  if (value.length > maxBytes) throw bad(`${name} longer than ${maxBytes} bytes`);
  try {
    return utf8Decoder.decode(value);
  } catch (cause) {
    throw new StunError(StunErrorCode.BadAttribute, `${name} is not valid UTF-8`, { cause });
  }
}

export function encodeText(text: string, maxBytes: number, name: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > maxBytes)
    throw new StunError(StunErrorCode.InvalidArgument, `${name} longer than ${maxBytes} bytes`);
  return bytes;
}

// ---- ERROR-CODE (§14.8) -------------------------------------------------------------------------

export interface ErrorCodeValue {
  /** 300–699. */
  readonly code: number;
  readonly reason: string;
}

export function decodeErrorCode(value: Uint8Array): ErrorCodeValue {
  if (value.length < 4) throw bad(`ERROR-CODE of ${value.length} bytes`);
  const cls = value[2]! & 0x07;
  const number = value[3]!;
  if (cls < 3 || cls > 6 || number > 99) throw bad(`ERROR-CODE class ${cls} number ${number}`);
  return { code: cls * 100 + number, reason: decodeText(value.subarray(4), MAX_REASON_BYTES, 'ERROR-CODE reason') };
}

export function encodeErrorCode({ code, reason }: ErrorCodeValue): Uint8Array {
  if (!Number.isInteger(code) || code < 300 || code > 699)
    throw new StunError(StunErrorCode.InvalidArgument, `error code ${code}`);
  const text = encodeText(reason, MAX_REASON_BYTES, 'reason phrase');
  const out = new Uint8Array(4 + text.length);
  out[2] = Math.floor(code / 100);
  out[3] = code % 100;
  out.set(text, 4);
  return out;
}

// ---- UNKNOWN-ATTRIBUTES (§14.9) -----------------------------------------------------------------

export function decodeUnknownAttributes(value: Uint8Array): number[] {
  if (value.length % 2 !== 0) throw bad(`UNKNOWN-ATTRIBUTES of odd length ${value.length}`);
  const out: number[] = [];
  for (let i = 0; i < value.length; i += 2) out.push((value[i]! << 8) | value[i + 1]!);
  return out;
}

export function encodeUnknownAttributes(types: readonly number[]): Uint8Array {
  const out = new Uint8Array(types.length * 2);
  types.forEach((t, i) => {
    out[2 * i] = (t >> 8) & 0xff;
    out[2 * i + 1] = t & 0xff;
  });
  return out;
}

// ---- CHANGE-REQUEST (RFC 5780 §7.2) and RESPONSE-PORT (§7.5) ------------------------------------

export interface ChangeRequestValue {
  readonly changeIp: boolean;
  readonly changePort: boolean;
}

export function decodeChangeRequest(value: Uint8Array): ChangeRequestValue {
  if (value.length !== 4) throw bad(`CHANGE-REQUEST of ${value.length} bytes`);
  return { changeIp: (value[3]! & 0x04) !== 0, changePort: (value[3]! & 0x02) !== 0 };
}

export function encodeChangeRequest({ changeIp, changePort }: ChangeRequestValue): Uint8Array {
  return Uint8Array.of(0, 0, 0, (changeIp ? 0x04 : 0) | (changePort ? 0x02 : 0));
}

export function decodeResponsePort(value: Uint8Array): number {
  if (value.length !== 4) throw bad(`RESPONSE-PORT of ${value.length} bytes`);
  return (value[0]! << 8) | value[1]!;
}

export function encodeResponsePort(port: number): Uint8Array {
  checkPort(port);
  return Uint8Array.of(port >> 8, port & 0xff, 0, 0);
}

// ---- FINGERPRINT (§14.7) ------------------------------------------------------------------------

export function decodeUint32(value: Uint8Array, name: string): number {
  if (value.length !== 4) throw bad(`${name} of ${value.length} bytes`);
  return ((value[0]! << 24) | (value[1]! << 16) | (value[2]! << 8) | value[3]!) >>> 0;
}

// ---- helpers to build and read attribute lists --------------------------------------------------

export function attribute(type: number, value: Uint8Array): StunAttribute {
  if (!Number.isInteger(type) || type < 0 || type > 0xffff)
    throw new StunError(StunErrorCode.InvalidArgument, `attribute type ${type}`);
  if (value.length > 0xffff)
    throw new StunError(StunErrorCode.InvalidArgument, `attribute value of ${value.length} bytes`);
  return { type, value };
}

/** First attribute of a type (RFC 8489 §14: only the first occurrence of a type counts). */
export function findAttribute(attributes: readonly StunAttribute[], type: number): Uint8Array | undefined {
  for (const a of attributes) if (a.type === type) return a.value;
  return undefined;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff)
    throw new StunError(StunErrorCode.InvalidArgument, `port ${port}`);
}
