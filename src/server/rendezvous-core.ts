/**
 * Sans-IO rendezvous server (spec/rendezvous.md): sessions, authentication, presence, lookups,
 * connect-request routing, punch coordination, relay allocation. It owns no socket and no clock:
 * the adapter (server.ts) calls
 *   openSession(now) / receive(sessionId, message, now) / closeSession(sessionId, now)
 *   receiveDatagram(datagram, from, now)         for 0x12 datagrams on the UDP port
 *   openRelayStream / receiveRelayFrame / closeRelayStream   for stream-relay streams
 *   onTimeout(now) when nextDeadline() passes
 * and drains pollOutput() after each call. One handler per client message type, in one table.
 */
import type { Address } from '../transport/api.js';
import type { KeyPair } from '../crypto/keys.js';
import type { RandomSource } from '../crypto/sodium.js';
import { RendezvousError, RendezvousErrorCode } from '../traversal/rendezvous/errors.js';
import {
  NONCE_LENGTH,
  RENDEZVOUS_PROTOCOL_VERSION,
  decodeClientMessage,
  encodeMessage,
  toHex,
  type AnswerMessage,
  type ClientMessage,
  type ConnectMessage,
  type LookupMessage,
  type PingMessage,
  type PunchMessage,
  type RegisterMessage,
  type RelayAllocateMessage,
  type RelayReleaseMessage,
  type ServerMessage,
  type SignalMessage,
} from '../traversal/rendezvous/messages.js';
import { encodeNotify } from '../traversal/relay/udp-control.js';
import { RelayCore } from './relay-core.js';
import { OutputQueue } from './output-queue.js';
import { ConnectRequests } from './connect-requests.js';
import { verifyRegistration } from './registration-proof.js';
import { MailboxCore, type MailboxClient } from './mailbox-core.js';
import {
  DEFAULT_RENDEZVOUS_LIMITS,
  SessionDropReason,
  type RendezvousLimits,
  type RendezvousServerOptions,
  type RendezvousStats,
  type ServerOutput,
} from './rendezvous-api.js';
import {
  grantConsent,
  mayAddressPeer,
  newSession,
  relayConsent,
  takeToken,
  type Session,
} from './rendezvous-session.js';

export type { RendezvousServerOptions, RendezvousStats, ServerOutput } from './rendezvous-api.js';

const SWEEP_INTERVAL_MS = 1000;
/** Events worth duplicating over the UDP presence leg (latency-sensitive, small). */
const UDP_NOTIFY_EVENTS: ReadonlySet<string> = new Set([
  'punch-go',
  'signal-event',
  'connect-request',
  'connect-answer',
]);
/** NOTIFY datagrams are kept under a conservative path MTU (RFC 8085 §3.2). */
const MAX_NOTIFY_BODY = 1150;

type Handler<T extends ClientMessage> = (session: Session, message: T, now: number) => void;

export class RendezvousServerCore {
  readonly limits: RendezvousLimits;
  readonly relay: RelayCore;
  /** Mailboxes by nameplate for code-phrase transfers (spec/transfer.md §Mailbox). */
  readonly mailbox: MailboxCore;
  private readonly keyPair: KeyPair;
  private channelBindings: readonly Uint8Array[];
  private readonly random: RandomSource;
  private readonly sessions = new Map<number, Session>();
  private readonly online = new Map<string, Session>();
  private readonly requests = new ConnectRequests();
  private readonly perSource = new Map<string, number>();
  private readonly outputs = new OutputQueue<ServerOutput>();
  private nextSessionId = 1;
  private nextSweep = 0;
  private messagesReceived = 0;
  private messagesSent = 0;
  private registrations = 0;
  private connectRequests = 0;
  private readonly drops: Record<SessionDropReason, number>;

