/**
 * Sans-IO STUN Binding client (RFC 8489 §6.2, RFC 5780 §7). Several transactions may run at once;
 * responses are matched by transaction ID only — with CHANGE-REQUEST they legitimately come from
 * another address than the one the request went to (RFC 5780 §4.4).
 *
 *   const id = client.request(server, now, { changePort: true })
 *   client.receive(bytes, from, now)             → true if it answered one of our transactions
 *   while ((t = client.pollTransmit(now))) send t.data to t.destination
 *   while ((e = client.pollEvent())) …           'success' | 'failure'
 *   arm a timer for client.nextDeadline(); on it: client.onTimeout(now)
 */
import type { Address, DataTransmit, RandomSource } from '../../transport/api.js';
import {
  attribute,
  AttributeType,
  decodeAddress,
  decodeErrorCode,
  decodeXorAddress,
  encodeChangeRequest,
  encodeResponsePort,
  encodeText,
  findAttribute,
  MAX_SOFTWARE_BYTES,
} from './attributes.js';
import { StunError, StunErrorCode } from './errors.js';
import {
  decodeStunMessage,
  encodeStunMessage,
  isStunMessage,
  StunClass,
  StunMethod,
  transactionKey,
  TRANSACTION_ID_LENGTH,
  type DecodedStunMessage,
  type StunAttribute,
} from './message.js';
import { ClientTransaction, type RetransmissionOptions } from './transaction.js';

export interface BindingRequestOptions {
  /** RFC 5780 §7.2: ask the server to answer from its other IP and/or port. */
  readonly changeIp?: boolean;
  readonly changePort?: boolean;
  /** RFC 5780 §7.5: ask the server to answer to this port (at our source IP). */
  readonly responsePort?: number;
  /** RFC 5780 §7.6: PADDING bytes to add (a multiple of 4 is sensible). */
  readonly padding?: number;
  readonly retransmission?: RetransmissionOptions;
  /** Caller's tag, echoed in the event. */
  readonly tag?: string;
}

export interface BindingSuccess {
  readonly type: 'success';
  readonly id: number;
  readonly tag: string | undefined;
  /** Our address as the server saw it (XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS). */
  readonly mapped: Address;
  /** Where the request was sent. */
  readonly destination: Address;
  /** Where the response came from. */
  readonly from: Address;
  readonly responseOrigin: Address | undefined;
  readonly otherAddress: Address | undefined;
  readonly software: string | undefined;
  /** From the first transmission to the response (ambiguous after retransmissions: Karn). */
  readonly elapsedMs: number;
  readonly transmissions: number;
}

export interface BindingFailure {
  readonly type: 'failure';
  readonly id: number;
  readonly tag: string | undefined;
  readonly destination: Address;
  readonly error: StunError;
  /** Set for error responses (RFC 8489 §14.8). */
  readonly errorCode: number | undefined;
}

export type BindingEvent = BindingSuccess | BindingFailure;

export interface BindingClientOptions {
  readonly random: RandomSource;
  readonly software?: string;
  readonly retransmission?: RetransmissionOptions;
  /** Add FINGERPRINT to requests (default true; RFC 8489 §7.3 recommends it on shared sockets). */
  readonly fingerprint?: boolean;
}

interface Pending {
  readonly id: number;
  readonly tag: string | undefined;
  readonly destination: Address;
  readonly request: Uint8Array;
  readonly transaction: ClientTransaction;
}

export class StunBindingClient {
  private readonly random: RandomSource;
  private readonly software: Uint8Array | undefined;
  private readonly retransmission: RetransmissionOptions;
  private readonly fingerprint: boolean;
  private readonly pending = new Map<string, Pending>();
  private readonly events: BindingEvent[] = [];
  private nextId = 1;

  constructor(options: BindingClientOptions) {
    this.random = options.random;
    this.software =
      options.software === undefined ? undefined : encodeText(options.software, MAX_SOFTWARE_BYTES, 'SOFTWARE');
    this.retransmission = options.retransmission ?? {};
    this.fingerprint = options.fingerprint ?? true;
  }

  /** Starts a Binding transaction; its first transmission is due at `now`. Returns its id. */
  request(destination: Address, now: number, options: BindingRequestOptions = {}): number {
    const transactionId = new Uint8Array(TRANSACTION_ID_LENGTH);
    this.random(transactionId);
    const attributes: StunAttribute[] = [];
    if (this.software) attributes.push(attribute(AttributeType.Software, this.software));
    if (options.changeIp || options.changePort) {
      attributes.push(
        attribute(
          AttributeType.ChangeRequest,
          encodeChangeRequest({ changeIp: !!options.changeIp, changePort: !!options.changePort }),
        ),
      );
    }
    if (options.responsePort !== undefined)
      attributes.push(attribute(AttributeType.ResponsePort, encodeResponsePort(options.responsePort)));
    if (options.padding) attributes.push(attribute(AttributeType.Padding, new Uint8Array(options.padding)));
    const request = encodeStunMessage(
      { method: StunMethod.Binding, cls: StunClass.Request, transactionId, attributes },
      { fingerprint: this.fingerprint },
    );
    const id = this.nextId++;
    const transaction = new ClientTransaction(now, { ...this.retransmission, ...options.retransmission });
    this.pending.set(transactionKey(transactionId), { id, tag: options.tag, destination, request, transaction });
    return id;
  }

