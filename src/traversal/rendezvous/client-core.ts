/**
 * Sans-IO rendezvous client (spec/rendezvous.md). It owns no stream, socket or clock:
 *   receive(message, now)        a control message from the session's control stream
 *   receiveDatagram(datagram, now) a 0x12 control datagram from the server's UDP address
 *   pollTransmit()               next control message to write on the control stream
 *   pollDatagram()               next datagram to send to the server's UDP address
 *   pollEvent()                  next event for the application
 *   nextDeadline() / onTimeout(now)   pings (RTT + liveness) and UDP keepalives
 * Requests return the `id` that their answer or error event carries.
 */
import type { RandomSource } from '../../crypto/sodium.js';
import { LegBinder } from '../relay/leg-binder.js';
import {
  RelayControlType,
  isControlChannel,
  parseControl,
  parseRelayDatagram,
  verifyNotify,
  type ObservedAddress,
} from '../relay/udp-control.js';
import type { KeyPair } from '../../crypto/keys.js';
import { clientProof, constantTimeEqual, deriveAuthKey, serverProof } from './auth.js';
import { RendezvousError, RendezvousErrorCode, isRendezvousErrorCode } from './errors.js';
import {
  NONCE_LENGTH,
  RENDEZVOUS_PROTOCOL_VERSION,
  bytesEqual,
  decodeServerMessage,
  encodeMessage,
  toHex,
  type Candidate,
  type ConnectAnswerMessage,
  type ConnectRequestMessage,
  type ClientMessage,
  type ServerMessage,
  type Address,
} from './messages.js';

export type ClientEvent =
  | { readonly type: 'registered'; readonly serverKey: Uint8Array }
  | {
      readonly type: 'lookup-result';
      readonly id: number;
      readonly peer: Uint8Array;
      readonly online: boolean;
      readonly udp?: Address;
    }
  | ({ readonly type: 'connect-request' } & Omit<ConnectRequestMessage, 't' | 'seq'>)
  | ({ readonly type: 'connect-answer' } & Omit<ConnectAnswerMessage, 't' | 'seq'>)
  | { readonly type: 'signal'; readonly from: Uint8Array; readonly kind: string; readonly data: Uint8Array }
  | { readonly type: 'punch-go'; readonly id: number; readonly peer: Uint8Array; readonly delayMs: number }
  | {
      readonly type: 'relay-allocated';
      readonly id: number;
      readonly peer: Uint8Array;
      readonly channel: Uint8Array;
      readonly bindKey: Uint8Array;
      readonly expiresInMs: number;
    }
  | { readonly type: 'relay-closed'; readonly channel: Uint8Array; readonly reason: string }
  | { readonly type: 'relay-bound'; readonly channel: Uint8Array; readonly observed: ObservedAddress }
  | { readonly type: 'udp-bound'; readonly observed: ObservedAddress }
  | { readonly type: 'pong'; readonly id: number; readonly rttMs: number }
  | { readonly type: 'error'; readonly id: number; readonly error: RendezvousError }
  | { readonly type: 'mailbox-opened'; readonly id: number; readonly nameplate: number; readonly expiresInMs: number }
  | { readonly type: 'mailbox-message'; readonly nameplate: number; readonly data: Uint8Array }
  | { readonly type: 'mailbox-closed'; readonly nameplate: number; readonly reason: string }
  /** The session is unusable (authentication failed, server identity wrong...); close the transport. */
  | { readonly type: 'fatal'; readonly error: RendezvousError };

export interface RendezvousClientOptions {
  readonly staticKeyPair: KeyPair;
  /** The server's static public key, pinned (recommended). Without it the key from the challenge is trusted. */
  readonly serverPublicKey?: Uint8Array;
  /**
   * SHA-256 of the TLS certificate of the session's channel as this client saw it (RFC 5929 §4.1
   * tls-server-end-point), covered by both proofs so a relay-in-the-middle cannot pass. Default: empty
   * (no TLS channel, e.g. the simulator).
   */
  readonly channelBinding?: Uint8Array;
  readonly random: RandomSource;
  /** Ping period (RTT estimate, keeps the session from idling out). Default 15 s. */
  readonly pingIntervalMs?: number;
  /** UDP keepalive period of presence and relay legs. Default 15 s. */
  readonly keepaliveMs?: number;
}

/** How many recent event seqs to remember for de-duplication of WebTransport + UDP copies. */
const SEQ_MEMORY = 256;

