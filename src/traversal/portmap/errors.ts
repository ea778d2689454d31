/**
 * Errors of the port-mapping clients (NAT-PMP RFC 6886, PCP RFC 6887, UPnP IGD). A gateway is never
 * trusted: every reply that cannot be used becomes a PortmapError with a stable code — as an
 * `ignored` event (the reply is dropped, the transaction goes on) or a `failed` event (the mapping
 * attempt is over) — never an exception out of `receive`.
 */
import { PunchlineError } from '../../errors.js';

export const PortmapErrorCode = {
  /** Shorter than its fixed layout, or its options run past the end (RFC 6886 §3, RFC 6887 §7). */
  Truncated: 'ERR_PUNCHLINE_PORTMAP_TRUNCATED',
  /** Not a reply of the protocol we spoke: other version, no response bit, unknown opcode. */
  Malformed: 'ERR_PUNCHLINE_PORTMAP_MALFORMED',
  /** A reply whose source is not the gateway we asked (address or port). */
  WrongSource: 'ERR_PUNCHLINE_PORTMAP_WRONG_SOURCE',
  /** A PCP MAP reply whose nonce is not ours (RFC 6887 §11.3: silently ignored). */
  WrongNonce: 'ERR_PUNCHLINE_PORTMAP_WRONG_NONCE',
  /** A reply for another internal port or protocol than the one we asked to map. */
  WrongPort: 'ERR_PUNCHLINE_PORTMAP_WRONG_PORT',
  /** A reply nobody is waiting for (no request outstanding). */
  Unsolicited: 'ERR_PUNCHLINE_PORTMAP_UNSOLICITED',
  /** A granted mapping that cannot be used: external address 0.0.0.0, a multicast address, port 0. */
  BadMapping: 'ERR_PUNCHLINE_PORTMAP_BAD_MAPPING',
  /** The gateway answered with a non-zero result code (NAT-PMP §3.5, PCP §7.4) or a SOAP fault. */
  Refused: 'ERR_PUNCHLINE_PORTMAP_REFUSED',
  /** No (usable) answer within the retransmission schedule. */
  Timeout: 'ERR_PUNCHLINE_PORTMAP_TIMEOUT',
  /** The gateway speaks an older version (PCP UNSUPP_VERSION, NAT-PMP result 1). */
  UnsupportedVersion: 'ERR_PUNCHLINE_PORTMAP_UNSUPPORTED_VERSION',
  /** An HTTP response we refuse: bad status line, headers or framing, or larger than our limit. */
  Http: 'ERR_PUNCHLINE_PORTMAP_HTTP',
  /** An XML document we refuse: a DOCTYPE/entity declaration, too large, too deep, or not well-formed. */
  Xml: 'ERR_PUNCHLINE_PORTMAP_XML',
  /** A UPnP device without a WANIPConnection/WANPPPConnection service we can use. */
  NoService: 'ERR_PUNCHLINE_PORTMAP_NO_SERVICE',
  /** A URL in an SSDP reply or description that points away from the gateway that sent it. */
  ForeignUrl: 'ERR_PUNCHLINE_PORTMAP_FOREIGN_URL',
  /** No default gateway to ask (node adapter). */
  NoGateway: 'ERR_PUNCHLINE_PORTMAP_NO_GATEWAY',
  /** A transport failure of the adapter (socket error, connection refused). */
  Network: 'ERR_PUNCHLINE_PORTMAP_NETWORK',
  /** A caller's bad argument (port out of range, lifetime not positive). */
  InvalidArgument: 'ERR_PUNCHLINE_PORTMAP_INVALID_ARGUMENT',
  /** The client was closed. */
  Closed: 'ERR_PUNCHLINE_PORTMAP_CLOSED',
} as const;
export type PortmapErrorCode = (typeof PortmapErrorCode)[keyof typeof PortmapErrorCode];

export class PortmapError extends PunchlineError<PortmapErrorCode> {}

/** Throws PortmapError(InvalidArgument) unless `value` is an integer in [min, max]. */
export function checkUint(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new PortmapError(PortmapErrorCode.InvalidArgument, `${name} must be an integer ${min}..${max}, got ${value}`);
  }
}
