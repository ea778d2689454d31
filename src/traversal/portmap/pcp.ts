/**
 * PCP messages (RFC 6887): the MAP and ANNOUNCE requests a client sends and the server's responses.
 * Pure functions over bytes; decoding never throws — a datagram that is not a usable response comes
 * back as a PortmapError (the caller drops it with that reason, RFC 6887 §8.3).
 *
 *   common request header (§7.1)   version 2, R=0|opcode, reserved(2), requested lifetime(4),
 *                                  client IP (16, IPv4-mapped for IPv4)                     24 bytes
 *   common response header (§7.2)  version 2, R=1|opcode, reserved, result code, lifetime(4),
 *                                  epoch time(4), reserved(12)                              24 bytes
 *   MAP payload (§11.1)            nonce(12), protocol, reserved(3), internal port,
 *                                  suggested/assigned external port, external IP (16)       36 bytes
 *   options (§7.3)                 code, reserved, length(2), data padded to 4 bytes — skipped
 */
import { formatIp, parseIPv4, parseIPv6 } from '../stun/address.js';
import { checkUint, PortmapError, PortmapErrorCode } from './errors.js';
import { NAT_PMP_VERSION } from './nat-pmp.js';

export const PCP_VERSION = 2;
export const PCP_SERVER_PORT = 5351;
/** Clients listen on 5350 for multicast ANNOUNCE (§14.1.1) — we get unicast ones on our socket. */
export const PCP_CLIENT_MULTICAST_PORT = 5350;
export const PCP_OP_ANNOUNCE = 0;
export const PCP_OP_MAP = 1;
export const PCP_RESPONSE_BIT = 0x80;
export const PCP_HEADER_LENGTH = 24;
export const PCP_MAP_PAYLOAD_LENGTH = 36;
export const PCP_NONCE_LENGTH = 12;
/** §7: messages are at most 1100 bytes; longer ones are dropped. */
export const PCP_MAX_MESSAGE = 1100;
export const IPPROTO_UDP = 17;
export const IPPROTO_TCP = 6;

/** Result codes (§7.4). */
export const PcpResult = {
  Success: 0,
  UnsuppVersion: 1,
  NotAuthorized: 2,
  MalformedRequest: 3,
  UnsuppOpcode: 4,
  UnsuppOption: 5,
  MalformedOption: 6,
  NetworkFailure: 7,
  NoResources: 8,
  UnsuppProtocol: 9,
  UserExQuota: 10,
  CannotProvideExternal: 11,
  AddressMismatch: 12,
  ExcessiveRemotePeers: 13,
} as const;

const RESULT_NAMES = [
  'SUCCESS',
  'UNSUPP_VERSION',
  'NOT_AUTHORIZED',
  'MALFORMED_REQUEST',
  'UNSUPP_OPCODE',
  'UNSUPP_OPTION',
  'MALFORMED_OPTION',
  'NETWORK_FAILURE',
  'NO_RESOURCES',
  'UNSUPP_PROTOCOL',
  'USER_EX_QUOTA',
  'CANNOT_PROVIDE_EXTERNAL',
  'ADDRESS_MISMATCH',
  'EXCESSIVE_REMOTE_PEERS',
];

export function pcpResultText(result: number): string {
  return RESULT_NAMES[result] ?? `result ${result}`;
}

/**
 * Long-term errors (§7.4): retrying the same request soon will not help. The others (NETWORK_FAILURE,
 * NO_RESOURCES, USER_EX_QUOTA, ...) are short-term.
 */
export function isPcpLongTermError(result: number): boolean {
  return (
    result === PcpResult.UnsuppVersion ||
    result === PcpResult.NotAuthorized ||
    result === PcpResult.MalformedRequest ||
    result === PcpResult.UnsuppOpcode ||
    result === PcpResult.UnsuppOption ||
    result === PcpResult.MalformedOption ||
    result === PcpResult.UnsuppProtocol ||
    result === PcpResult.CannotProvideExternal ||
    result === PcpResult.AddressMismatch ||
    result === PcpResult.ExcessiveRemotePeers
  );
}

export interface PcpMapRequest {
  readonly clientIp: string;
  readonly nonce: Uint8Array;
  readonly protocol: 'udp' | 'tcp';
  readonly internalPort: number;
  readonly suggestedExternalPort: number;
  /** Suggested external address; `undefined` = all zeros of the client's family (no preference). */
  readonly suggestedExternalIp?: string;
  /** 0 deletes the mapping (§15). */
  readonly lifetimeS: number;
}