  private readonly handlers: { readonly [K in ClientMessage['t']]: Handler<Extract<ClientMessage, { t: K }>> } = {
    register: (s, m) => this.onRegister(s, m),
    lookup: (s, m) => this.onLookup(s, m),
    connect: (s, m, now) => this.onConnect(s, m, now),
    answer: (s, m) => this.onAnswer(s, m),
    signal: (s, m, now) => this.onSignal(s, m, now),
    punch: (s, m, now) => this.onPunch(s, m, now),
    'relay-allocate': (s, m, now) => this.onRelayAllocate(s, m, now),
    'relay-release': (s, m) => this.onRelayRelease(s, m),
    ping: (s, m) => this.onPing(s, m),
    'mailbox-open': (s, m, now) => this.onMailbox(s, m, now),
    'mailbox-put': (s, m, now) => this.onMailbox(s, m, now),
    'mailbox-close': (s, m, now) => this.onMailbox(s, m, now),
  };

  constructor(options: RendezvousServerOptions) {
    this.keyPair = options.staticKeyPair;
    this.random = options.random;
    this.limits = { ...DEFAULT_RENDEZVOUS_LIMITS, ...options.limits };
    this.channelBindings = options.channelBindings ?? [new Uint8Array(0)];
    this.relay = new RelayCore({
      random: options.random,
      ...(options.relayLimits ? { limits: options.relayLimits } : {}),
    });
    this.mailbox = new MailboxCore({
      random: options.random,
      ...(options.mailboxLimits ? { limits: options.mailboxLimits } : {}),
    });
    this.drops = Object.fromEntries(Object.values(SessionDropReason).map((r) => [r, 0])) as Record<
      SessionDropReason,
      number
    >;
  }

  get serverPublicKey(): Uint8Array {
    return this.keyPair.publicKey;
  }

  /** Replaces the accepted channel bindings (the adapter calls this when it renews its certificate). */
  setChannelBindings(bindings: readonly Uint8Array[]): void {
    this.channelBindings = [...bindings];
  }

  // ---- session lifecycle ------------------------------------------------------------------------

  /**
   * A transport session opened from `source` (its IP; omit when unknown); returns its id, or null
   * when the server or that source is at its session limit, and queues the challenge.
   */
  openSession(now: number, source = ''): number | null {
    if (this.sessions.size >= this.limits.maxSessions) return null;
    const fromSource = this.perSource.get(source) ?? 0;
    if (source !== '' && fromSource >= this.limits.maxSessionsPerSource) {
      this.drops[SessionDropReason.SourceLimit] += 1;
      return null;
    }
    if (source !== '') this.perSource.set(source, fromSource + 1);
    const nonce = new Uint8Array(NONCE_LENGTH);
    this.random(nonce);
    const session = newSession(this.nextSessionId++, nonce, source, now, this.limits);
    this.sessions.set(session.id, session);
    this.send(session, {
      t: 'challenge',
      version: RENDEZVOUS_PROTOCOL_VERSION,
      serverKey: this.keyPair.publicKey,
      nonce,
    });
    return session.id;
  }

  /** The transport session ended (or the core decided to end it): presence and relay legs go with it. */
  closeSession(sessionId: number, reason = 'closed'): void {
    const session = this.sessions.get(sessionId);
    if (!session) return;
    this.sessions.delete(sessionId);
    if (session.source !== '') {
      const n = (this.perSource.get(session.source) ?? 1) - 1;
      if (n > 0) this.perSource.set(session.source, n);
      else this.perSource.delete(session.source);
    }
    for (const peerId of session.consents) this.sessions.get(peerId)?.consents.delete(sessionId);
    if (session.keyHex !== null && this.online.get(session.keyHex) === session) this.online.delete(session.keyHex);
    this.relay.closeSession(sessionId, reason === 'replaced' ? 'peer-replaced' : 'peer-gone');
    this.drainRelay();
    this.mailbox.closeSession(sessionId);
    this.drainMailbox();
    for (const request of this.requests.dropSession(sessionId)) {
      const origin = this.sessions.get(request.from);
      if (origin) {
        origin.pending -= 1;
        this.sendError(origin, request.id, RendezvousErrorCode.PeerOffline, 'peer went offline before answering');
      }
    }
  }