export class RendezvousClientCore {
  state: 'awaiting-challenge' | 'registering' | 'registered' | 'failed' = 'awaiting-challenge';
  serverKey: Uint8Array | null = null;
  /** Smoothed RTT to the server (RFC 6298 §2 style), ms; 0 until measured. */
  rttMs = 0;
  private readonly keyPair: KeyPair;
  private readonly pinnedServerKey: Uint8Array | undefined;
  private readonly random: RandomSource;
  private readonly pingIntervalMs: number;
  private readonly keepaliveMs: number;
  private authKey: Uint8Array | null = null;
  private proofInput: {
    serverNonce: Uint8Array;
    clientNonce: Uint8Array;
    clientKey: Uint8Array;
    serverKey: Uint8Array;
    channelBinding: Uint8Array;
  } | null = null;
  private readonly channelBinding: Uint8Array;
  private presence: LegBinder | null = null;
  private presenceKey: Uint8Array | null = null;
  private readonly relayLegs = new Map<string, LegBinder>();
  private readonly transmit: Uint8Array[] = [];
  private readonly udp: Uint8Array[] = [];
  private readonly events: ClientEvent[] = [];
  private readonly seenSeqs = new Set<number>();
  private highestSeq = 0;
  private nextId = 1;
  private readonly pings = new Map<number, number>();
  private lastPing = -Infinity;

  constructor(options: RendezvousClientOptions) {
    this.keyPair = options.staticKeyPair;
    this.pinnedServerKey = options.serverPublicKey;
    this.channelBinding = options.channelBinding ?? new Uint8Array(0);
    this.random = options.random;
    this.pingIntervalMs = options.pingIntervalMs ?? 15_000;
    this.keepaliveMs = options.keepaliveMs ?? 15_000;
  }

  get publicKey(): Uint8Array {
    return this.keyPair.publicKey;
  }

  // ---- requests --------------------------------------------------------------------------------

  lookup(peer: Uint8Array): number {
    return this.request((id) => ({ t: 'lookup', id, peer }));
  }

  connect(peer: Uint8Array, candidates: readonly Candidate[], payload?: Uint8Array): number {
    return this.request((id) => ({ t: 'connect', id, peer, candidates, ...(payload ? { payload } : {}) }));
  }

  answer(
    rid: number,
    accept: boolean,
    candidates: readonly Candidate[],
    options: { payload?: Uint8Array; reason?: string } = {},
  ): void {
    this.queue({ t: 'answer', rid, accept, candidates, ...options });
  }

  signal(peer: Uint8Array, kind: string, data: Uint8Array): void {
    this.queue({ t: 'signal', peer, kind, data });
  }

  /** Asks the server to start a coordinated simultaneous punch with `peer` (both get punch-go). */
  punch(peer: Uint8Array): number {
    return this.request((id) => ({ t: 'punch', id, peer, rttMs: Math.min(60_000, Math.round(this.rttMs)) }));
  }

  allocateRelay(peer: Uint8Array): number {
    return this.request((id) => ({ t: 'relay-allocate', id, peer }));
  }

  releaseRelay(channel: Uint8Array): void {
    this.relayLegs.get(toHex(channel))?.stop();
    this.relayLegs.delete(toHex(channel));
    this.queue({ t: 'relay-release', channel });
  }

  /** Opens a mailbox (spec/transfer.md §Mailbox): nameplate 0 allocates one, another number claims it. */
  openMailbox(nameplate: number): number {
    return this.request((id) => ({ t: 'mailbox-open', id, nameplate }));
  }

  putMailbox(nameplate: number, data: Uint8Array): void {
    this.queue({ t: 'mailbox-put', nameplate, data });
  }

  closeMailbox(nameplate: number): void {
    this.queue({ t: 'mailbox-close', nameplate });
  }

  ping(now: number): number {
    const id = this.request((i) => ({ t: 'ping', id: i }));
    this.pings.set(id, now);
    this.lastPing = now;
    return id;
  }

  /** Starts keeping a UDP presence at the server (needs the registered session's presence leg). */
  startUdpPresence(now: number): void {
    if (!this.presence)
      throw new RendezvousError(RendezvousErrorCode.NotRegistered, 'register before starting UDP presence');
    this.presence.bind(now);
    this.drainLeg(this.presence);
  }

  /** Binds a relay leg (from a relay-allocated event) to this endpoint's UDP address. */
  bindRelayUdp(channel: Uint8Array, bindKey: Uint8Array, now: number): void {
    const key = toHex(channel);
    let leg = this.relayLegs.get(key);
    if (!leg) {
      leg = new LegBinder(channel.slice(), bindKey.slice(), this.keepaliveMs);
      this.relayLegs.set(key, leg);
    }
    leg.bind(now);
    this.drainLeg(leg);
  }

