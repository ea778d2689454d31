/**
 * Transport parameters carried in the Noise handshake payloads (spec/crypto.md §Transport
 * parameters), after RFC 9000 §18.2: each side announces its limits, and both agree before any
 * short-header packet flows. Encoding: one MessagePack map (msgpackr) from field name to
 * non-negative integer, at most MAX_TRANSPORT_PARAMETERS_BYTES bytes.
 *
 * Decoding is strict because the bytes come from the peer: anything that is not exactly one map of
 * known fields with in-range integer values is a CryptoError(TransportParameters). Missing fields take
 * their defaults (as absent QUIC parameters do); unknown fields are rejected in version 1 — new fields
 * come with a new `version`.
 */
import { Packr, Unpackr } from 'msgpackr';
import { CryptoError, CryptoErrorCode } from './errors.js';

export const TRANSPORT_PARAMETERS_VERSION = 1;
export const MAX_TRANSPORT_PARAMETERS_BYTES = 1024;

export interface TransportParameters {
  /** Format version of this object (1). */
  version: number;
  /** Idle timeout in ms; 0 disables (RFC 9000 §10.1). */
  maxIdleTimeoutMs: number;
  /** Connection-level flow-control limit, bytes (RFC 9000 §4.1). */
  initialMaxData: number;
  /** Per-stream limits, bytes: streams we open / the peer opens / unidirectional. */
  initialMaxStreamDataBidiLocal: number;
  initialMaxStreamDataBidiRemote: number;
  initialMaxStreamDataUni: number;
  /** Streams the peer may open. */
  initialMaxStreamsBidi: number;
  initialMaxStreamsUni: number;
  /** Largest DATAGRAM frame accepted, bytes; 0 = none (RFC 9221 §3). */
  maxDatagramFrameSize: number;
  /** Max ACK delay in ms, < 2^14 (RFC 9000 §18.2). */
  maxAckDelayMs: number;
  /** Connection IDs the peer may keep active, ≥ 2 (RFC 9000 §18.2). */
  activeConnectionIdLimit: number;
}

type Field = keyof TransportParameters;

const SAFE = Number.MAX_SAFE_INTEGER;
/** [minimum, maximum, default] per field. */
const FIELDS: Readonly<Record<Field, readonly [number, number, number]>> = {
  version: [TRANSPORT_PARAMETERS_VERSION, TRANSPORT_PARAMETERS_VERSION, TRANSPORT_PARAMETERS_VERSION],
  maxIdleTimeoutMs: [0, 2 ** 31 - 1, 30_000],
  initialMaxData: [0, SAFE, 16 * 1024 * 1024],
  initialMaxStreamDataBidiLocal: [0, SAFE, 1024 * 1024],
  initialMaxStreamDataBidiRemote: [0, SAFE, 1024 * 1024],
  initialMaxStreamDataUni: [0, SAFE, 1024 * 1024],
  initialMaxStreamsBidi: [0, 2 ** 32, 100],
  initialMaxStreamsUni: [0, 2 ** 32, 100],
  maxDatagramFrameSize: [0, 65_535, 1200],
  maxAckDelayMs: [0, 2 ** 14 - 1, 25],
  activeConnectionIdLimit: [2, 1024, 4],
};
const FIELD_NAMES = Object.keys(FIELDS) as Field[];

export const DEFAULT_TRANSPORT_PARAMETERS: Readonly<TransportParameters> = Object.freeze(
  Object.fromEntries(FIELD_NAMES.map((f) => [f, FIELDS[f][2]])) as unknown as TransportParameters,
);

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