export interface PcpAnnounceResponse {
  readonly kind: 'announce';
  readonly result: number;
  readonly lifetimeS: number;
  readonly epoch: number;
}

export interface PcpMapResponse {
  readonly kind: 'map';
  readonly result: number;
  readonly lifetimeS: number;
  readonly epoch: number;
  readonly nonce: Uint8Array;
  /** IANA protocol number (17 UDP, 6 TCP; 0 = all). */
  readonly protocol: number;
  readonly internalPort: number;
  readonly externalPort: number;
  /** Text form; an IPv4-mapped address is returned as plain IPv4. */
  readonly externalIp: string;
}

/** What a NAT-PMP-only server sends to a PCP request (RFC 6887 §9, RFC 6886 §3.5 result 1). */
export interface PcpVersionMismatch {
  readonly kind: 'version-mismatch';
  readonly version: number;
}

export type PcpResponse = PcpAnnounceResponse | PcpMapResponse | PcpVersionMismatch;

/** 16-byte PCP form of an address: IPv6 as is, IPv4 as IPv4-mapped (`::ffff:a.b.c.d`, §5). */
export function pcpAddressBytes(host: string): Uint8Array {
  const v4 = parseIPv4(host);
  if (v4) {
    const out = new Uint8Array(16);
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(v4, 12);
    return out;
  }
  const v6 = parseIPv6(host);
  if (!v6)
    throw new PortmapError(PortmapErrorCode.InvalidArgument, `not an IP address literal: ${JSON.stringify(host)}`);
  return v6;
}