  // ---- inputs ----------------------------------------------------------------------------------

  /** A control message from the server. Malformed input becomes a 'fatal' event, never a throw. */
  receive(bytes: Uint8Array, now: number): void {
    let message: ServerMessage;
    try {
      message = decodeServerMessage(bytes);
    } catch (error) {
      this.fail(
        error instanceof RendezvousError
          ? error
          : new RendezvousError(RendezvousErrorCode.Malformed, 'undecodable server message'),
      );
      return;
    }
    this.handle(message, now);
  }

  /** A relay-control datagram (first byte 0x12, channel 0) from the server's UDP address. */
  receiveDatagram(datagram: Uint8Array, now: number): void {
    const relay = parseRelayDatagram(datagram);
    if (!relay || !isControlChannel(relay.channel)) return;
    const control = parseControl(relay.inner);
    if (!control) return;
    if (control.type === RelayControlType.Notify) {
      if (
        !this.presence ||
        !this.presenceKey ||
        !bytesEqual(control.leg, this.presence.id) ||
        !verifyNotify(control, this.presenceKey)
      )
        return;
      let message: ServerMessage;
      try {
        message = decodeServerMessage(control.body);
      } catch {
        return;
      }
      if ('seq' in message) this.handle(message, now);
      return;
    }
    if (this.presence && bytesEqual(control.leg, this.presence.id)) {
      if (this.presence.receive(control, now) && this.presence.observed)
        this.events.push({ type: 'udp-bound', observed: this.presence.observed });
      this.drainLeg(this.presence);
      return;
    }
    const leg = this.relayLegs.get(toHex(control.leg));
    if (leg) {
      if (leg.receive(control, now) && leg.observed)
        this.events.push({ type: 'relay-bound', channel: leg.id, observed: leg.observed });
      this.drainLeg(leg);
    }
  }

  pollTransmit(): Uint8Array | null {
    return this.transmit.shift() ?? null;
  }

  pollDatagram(): Uint8Array | null {
    return this.udp.shift() ?? null;
  }

  pollEvent(): ClientEvent | null {
    return this.events.shift() ?? null;
  }

  nextDeadline(): number {
    if (this.state !== 'registered') return Infinity;
    let t = this.lastPing + this.pingIntervalMs;
    if (this.presence) t = Math.min(t, this.presence.nextDeadline());
    for (const leg of this.relayLegs.values()) t = Math.min(t, leg.nextDeadline());
    return t;
  }

  onTimeout(now: number): void {
    if (this.state !== 'registered') return;
    if (now >= this.lastPing + this.pingIntervalMs) this.ping(now);
    if (this.presence) {
      this.presence.onTimeout(now);
      this.drainLeg(this.presence);
    }
    for (const leg of this.relayLegs.values()) {
      leg.onTimeout(now);
      this.drainLeg(leg);
    }
    for (const [id, sent] of this.pings) if (now - sent > 60_000) this.pings.delete(id);
  }

  // ---- internals -------------------------------------------------------------------------------