  /** One control message from a session's control stream. Never throws on hostile input. */
  receive(sessionId: number, bytes: Uint8Array, now: number): void {
    const session = this.sessions.get(sessionId);
    if (!session) return;
    this.messagesReceived += 1;
    if (!takeToken(session, now, this.limits)) {
      this.drops[SessionDropReason.RateLimited] += 1;
      this.violation(session, 0, RendezvousErrorCode.RateLimited, 'message rate exceeded');
      return;
    }
    let message: ClientMessage;
    try {
      message = decodeClientMessage(bytes);
    } catch (error) {
      const code = error instanceof RendezvousError ? error.code : RendezvousErrorCode.Malformed;
      this.drops[code === RendezvousErrorCode.Oversize ? SessionDropReason.Oversize : SessionDropReason.Malformed] += 1;
      this.violation(session, 0, code, error instanceof Error ? error.message : 'malformed');
      return;
    }
    if (session.state !== 'registered' && message.t !== 'register') {
      this.drops[SessionDropReason.Unauthenticated] += 1;
      this.violation(
        session,
        'id' in message ? message.id : 0,
        RendezvousErrorCode.NotRegistered,
        `${message.t} before register`,
      );
      return;
    }
    session.lastActivity = now;
    (this.handlers[message.t] as Handler<ClientMessage>)(session, message, now);
  }

  /** A datagram for the relay/presence plane (first byte 0x12) arrived on the UDP port. */
  receiveDatagram(datagram: Uint8Array, from: Address, now: number): void {
    this.relay.receive(datagram, from, now);
    this.drainRelay();
  }

  /** A client opened a relay stream for `leg`; false (close it) unless the leg is this session's. */
  openRelayStream(sessionId: number, leg: Uint8Array): boolean {
    if (!this.sessions.get(sessionId)?.keyHex) return false;
    return this.relay.bindStream(sessionId, leg);
  }

  receiveRelayFrame(sessionId: number, leg: Uint8Array, inner: Uint8Array, now: number): void {
    this.relay.receiveStream(sessionId, leg, inner, now);
    this.drainRelay();
  }

  closeRelayStream(sessionId: number, leg: Uint8Array): void {
    this.relay.unbindStream(sessionId, leg);
  }

  pollOutput(): ServerOutput | null {
    return this.outputs.poll();
  }

  nextDeadline(): number {
    return Math.min(
      this.sessions.size === 0 && this.requests.size === 0 ? Infinity : this.nextSweep,
      this.relay.nextDeadline(),
      this.mailbox.nextDeadline(),
    );
  }

  /** Expires unauthenticated and idle sessions (presence expiry), pending requests, idle relays. */
  onTimeout(now: number): void {
    this.relay.onTimeout(now);
    this.drainRelay();
    this.mailbox.onTimeout(now);
    this.drainMailbox();
    if (now < this.nextSweep) return;
    this.nextSweep = now + SWEEP_INTERVAL_MS;
    for (const session of [...this.sessions.values()]) {
      if (session.state === 'challenged' && now - session.openedAt >= this.limits.authTimeoutMs) {
        this.endSession(session, 'auth-timeout');
      } else if (session.state === 'registered' && now - session.lastActivity >= this.limits.idleTimeoutMs) {
        this.endSession(session, 'idle');
      }
    }
    for (const request of this.requests.expire(now)) {
      const origin = this.sessions.get(request.from);
      if (origin) {
        origin.pending -= 1;
        this.sendError(origin, request.id, RendezvousErrorCode.Timeout, 'peer did not answer in time');
      }
    }
  }

  stats(): RendezvousStats {
    return {
      sessions: this.sessions.size,
      peersOnline: this.online.size,
      messagesReceived: this.messagesReceived,
      messagesSent: this.messagesSent,
      registrations: this.registrations,
      connectRequests: this.connectRequests,
      drops: { ...this.drops },
      relay: this.relay.stats(),
    };
  }