/** Text of a 16-byte PCP address; IPv4-mapped comes back as dotted quad. */
export function pcpAddressText(bytes: Uint8Array): string {
  let mapped = bytes[10] === 0xff && bytes[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (bytes[i] !== 0) mapped = false;
  return mapped ? formatIp(bytes.subarray(12, 16)) : formatIp(bytes);
}

function header(opcode: number, lifetimeS: number, clientIp: string, payloadLength: number): Uint8Array {
  checkUint('lifetime', lifetimeS, 0, 0xffffffff);
  const out = new Uint8Array(PCP_HEADER_LENGTH + payloadLength);
  out[0] = PCP_VERSION;
  out[1] = opcode;
  new DataView(out.buffer).setUint32(4, lifetimeS);
  out.set(pcpAddressBytes(clientIp), 8);
  return out;
}

/** ANNOUNCE request (§14.1): lifetime 0, no payload; tells whether a PCP server answers at all. */
export function encodePcpAnnounceRequest(clientIp: string): Uint8Array {
  return header(PCP_OP_ANNOUNCE, 0, clientIp, 0);
}

/** MAP request (§11.1). Throws PortmapError(InvalidArgument) for values that do not fit. */
export function encodePcpMapRequest(request: PcpMapRequest): Uint8Array {
  if (request.nonce.length !== PCP_NONCE_LENGTH) {
    throw new PortmapError(PortmapErrorCode.InvalidArgument, `PCP nonce must be ${PCP_NONCE_LENGTH} bytes`);
  }
  checkUint('internal port', request.internalPort, 1, 0xffff);
  checkUint('suggested external port', request.suggestedExternalPort, 0, 0xffff);
  const out = header(PCP_OP_MAP, request.lifetimeS, request.clientIp, PCP_MAP_PAYLOAD_LENGTH);
  const view = new DataView(out.buffer);
  const p = PCP_HEADER_LENGTH;
  out.set(request.nonce, p);
  out[p + 12] = request.protocol === 'udp' ? IPPROTO_UDP : IPPROTO_TCP;
  view.setUint16(p + 16, request.internalPort);
  view.setUint16(p + 18, request.suggestedExternalPort);
  // §11.1: with no preference the suggested external address is all zeros of the client's family
  // (::ffff:0.0.0.0 for IPv4).
  const suggested = request.suggestedExternalIp ?? (parseIPv4(request.clientIp) ? '0.0.0.0' : '::');
  out.set(pcpAddressBytes(suggested), p + 20);
  return out;
}

/**
 * Decodes a PCP response (§7.2, §8.3 validity rules): at least 24 bytes (a NAT-PMP version-0 answer
 * excepted: that is the server telling us it does not speak PCP), at most 1100, a multiple of 4, R bit
 * set, opcode MAP or ANNOUNCE; a successful MAP response carries its 36-byte payload; options after
 * the payload are walked (bounds-checked) and otherwise ignored — we send none, so none is mandatory.
 */
export function decodePcpResponse(data: Uint8Array): PcpResponse | PortmapError {
  if (data.length >= 2 && data[0] === NAT_PMP_VERSION && ((data[1] as number) & PCP_RESPONSE_BIT) !== 0) {
    // Only NAT-PMP's result 1 ("unsupported version", RFC 6886 §3.5) says the server does not speak
    // PCP; any other NAT-PMP reply (e.g. a late answer to a NAT-PMP request) is just not for us.
    if (data.length >= 4 && data[2] === 0 && data[3] === 1)
      return { kind: 'version-mismatch', version: NAT_PMP_VERSION };
    return new PortmapError(PortmapErrorCode.Malformed, 'a NAT-PMP reply where a PCP response was expected');
  }
  if (data.length < 4) return new PortmapError(PortmapErrorCode.Truncated, `PCP response of ${data.length} bytes`);
  if (data[0] !== PCP_VERSION) {
    // §9: a server of another version answers UNSUPP_VERSION with the version it speaks in the header.
    if (data[3] === PcpResult.UnsuppVersion) return { kind: 'version-mismatch', version: data[0] as number };
    return new PortmapError(PortmapErrorCode.Malformed, `PCP version ${String(data[0])}, expected 2`);
  }
  if (data.length < PCP_HEADER_LENGTH) {
    return new PortmapError(PortmapErrorCode.Truncated, `PCP response of ${data.length} bytes`);
  }
  if (data.length > PCP_MAX_MESSAGE || data.length % 4 !== 0) {
    return new PortmapError(PortmapErrorCode.Malformed, `PCP response length ${data.length} (max 1100, multiple of 4)`);
  }
  const op = data[1] as number;
  if ((op & PCP_RESPONSE_BIT) === 0) return new PortmapError(PortmapErrorCode.Malformed, 'PCP request, not a response');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const result = data[3] as number;
  const lifetimeS = view.getUint32(4);
  const epoch = view.getUint32(8);
  const opcode = op & ~PCP_RESPONSE_BIT;
  if (opcode === PCP_OP_ANNOUNCE) {
    const options = checkOptions(data, PCP_HEADER_LENGTH);
    if (options) return options;
    return { kind: 'announce', result, lifetimeS, epoch };
  }
  if (opcode !== PCP_OP_MAP) return new PortmapError(PortmapErrorCode.Malformed, `PCP response with opcode ${opcode}`);
  const end = PCP_HEADER_LENGTH + PCP_MAP_PAYLOAD_LENGTH;
  if (data.length < end) {
    return new PortmapError(
      PortmapErrorCode.Truncated,
      `PCP MAP response of ${data.length} bytes (payload needs ${end})`,
    );
  }
  const options = checkOptions(data, end);
  if (options) return options;
  const p = PCP_HEADER_LENGTH;
  return {
    kind: 'map',
    result,
    lifetimeS,
    epoch,
    nonce: data.slice(p, p + PCP_NONCE_LENGTH),
    protocol: data[p + 12] as number,
    internalPort: view.getUint16(p + 16),
    externalPort: view.getUint16(p + 18),
    externalIp: pcpAddressText(data.subarray(p + 20, p + 36)),
  };
}

/** Walks the options from `offset` (§7.3); an option running past the end makes the response unusable. */
function checkOptions(data: Uint8Array, offset: number): PortmapError | undefined {
  let at = offset;
  while (at < data.length) {
    if (at + 4 > data.length) return new PortmapError(PortmapErrorCode.Truncated, 'PCP option header cut short');
    const length = ((data[at + 2] as number) << 8) | (data[at + 3] as number);
    const padded = (length + 3) & ~3;
    if (at + 4 + padded > data.length) {
      return new PortmapError(PortmapErrorCode.Truncated, `PCP option ${String(data[at])} runs past the end`);
    }
    at += 4 + padded;
  }
  return undefined;
}

export function nonceEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}