  private handle(message: ServerMessage, now: number): void {
    if ('seq' in message && !this.freshSeq(message.seq)) return;
    switch (message.t) {
      case 'challenge':
        return this.onChallenge(message);
      case 'registered': {
        if (this.state !== 'registering' || !this.authKey || !this.proofInput)
          return this.fail(protocol('unexpected registered'));
        if (!constantTimeEqual(serverProof(this.authKey, this.proofInput), message.serverProof)) {
          return this.fail(
            new RendezvousError(RendezvousErrorCode.ServerIdentity, 'server did not prove ownership of its static key'),
          );
        }
        this.state = 'registered';
        this.presence = new LegBinder(message.presenceId, message.presenceKey, this.keepaliveMs);
        this.presenceKey = message.presenceKey;
        this.events.push({ type: 'registered', serverKey: this.serverKey! });
        this.ping(now);
        return;
      }
      case 'lookup-result':
        this.events.push({
          type: 'lookup-result',
          id: message.id,
          peer: message.peer,
          online: message.online,
          ...(message.udp ? { udp: message.udp } : {}),
        });
        return;
      case 'connect-request':
        this.events.push({
          type: 'connect-request',
          rid: message.rid,
          from: message.from,
          candidates: message.candidates,
          ...(message.payload ? { payload: message.payload } : {}),
        });
        return;
      case 'connect-answer':
        this.events.push({
          type: 'connect-answer',
          id: message.id,
          from: message.from,
          accept: message.accept,
          candidates: message.candidates,
          ...(message.payload ? { payload: message.payload } : {}),
          ...(message.reason !== undefined ? { reason: message.reason } : {}),
        });
        return;
      case 'signal-event':
        this.events.push({ type: 'signal', from: message.from, kind: message.kind, data: message.data });
        return;
      case 'punch-go':
        this.events.push({ type: 'punch-go', id: message.id, peer: message.peer, delayMs: message.delayMs });
        return;
      case 'relay-allocated':
        this.events.push({
          type: 'relay-allocated',
          id: message.id,
          peer: message.peer,
          channel: message.channel,
          bindKey: message.bindKey,
          expiresInMs: message.expiresInMs,
        });
        return;
      case 'relay-closed':
        this.relayLegs.get(toHex(message.channel))?.stop();
        this.relayLegs.delete(toHex(message.channel));
        this.events.push({ type: 'relay-closed', channel: message.channel, reason: message.reason });
        return;
      case 'pong': {
        const sent = this.pings.get(message.id);
        if (sent === undefined) return;
        this.pings.delete(message.id);
        const sample = Math.max(0, now - sent);
        this.rttMs = this.rttMs === 0 ? sample : 0.875 * this.rttMs + 0.125 * sample;
        this.events.push({ type: 'pong', id: message.id, rttMs: sample });
        return;
      }
      case 'mailbox-opened':
      case 'mailbox-message':
      case 'mailbox-closed': {
        const { t, seq: _seq, ...fields } = message as typeof message & { seq?: number };
        this.events.push({ type: t, ...fields } as ClientEvent);
        return;
      }
      case 'error': {
        const code = isRendezvousErrorCode(message.code) ? message.code : RendezvousErrorCode.Protocol;
        const error = new RendezvousError(code, `server: ${message.message}`);
        if (code === RendezvousErrorCode.AuthFailed) return this.fail(error);
        this.events.push({ type: 'error', id: message.id, error });
        return;
      }
    }
  }

  private onChallenge(message: Extract<ServerMessage, { t: 'challenge' }>): void {
    if (this.state !== 'awaiting-challenge') return this.fail(protocol('second challenge'));
    if (message.version !== RENDEZVOUS_PROTOCOL_VERSION)
      return this.fail(protocol(`unsupported protocol version ${message.version}`));
    if (this.pinnedServerKey && !bytesEqual(this.pinnedServerKey, message.serverKey)) {
      return this.fail(
        new RendezvousError(RendezvousErrorCode.ServerIdentity, 'server key does not match the pinned key'),
      );
    }
    let authKey: Uint8Array;
    try {
      authKey = deriveAuthKey(this.keyPair.secretKey, message.serverKey);
    } catch (error) {
      return this.fail(error as RendezvousError);
    }
    const clientNonce = new Uint8Array(NONCE_LENGTH);
    this.random(clientNonce);
    this.serverKey = message.serverKey;
    this.authKey = authKey;
    this.proofInput = {
      serverNonce: message.nonce,
      clientNonce,
      clientKey: this.keyPair.publicKey,
      serverKey: message.serverKey,
      channelBinding: this.channelBinding,
    };
    this.state = 'registering';
    this.queue({
      t: 'register',
      publicKey: this.keyPair.publicKey,
      clientNonce,
      proof: clientProof(authKey, this.proofInput),
    });
  }

  /** True the first time a seq is seen (events may arrive on both carriers, in either order). */
  private freshSeq(seq: number): boolean {
    if (seq <= this.highestSeq - SEQ_MEMORY || this.seenSeqs.has(seq)) return false;
    this.seenSeqs.add(seq);
    if (seq > this.highestSeq) this.highestSeq = seq;
    if (this.seenSeqs.size > SEQ_MEMORY) {
      for (const s of this.seenSeqs) if (s <= this.highestSeq - SEQ_MEMORY) this.seenSeqs.delete(s);
    }
    return true;
  }

  private request(build: (id: number) => ClientMessage): number {
    if (this.state !== 'registered')
      throw new RendezvousError(RendezvousErrorCode.NotRegistered, 'not registered with the rendezvous server');
    const id = this.nextId++;
    this.queue(build(id));
    return id;
  }

  private queue(message: ClientMessage): void {
    this.transmit.push(encodeMessage(message));
  }

  private drainLeg(leg: LegBinder): void {
    for (let d = leg.pollTransmit(); d !== null; d = leg.pollTransmit()) this.udp.push(d);
  }

  private fail(error: RendezvousError): void {
    if (this.state === 'failed') return;
    this.state = 'failed';
    this.events.push({ type: 'fatal', error });
  }
}

function protocol(message: string): RendezvousError {
  return new RendezvousError(RendezvousErrorCode.Protocol, message);
}