  /** True when a peer with this key has a registered session. */
  isOnline(publicKey: Uint8Array): boolean {
    return this.online.has(toHex(publicKey));
  }

  // ---- handlers (one per message type) ------------------------------------------------------------

  private onRegister(session: Session, m: RegisterMessage): void {
    if (session.state === 'registered') {
      // The nonce is single-use: a second register on the session is a replay.
      this.drops[SessionDropReason.Replay] += 1;
      this.violation(session, 0, RendezvousErrorCode.Replay, 'session already registered');
      return;
    }
    const proof = verifyRegistration(m, session.nonce, this.keyPair, this.channelBindings);
    if (proof === null) {
      this.drops[SessionDropReason.AuthFailed] += 1;
      this.sendError(session, 0, RendezvousErrorCode.AuthFailed, 'proof of key ownership did not verify');
      this.endSession(session, 'auth-failed');
      return;
    }
    session.state = 'registered';
    session.publicKey = m.publicKey;
    session.keyHex = toHex(m.publicKey);
    const previous = this.online.get(session.keyHex);
    this.online.set(session.keyHex, session);
    this.registrations += 1;
    const presence = this.relay.presenceLeg(session.id, session.keyHex);
    this.send(session, {
      t: 'registered',
      serverProof: proof,
      presenceId: presence.id,
      presenceKey: presence.key,
      idleTimeoutMs: this.limits.idleTimeoutMs,
    });
    if (previous && previous !== session) this.endSession(previous, 'replaced');
  }

  private onLookup(session: Session, m: LookupMessage): void {
    const peer = this.online.get(toHex(m.peer));
    const udp = peer ? this.relay.presenceAddress(peer.id) : null;
    this.send(session, {
      t: 'lookup-result',
      id: m.id,
      peer: m.peer,
      online: peer !== undefined,
      ...(udp ? { udp: { host: udp.address.host, port: udp.address.port } } : {}),
    });
  }

  private onConnect(session: Session, m: ConnectMessage, now: number): void {
    const peer = this.peerOf(session, m.peer, m.id);
    if (!peer) return;
    if (session.pending >= this.limits.maxPendingRequests) {
      this.drops[SessionDropReason.Quota] += 1;
      this.sendError(
        session,
        m.id,
        RendezvousErrorCode.Quota,
        `at most ${this.limits.maxPendingRequests} pending connect requests`,
      );
      return;
    }
    const rid = this.requests.add(session.id, peer.id, m.id, now + this.limits.requestTimeoutMs);
    session.pending += 1;
    this.connectRequests += 1;
    this.sendEvent(peer, {
      t: 'connect-request',
      seq: 0,
      rid,
      from: session.publicKey!,
      candidates: m.candidates,
      ...(m.payload ? { payload: m.payload } : {}),
    });
  }

  private onAnswer(session: Session, m: AnswerMessage): void {
    const request = this.requests.answer(m.rid, session.id);
    if (!request) {
      this.drops[SessionDropReason.UnknownRequest] += 1;
      this.sendError(session, 0, RendezvousErrorCode.UnknownRequest, `no pending request ${m.rid} for this session`);
      return;
    }
    const origin = this.sessions.get(request.from);
    if (!origin) return;
    origin.pending -= 1;
    if (m.accept) grantConsent(origin, session, this.limits, this.sessions);
    this.sendEvent(origin, {
      t: 'connect-answer',
      seq: 0,
      id: request.id,
      from: session.publicKey!,
      accept: m.accept,
      candidates: m.candidates,
      ...(m.payload ? { payload: m.payload } : {}),
      ...(m.reason !== undefined ? { reason: m.reason } : {}),
    });
  }

  private onSignal(session: Session, m: SignalMessage, now: number): void {
    const peer = this.peerOf(session, m.peer, 0);
    if (!peer || !this.mayAddress(session, peer, 0, now)) return;
    this.sendEvent(peer, { t: 'signal-event', seq: 0, from: session.publicKey!, kind: m.kind, data: m.data });
  }