function fail(message: string, cause?: unknown): never {
  throw new CryptoError(
    CryptoErrorCode.TransportParameters,
    `transport parameters: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

/** Fills defaults, checks every field, rejects unknown ones. */
export function validateTransportParameters(input: unknown): TransportParameters {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) fail('not a map');
  const proto: unknown = Object.getPrototypeOf(input);
  if (proto !== Object.prototype && proto !== null) fail('not a plain map');
  const record = input as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!Object.hasOwn(FIELDS, key)) fail(`unknown field '${key.slice(0, 40)}'`);
  }
  const out = { ...DEFAULT_TRANSPORT_PARAMETERS };
  for (const field of FIELD_NAMES) {
    const value = record[field];
    if (value === undefined) {
      if (field === 'version') fail('missing version');
      continue;
    }
    const [min, max] = FIELDS[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      fail(`${field} must be an integer in [${min}, ${max}]`);
    }
    out[field] = value;
  }
  return out;
}

/** Encodes parameters (defaults filled in) for a handshake payload. Throws CryptoError if invalid. */
export function encodeTransportParameters(params: Partial<TransportParameters>): Uint8Array {
  const full = validateTransportParameters({ ...params, version: params.version ?? TRANSPORT_PARAMETERS_VERSION });
  const bytes: Uint8Array = packr.pack(full);
  if (bytes.length > MAX_TRANSPORT_PARAMETERS_BYTES) fail('encoding too large');
  return Uint8Array.from(bytes);
}

/** Decodes the peer's parameters. Throws CryptoError(TransportParameters) for anything else. */
export function decodeTransportParameters(bytes: Uint8Array): TransportParameters {
  if (!(bytes instanceof Uint8Array)) fail('not bytes');
  if (bytes.length === 0) fail('empty');
  if (bytes.length > MAX_TRANSPORT_PARAMETERS_BYTES) fail(`larger than ${MAX_TRANSPORT_PARAMETERS_BYTES} bytes`);
  // msgpackr trusts declared lengths (an array32 header makes it grow an array until V8 aborts the
  // process), so the bytes must first be exactly the shape this encoder produces.
  const problem = checkParameterMap(bytes);
  if (problem !== null) fail(problem);
  let value: unknown;
  try {
    value = unpackr.unpack(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (cause) {
    fail('malformed MessagePack', cause);
  }
  return validateTransportParameters(value);
}

/**
 * Structural check of the encoding (https://github.com/msgpack/msgpack/blob/master/spec.md): one map
 * of at most 32 entries, each a str key of at most 64 bytes and a number (int, uint, float64) value,
 * spanning the whole input. Returns a reason, or null when the shape is right.
 */
function checkParameterMap(bytes: Uint8Array): string | null {
  let pos = 0;
  const first = bytes[pos++] as number;
  let entries: number;
  if (first >= 0x80 && first <= 0x8f) entries = first & 0x0f;
  else if (first === 0xde && bytes.length >= 3) {
    entries = ((bytes[1] as number) << 8) | (bytes[2] as number);
    pos = 3;
  } else return 'must be one MessagePack map';
  if (entries > 32) return 'too many fields';
  for (let i = 0; i < entries; i++) {
    const k = bytes[pos++];
    let keyLength: number;
    if (k !== undefined && k >= 0xa0 && k <= 0xbf) keyLength = k & 0x1f;
    else if (k === 0xd9 && pos < bytes.length) keyLength = bytes[pos++] as number;
    else return 'field names must be strings';
    if (keyLength > 64) return 'field name too long';
    pos += keyLength;
    const v = bytes[pos++];
    if (v === undefined) return 'truncated';
    if (v <= 0x7f || v >= 0xe0) continue; // fixint
    const width = NUMBER_WIDTHS[v];
    if (width === undefined) return 'field values must be numbers';
    pos += width;
  }
  if (pos !== bytes.length) return pos > bytes.length ? 'truncated' : 'bytes after the map';
  return null;
}

/** Payload bytes after the type byte of MessagePack's number formats. */
const NUMBER_WIDTHS: Readonly<Record<number, number>> = {
  202: 4, // float32
  203: 8, // float64
  204: 1,
  205: 2,
  206: 4,
  207: 8, // uint8..64
  208: 1,
  209: 2,
  210: 4,
  211: 8, // int8..64
};
