/**
 * NAT-PMP messages (RFC 6886 §3): encode the two requests a client sends, decode the gateway's
 * responses. Pure functions over bytes; decoding never throws — a datagram that is not a usable
 * response comes back as a PortmapError (the caller ignores it with that reason).
 *
 *   public address request  (§3.2)  version 0, opcode 0                                     2 bytes
 *   mapping request         (§3.3)  version 0, opcode 1 (UDP) / 2 (TCP), reserved, internal port,
 *                                   suggested external port, requested lifetime (s)        12 bytes
 *   responses                       version 0, opcode 128 + request opcode, result code, seconds
 *                                   since start of epoch, then the external address (12 bytes) or
 *                                   internal port, mapped external port, lifetime (16 bytes)
 */
import { checkUint, PortmapError, PortmapErrorCode } from './errors.js';

export const NAT_PMP_VERSION = 0;
/** Server port on the gateway (§3); clients also listen on 5350 for announcements (§3.2.1). */
export const NAT_PMP_SERVER_PORT = 5351;
export const NAT_PMP_OP_PUBLIC_ADDRESS = 0;
export const NAT_PMP_OP_MAP_UDP = 1;
export const NAT_PMP_OP_MAP_TCP = 2;
/** Responses carry opcode 128 + the request's opcode (§3.2, §3.3). */
export const NAT_PMP_RESPONSE_BIT = 0x80;

/** Result codes (§3.5). */
export const NatPmpResult = {
  Success: 0,
  UnsupportedVersion: 1,
  /** e.g. the box is not configured to allow mappings (parental controls, administratively off). */
  NotAuthorized: 2,
  /** e.g. the NAT has no DHCP-assigned WAN address yet. */
  NetworkFailure: 3,
  OutOfResources: 4,
  UnsupportedOpcode: 5,
} as const;

export interface NatPmpPublicAddressResponse {
  readonly kind: 'public-address';
  readonly result: number;
  readonly epoch: number;
  /** Dotted quad; meaningful when `result` is 0. */
  readonly external: string;
}

export interface NatPmpMapResponse {
  readonly kind: 'map';
  readonly protocol: 'udp' | 'tcp';
  readonly result: number;
  readonly epoch: number;
  readonly internalPort: number;
  readonly externalPort: number;
  readonly lifetimeS: number;
}

export type NatPmpResponse = NatPmpPublicAddressResponse | NatPmpMapResponse;

export function encodeNatPmpPublicAddressRequest(): Uint8Array {
  return Uint8Array.of(NAT_PMP_VERSION, NAT_PMP_OP_PUBLIC_ADDRESS);
}

/**
 * A mapping request; `lifetimeS` 0 with `externalPort` 0 deletes the mapping of `internalPort`
 * (§3.4). Throws PortmapError(InvalidArgument) for values that do not fit the fields.
 */
export function encodeNatPmpMapRequest(
  protocol: 'udp' | 'tcp',
  internalPort: number,
  suggestedExternalPort: number,
  lifetimeS: number,
): Uint8Array {
  checkUint('internal port', internalPort, 1, 0xffff);
  checkUint('suggested external port', suggestedExternalPort, 0, 0xffff);
  checkUint('lifetime', lifetimeS, 0, 0xffffffff);
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  out[0] = NAT_PMP_VERSION;
  out[1] = protocol === 'udp' ? NAT_PMP_OP_MAP_UDP : NAT_PMP_OP_MAP_TCP;
  view.setUint16(4, internalPort);
  view.setUint16(6, suggestedExternalPort);
  view.setUint32(8, lifetimeS);
  return out;
}

/**
 * Decodes a NAT-PMP response. Longer datagrams are accepted (§3.1 leaves room for growth: only the
 * fixed fields are read); shorter ones, other versions and requests are errors.
 */
export function decodeNatPmpResponse(data: Uint8Array): NatPmpResponse | PortmapError {
  if (data.length < 8) return new PortmapError(PortmapErrorCode.Truncated, `NAT-PMP response of ${data.length} bytes`);
  if (data[0] !== NAT_PMP_VERSION) {
    return new PortmapError(PortmapErrorCode.Malformed, `NAT-PMP version ${String(data[0])}, expected 0`);
  }
  const op = data[1] as number;
  if ((op & NAT_PMP_RESPONSE_BIT) === 0) {
    return new PortmapError(PortmapErrorCode.Malformed, `NAT-PMP request (opcode ${op}) where a response was expected`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const result = view.getUint16(2);
  const epoch = view.getUint32(4);
  const requestOp = op & ~NAT_PMP_RESPONSE_BIT;
  if (requestOp === NAT_PMP_OP_PUBLIC_ADDRESS) {
    // §3.5: an error response may be just the 8-byte header; the address is then absent.
    if (data.length < 12 && result === NatPmpResult.Success) {
      return new PortmapError(PortmapErrorCode.Truncated, `NAT-PMP public address response of ${data.length} bytes`);
    }
    const external = data.length >= 12 ? `${data[8]}.${data[9]}.${data[10]}.${data[11]}` : '0.0.0.0';
    return { kind: 'public-address', result, epoch, external };
  }
  if (requestOp === NAT_PMP_OP_MAP_UDP || requestOp === NAT_PMP_OP_MAP_TCP) {
    if (data.length < 16) {
      return new PortmapError(PortmapErrorCode.Truncated, `NAT-PMP mapping response of ${data.length} bytes`);
    }
    return {
      kind: 'map',
      protocol: requestOp === NAT_PMP_OP_MAP_UDP ? 'udp' : 'tcp',
      result,
      epoch,
      internalPort: view.getUint16(8),
      externalPort: view.getUint16(10),
      lifetimeS: view.getUint32(12),
    };
  }
  return new PortmapError(PortmapErrorCode.Malformed, `NAT-PMP response with unknown opcode ${op}`);
}

export function natPmpResultText(result: number): string {
  switch (result) {
    case NatPmpResult.Success:
      return 'success';
    case NatPmpResult.UnsupportedVersion:
      return 'unsupported version';
    case NatPmpResult.NotAuthorized:
      return 'not authorized/refused';
    case NatPmpResult.NetworkFailure:
      return 'network failure';
    case NatPmpResult.OutOfResources:
      return 'out of resources';
    case NatPmpResult.UnsupportedOpcode:
      return 'unsupported opcode';
    default:
      return `result ${result}`;
  }
}