  /**
   * Coordinated simultaneous open: both peers must send their first probes at about the same
   * instant so each NAT has an outbound mapping when the other's probe arrives. The server sends
   * "go" to both with delays that compensate their one-way delays (RTT/2): peer X starts after
   * max(owd) − owd(X) + margin, i.e. at the same absolute time T = now + max(owd) + margin.
   */
  private onPunch(session: Session, m: PunchMessage, now: number): void {
    session.rttMs = m.rttMs;
    const peer = this.peerOf(session, m.peer, m.id);
    if (!peer || !this.mayAddress(session, peer, m.id, now)) return;
    const owdSelf = session.rttMs / 2;
    const owdPeer = (peer.rttMs || session.rttMs) / 2;
    const latest = Math.max(owdSelf, owdPeer);
    const margin = this.limits.punchMarginMs;
    this.sendEvent(session, {
      t: 'punch-go',
      seq: 0,
      id: m.id,
      peer: peer.publicKey!,
      delayMs: Math.round(latest - owdSelf + margin),
    });
    this.sendEvent(peer, {
      t: 'punch-go',
      seq: 0,
      id: 0,
      peer: session.publicKey!,
      delayMs: Math.round(latest - owdPeer + margin),
    });
  }

  private onRelayAllocate(session: Session, m: RelayAllocateMessage, now: number): void {
    const peer = this.peerOf(session, m.peer, m.id);
    if (!peer) return;
    // Relay consent: a relay is only allocated between peers where one accepted the other's
    // connect, or where both asked for it; otherwise anyone could spend a victim's relay quota.
    if (!relayConsent(session, peer, now, this.limits, this.sessions)) {
      this.drops[SessionDropReason.NoConsent] += 1;
      this.sendError(
        session,
        m.id,
        RendezvousErrorCode.NoConsent,
        'no accepted connect with this peer: connect first, or both peers ask for the relay',
      );
      return;
    }
    const refused = this.relay.allocationRefused(session.keyHex!, peer.keyHex!);
    if (refused !== null) {
      this.drops[SessionDropReason.Quota] += 1;
      const who = refused === session.keyHex ? 'you have' : 'the peer has';
      this.sendError(
        session,
        m.id,
        RendezvousErrorCode.Quota,
        `${who} ${this.relay.limits.maxAllocationsPerPeer} relay allocations already`,
      );
      return;
    }
    const [mine, theirs] = this.relay.allocate(
      { sessionId: session.id, owner: session.keyHex! },
      { sessionId: peer.id, owner: peer.keyHex! },
      now,
    );
    const expiresInMs = this.relay.limits.idleTimeoutMs;
    this.sendEvent(session, {
      t: 'relay-allocated',
      seq: 0,
      id: m.id,
      peer: peer.publicKey!,
      channel: mine.id,
      bindKey: mine.key,
      expiresInMs,
    });
    this.sendEvent(peer, {
      t: 'relay-allocated',
      seq: 0,
      id: 0,
      peer: session.publicKey!,
      channel: theirs.id,
      bindKey: theirs.key,
      expiresInMs,
    });
  }

  private onRelayRelease(session: Session, m: RelayReleaseMessage): void {
    if (!this.relay.release(session.id, m.channel, 'released')) {
      this.drops[SessionDropReason.UnknownRequest] += 1;
      this.sendError(session, 0, RendezvousErrorCode.UnknownRequest, 'no such relay channel for this session');
    }
    this.drainRelay();
  }

  private onMailbox(session: Session, m: MailboxClient, now: number): void {
    this.mailbox.receive(session.id, m, now);
    this.drainMailbox();
  }

  private onPing(session: Session, m: PingMessage): void {
    this.send(session, { t: 'pong', id: m.id });
  }

  // ---- helpers -----------------------------------------------------------------------------------

