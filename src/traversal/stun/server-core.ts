/**
 * Sans-IO STUN server: one request in, at most one response out (RFC 8489 §6.3, RFC 5780 §6–7).
 *
 * Sockets are numbered by two bits — bit 1: alternate IP, bit 0: alternate port — so with an
 * alternate address the four sockets are 0 = primary IP:port, 1 = primary IP:alt port,
 * 2 = alt IP:primary port, 3 = alt IP:alt port. Only in that mode does the server honour
 * CHANGE-REQUEST and add OTHER-ADDRESS; without it a CHANGE-REQUEST asking for a change gets 420
 * (RFC 5780 §6.1), and one asking for no change is answered as a plain Binding request.
 *
 * Abuse limits: per-source token bucket (injected `now`); responses never exceed the request size
 * plus AMPLIFICATION_ALLOWANCE (the three address attributes the RFCs require); optional attributes
 * (SOFTWARE, FINGERPRINT) are dropped when they would not fit; RESPONSE-ADDRESS (RFC 3489) is never
 * honoured, RESPONSE-PORT only redirects to another port of the request's own source IP.
 */
import type { Address, DataTransmit } from '../../transport/api.js';
import {
  attribute,
  AttributeType,
  decodeChangeRequest,
  decodeResponsePort,
  encodeAddress,
  encodeErrorCode,
  encodeText,
  encodeUnknownAttributes,
  encodeXorAddress,
  findAttribute,
  isComprehensionRequired,
  MAX_SOFTWARE_BYTES,
} from './attributes.js';
import { StunError, StunErrorCode } from './errors.js';
import {
  decodeStunMessage,
  encodeStunMessage,
  StunClass,
  StunMethod,
  type DecodedStunMessage,
  type StunAttribute,
} from './message.js';
import { DEFAULT_RATE_LIMIT, SourceRateLimiter, type RateLimitOptions } from './rate-limit.js';

export type SocketIndex = 0 | 1 | 2 | 3;

/** Bytes a response may exceed its request by: three IPv6 address attributes (3 × 24). */
export const AMPLIFICATION_ALLOWANCE = 72;
/** Most attribute types listed in a 420 response. */
const MAX_UNKNOWN_LISTED = 16;

export interface StunServerCoreOptions {
  /** Primary address and port (socket 0). */
  readonly primary: Address;
  /** Alternate IP and alternate port (socket 3). Enables RFC 5780 behaviour discovery. */
  readonly alternate?: Address;
  readonly software?: string;
  readonly rateLimit?: Partial<RateLimitOptions>;
}

/** A DataTransmit plus the server socket to send it from. */
export interface ServerTransmit extends DataTransmit {
  /** Socket to send from. */
  readonly socket: SocketIndex;
}

export interface ServerCounters {
  received: number;
  responses: number;
  errorResponses: number;
  changedResponses: number;
  droppedMalformed: number;
  droppedNotRequest: number;
  droppedRateLimited: number;
  droppedOversize: number;
}

/** All-zero counters (also what a STUN adapter reports before its core exists). */
export function emptyServerCounters(): ServerCounters {
  return {
    received: 0,
    responses: 0,
    errorResponses: 0,
    changedResponses: 0,
    droppedMalformed: 0,
    droppedNotRequest: 0,
    droppedRateLimited: 0,
    droppedOversize: 0,
  };
}

const KNOWN_REQUEST_ATTRIBUTES = new Set<number>([
  AttributeType.Username,
  AttributeType.MessageIntegrity,
  AttributeType.MessageIntegritySha256,
  AttributeType.Realm,
  AttributeType.Nonce,
  AttributeType.Padding,
  AttributeType.ResponsePort,
]);

export class StunServerCore {
  readonly primary: Address;
  readonly alternate: Address | undefined;
  readonly counters: ServerCounters = emptyServerCounters();
  private readonly software: Uint8Array | undefined;
  private readonly limiter: SourceRateLimiter;

  constructor(options: StunServerCoreOptions) {
    this.primary = options.primary;
    this.alternate = options.alternate;
    if (this.alternate && (this.alternate.host === this.primary.host || this.alternate.port === this.primary.port)) {
      throw new StunError(
        StunErrorCode.InvalidArgument,
        'the alternate address needs both a different IP and a different port (RFC 5780 §6)',
      );
    }
    this.software =
      options.software === undefined ? undefined : encodeText(options.software, MAX_SOFTWARE_BYTES, 'SOFTWARE');
    this.limiter = new SourceRateLimiter({ ...DEFAULT_RATE_LIMIT, ...options.rateLimit });
  }

  /** true when serving RFC 5780 behaviour discovery (four sockets). */
  get discovery(): boolean {
    return this.alternate !== undefined;
  }

  /** The local address of a socket index. */
  socketAddress(index: SocketIndex): Address {
    const alt = this.alternate;
    if (!alt) return this.primary;
    return { host: index & 2 ? alt.host : this.primary.host, port: index & 1 ? alt.port : this.primary.port };
  }

  /** Socket indexes this server needs: [0] or [0, 1, 2, 3]. */
  get sockets(): SocketIndex[] {
    return this.alternate ? [0, 1, 2, 3] : [0];
  }

  /** Handles one datagram received on `socket` from `from`; returns the response to send, if any. */
  receive(data: Uint8Array, from: Address, now: number, socket: SocketIndex): ServerTransmit | null {
    this.counters.received++;
    if (from.port === 0) return this.drop('droppedMalformed');
    if (!this.limiter.allow(from.host, now)) return this.drop('droppedRateLimited');
    let request: DecodedStunMessage;
    try {
      request = decodeStunMessage(data, { allowClassic: true });
    } catch {
      return this.drop('droppedMalformed'); // RFC 8489 §6.3: malformed messages are silently discarded
    }
    if (request.cls !== StunClass.Request) return this.drop('droppedNotRequest');
    try {
      return this.answer(request, data.length, from, socket);
    } catch (error) {
      if (error instanceof StunError)
        return this.errorResponse(request, from, socket, 400, 'Bad Request', [], data.length);
      throw error;
    }
  }