  /** Stops a transaction without an event. */
  cancel(id: number): void {
    for (const [key, p] of this.pending) {
      if (p.id === id) {
        p.transaction.cancel();
        this.pending.delete(key);
      }
    }
  }

  /** Transaction ID (hex) of a pending request, e.g. to recognise it arriving back (hairpinning). */
  transactionIdOf(id: number): string | undefined {
    for (const [key, p] of this.pending) if (p.id === id) return key;
    return undefined;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Feeds a received datagram. Returns true if it was a response to one of our transactions (the
   * caller then drops it); false for anything else, including malformed or unmatched STUN.
   */
  receive(data: Uint8Array, from: Address, now: number): boolean {
    if (!isStunMessage(data)) return false;
    let message: DecodedStunMessage;
    try {
      message = decodeStunMessage(data);
    } catch {
      return false;
    }
    if (message.method !== StunMethod.Binding) return false;
    if (message.cls !== StunClass.SuccessResponse && message.cls !== StunClass.ErrorResponse) return false;
    const key = transactionKey(message.transactionId);
    const p = this.pending.get(key);
    if (!p) return false;
    this.pending.delete(key);
    p.transaction.succeed();
    this.events.push(this.toEvent(p, message, from, now));
    return true;
  }

  private toEvent(p: Pending, message: DecodedStunMessage, from: Address, now: number): BindingEvent {
    const base = { id: p.id, tag: p.tag, destination: p.destination };
    try {
      if (message.cls === StunClass.ErrorResponse) {
        const raw = findAttribute(message.attributes, AttributeType.ErrorCode);
        const { code, reason } = raw
          ? decodeErrorCode(raw)
          : { code: 400, reason: 'error response without ERROR-CODE' };
        const error = new StunError(StunErrorCode.ErrorResponse, `STUN error ${code} ${reason}`.trim());
        return { type: 'failure', ...base, error, errorCode: code };
      }
      const xor = findAttribute(message.attributes, AttributeType.XorMappedAddress);
      const plain = findAttribute(message.attributes, AttributeType.MappedAddress);
      // RFC 8489 §14.1: MAPPED-ADDRESS only for RFC 3489 servers; prefer XOR-MAPPED-ADDRESS.
      const mapped = xor ? decodeXorAddress(xor, message.transactionId) : plain ? decodeAddress(plain) : undefined;
      if (!mapped) {
        const error = new StunError(
          StunErrorCode.NoMappedAddress,
          'Binding success response without (XOR-)MAPPED-ADDRESS',
        );
        return { type: 'failure', ...base, error, errorCode: undefined };
      }
      const origin =
        findAttribute(message.attributes, AttributeType.ResponseOrigin) ??
        findAttribute(message.attributes, AttributeType.SourceAddress);
      const other =
        findAttribute(message.attributes, AttributeType.OtherAddress) ??
        findAttribute(message.attributes, AttributeType.ChangedAddress);
      const software = findAttribute(message.attributes, AttributeType.Software);
      return {
        type: 'success',
        ...base,
        mapped,
        from,
        responseOrigin: origin ? decodeAddress(origin) : undefined,
        otherAddress: other ? decodeAddress(other) : undefined,
        software: software ? new TextDecoder().decode(software) : undefined,
        elapsedMs: now - p.transaction.startedAt,
        transmissions: p.transaction.sent,
      };
    } catch (cause) {
      const error =
        cause instanceof StunError
          ? cause
          : new StunError(StunErrorCode.BadAttribute, 'malformed Binding response', { cause });
      return { type: 'failure', ...base, error, errorCode: undefined };
    }
  }

  /** Next request due now (first transmission or retransmission), or null. */
  pollTransmit(now: number): DataTransmit | null {
    for (const p of this.pending.values()) {
      if (p.transaction.pollTransmit(now)) return { destination: p.destination, data: p.request };
    }
    return null;
  }

  pollEvent(): BindingEvent | null {
    return this.events.shift() ?? null;
  }

  nextDeadline(): number {
    let deadline = Infinity;
    for (const p of this.pending.values()) deadline = Math.min(deadline, p.transaction.nextDeadline());
    return deadline;
  }

  /** Expires transactions whose schedule ran out (RFC 8489 §6.2.1). */
  onTimeout(now: number): void {
    for (const [key, p] of this.pending) {
      if (p.transaction.checkTimeout(now)) {
        this.pending.delete(key);
        const error = new StunError(
          StunErrorCode.Timeout,
          `no STUN response after ${p.transaction.sent} transmissions`,
        );
        this.events.push({
          type: 'failure',
          id: p.id,
          tag: p.tag,
          destination: p.destination,
          error,
          errorCode: undefined,
        });
      }
    }
  }
}