  private peerOf(session: Session, key: Uint8Array, id: number): Session | null {
    const peer = this.online.get(toHex(key));
    if (!peer || peer === session) {
      this.drops[SessionDropReason.PeerOffline] += 1;
      this.sendError(
        session,
        id,
        RendezvousErrorCode.PeerOffline,
        peer ? 'cannot address yourself' : 'peer is not online',
      );
      return null;
    }
    return peer;
  }

  /** mayAddressPeer (rendezvous-session.ts), counting and answering a refusal. */
  private mayAddress(session: Session, peer: Session, id: number, now: number): boolean {
    if (mayAddressPeer(session, peer, now, this.limits)) return true;
    this.drops[SessionDropReason.Unsolicited] += 1;
    this.sendError(session, id, RendezvousErrorCode.RateLimited, 'unsolicited signal/punch to this peer rate-limited');
    return false;
  }

  /** Counts a protocol violation, answers with a typed error, and closes the session past the limit. */
  private violation(session: Session, id: number, code: RendezvousErrorCode, message: string): void {
    session.violations += 1;
    if (session.violations > this.limits.maxViolations) {
      this.endSession(session, 'violations');
      return;
    }
    // Rate-limit errors are answered once per burst only, so a flood is not mirrored back.
    if (code === RendezvousErrorCode.RateLimited && session.violations > 1) return;
    this.sendError(session, id, code, message);
  }

  private endSession(session: Session, reason: string): void {
    this.outputs.push({ kind: 'close', sessionId: session.id, reason });
    this.closeSession(session.id, reason);
  }

  private send(session: Session, message: ServerMessage): void {
    this.messagesSent += 1;
    this.outputs.push({ kind: 'send', sessionId: session.id, data: encodeMessage(message) });
  }

  private sendError(session: Session, id: number, code: RendezvousErrorCode, message: string): void {
    this.send(session, { t: 'error', id, code, message: message.slice(0, 256) });
  }

  /** Sends an event with the session's next seq; latency-sensitive ones also over validated UDP. */
  private sendEvent(session: Session, event: Extract<ServerMessage, { seq: number }>): void {
    session.eventSeq += 1;
    const message = { ...event, seq: session.eventSeq };
    const data = encodeMessage(message);
    this.messagesSent += 1;
    this.outputs.push({ kind: 'send', sessionId: session.id, data });
    if (UDP_NOTIFY_EVENTS.has(message.t) && data.length <= MAX_NOTIFY_BODY) {
      const udp = this.relay.presenceAddress(session.id);
      if (udp) this.outputs.push({ kind: 'udp', to: udp.address, data: encodeNotify(udp.leg.id, udp.leg.key, data) });
    }
  }

  private drainMailbox(): void {
    for (let out = this.mailbox.pollOutput(); out !== null; out = this.mailbox.pollOutput()) {
      const session = this.sessions.get(out.sessionId);
      if (!session) continue;
      if ('seq' in out.message) this.sendEvent(session, out.message);
      else this.send(session, out.message);
    }
  }

  /** Memory held per session by the core, for the limits' sake: the tracked-peer maps' sizes. */
  trackedPeers(sessionId: number): number {
    const s = this.sessions.get(sessionId);
    return s ? s.consents.size + s.relayWanted.size + s.unsolicited.size : 0;
  }

  private drainRelay(): void {
    for (let out = this.relay.pollOutput(); out !== null; out = this.relay.pollOutput()) {
      switch (out.kind) {
        case 'udp':
          this.outputs.push(out);
          break;
        case 'stream':
          this.outputs.push({ kind: 'relay-stream', sessionId: out.sessionId, leg: out.leg, data: out.data });
          break;
        case 'leg-closed': {
          const session = this.sessions.get(out.sessionId);
          if (session) {
            this.sendEvent(session, { t: 'relay-closed', seq: 0, channel: out.leg, reason: out.reason });
            this.outputs.push({ kind: 'relay-stream-close', sessionId: out.sessionId, leg: out.leg });
          }
          break;
        }
      }
    }
  }
}