  private answer(
    request: DecodedStunMessage,
    requestLength: number,
    from: Address,
    socket: SocketIndex,
  ): ServerTransmit | null {
    if (request.method !== StunMethod.Binding)
      return this.errorResponse(request, from, socket, 400, 'Bad Request', [], requestLength);
    // RFC 8489 §6.3.1.1: unknown comprehension-required attributes → 420 listing them.
    const unknown: number[] = [];
    for (const a of request.attributes) {
      // A classic RFC 3489 client's first test sends CHANGE-REQUEST with neither flag: that asks
      // for nothing a one-address server cannot do, so it is a plain Binding request (only a
      // request to change IP or port needs the alternate address, RFC 5780 §6.1).
      const known =
        KNOWN_REQUEST_ATTRIBUTES.has(a.type) ||
        (a.type === AttributeType.ChangeRequest && (this.discovery || asksNoChange(a.value)));
      if (isComprehensionRequired(a.type) && !known && !unknown.includes(a.type)) unknown.push(a.type);
    }
    if (unknown.length)
      return this.errorResponse(
        request,
        from,
        socket,
        420,
        'Unknown Attribute',
        unknown.slice(0, MAX_UNKNOWN_LISTED),
        requestLength,
      );

    const change = findAttribute(request.attributes, AttributeType.ChangeRequest);
    const { changeIp, changePort } = change ? decodeChangeRequest(change) : { changeIp: false, changePort: false };
    const outSocket = (socket ^ (changeIp ? 2 : 0) ^ (changePort ? 1 : 0)) as SocketIndex;
    const responsePortValue = findAttribute(request.attributes, AttributeType.ResponsePort);
    const responsePort = responsePortValue ? decodeResponsePort(responsePortValue) : undefined;
    if (responsePort === 0) return this.errorResponse(request, from, socket, 400, 'Bad Request', [], requestLength);
    const destination = responsePort === undefined ? from : { host: from.host, port: responsePort };
    const origin = this.socketAddress(outSocket);

    const required: StunAttribute[] = [];
    if (request.classic) {
      // RFC 3489 §11.2: MAPPED-ADDRESS, SOURCE-ADDRESS, CHANGED-ADDRESS.
      required.push(attribute(AttributeType.MappedAddress, encodeAddress(from)));
      if (this.alternate) {
        required.push(attribute(AttributeType.SourceAddress, encodeAddress(origin)));
        required.push(attribute(AttributeType.ChangedAddress, encodeAddress(this.alternate)));
      }
    } else {
      required.push(attribute(AttributeType.XorMappedAddress, encodeXorAddress(from, request.transactionId)));
      if (this.alternate) {
        required.push(attribute(AttributeType.ResponseOrigin, encodeAddress(origin)));
        required.push(attribute(AttributeType.OtherAddress, encodeAddress(this.alternate)));
      }
    }
    // RFC 5780 §7.6: answer PADDING with PADDING of the same size (it stays within the request's size).
    const padding = findAttribute(request.attributes, AttributeType.Padding);
    if (padding && !request.classic) required.push(attribute(AttributeType.Padding, new Uint8Array(padding.length)));

    const data = this.fit(request, StunClass.SuccessResponse, required, requestLength);
    if (!data) return this.drop('droppedOversize');
    this.counters.responses++;
    if (outSocket !== socket) this.counters.changedResponses++;
    return { socket: outSocket, destination, data };
  }

  private errorResponse(
    request: DecodedStunMessage,
    from: Address,
    socket: SocketIndex,
    code: number,
    reason: string,
    unknown: number[],
    requestLength: number,
  ): ServerTransmit | null {
    const required = [attribute(AttributeType.ErrorCode, encodeErrorCode({ code, reason }))];
    if (unknown.length) required.push(attribute(AttributeType.UnknownAttributes, encodeUnknownAttributes(unknown)));
    const data = this.fit(request, StunClass.ErrorResponse, required, requestLength);
    if (!data) return this.drop('droppedOversize');
    this.counters.errorResponses++;
    return { socket, destination: from, data };
  }

  /** Encodes the response with as many optional attributes as the no-amplification budget allows. */
  private fit(
    request: DecodedStunMessage,
    cls: StunClass,
    required: StunAttribute[],
    requestLength: number,
  ): Uint8Array | null {
    const budget = requestLength + AMPLIFICATION_ALLOWANCE;
    const base = { method: request.method, cls, transactionId: request.transactionId };
    const modern = !request.classic;
    const candidates: Array<{ attributes: StunAttribute[]; fingerprint: boolean }> = [];
    if (modern && this.software)
      candidates.push({
        attributes: [...required, attribute(AttributeType.Software, this.software)],
        fingerprint: true,
      });
    if (modern) candidates.push({ attributes: required, fingerprint: true });
    candidates.push({ attributes: required, fingerprint: false });
    for (const c of candidates) {
      const data = encodeStunMessage({ ...base, attributes: c.attributes }, { fingerprint: c.fingerprint });
      if (data.length <= budget) return data;
    }
    return null;
  }

  private drop(counter: keyof ServerCounters): null {
    this.counters[counter]++;
    return null;
  }
}

/** CHANGE-REQUEST whose value is well-formed with both flags clear. */
function asksNoChange(value: Uint8Array): boolean {
  try {
    const { changeIp, changePort } = decodeChangeRequest(value);
    return !changeIp && !changePort;
  } catch {
    return false;
  }
}
