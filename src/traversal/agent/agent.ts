/**
 * The traversal agent of one connection attempt between two peers (spec/traversal.md): sans-IO,
 * driven like every core (receive / pollTransmit / pollEvent / nextDeadline / onTimeout).
 *
 * The node layer gathers candidates and NAT behaviour, exchanges offers through the rendezvous
 * (`connect` / `answer`), builds a PunchSession with both sides' candidates and profiles, and calls
 * `start(at)` with the instant of the coordinated simultaneous open (`punch-go`). The session then
 * probes the candidate pairs (checks.ts), adds the birthday technique when one NAT is hard
 * (birthday.ts, strategy.ts), and reports the best validated pair as `selected`; it keeps consent
 * on that pair (RFC 7675) and reports `lost` when the peer stops answering on it. An attempt that
 * validates nothing ends with `attempt-failed`; the node layer may `start` another, which uses the
 * next technique. Datagrams leave on socket 0 (the endpoint's socket) or, on the hard side of a
 * birthday search, on extra socket k ≥ 1 that the node layer opens when asked (`open-sockets`).
 */
import { isIP } from 'node:net';
import type { Address, DataTransmit, RandomSource } from '../../transport/api.js';
import { PUNCH_NONCE_LENGTH, PUNCH_SESSION_ID_LENGTH } from '../../wire/probe.js';
import type { Candidate } from '../rendezvous/messages.js';
import { BirthdaySockets, BirthdaySpray } from './birthday.js';
import { candidatePriority, isPrivateHost, isUnicastHost, isUsableRemote } from './candidates.js';
import { CheckList, sameAddress, type Outstanding, type PairCheck } from './checks.js';
import { TraversalError, TraversalErrorCode } from './errors.js';
import { DEFAULT_TRAVERSAL_LIMITS, type TraversalLimits } from './limits.js';
import { formPairs, peerReflexivePair, type Role } from './pairs.js';
import { encodeProbe, probeSessionId, verifyProbe, type ProbeKeys } from './probe-auth.js';
import { MAX_ATTEMPTS, chooseTechnique, type SideProfile, type Technique } from './strategy.js';

export interface PunchSessionOptions {
  readonly role: Role;
  /** Address family of the endpoint's socket. */
  readonly family: 4 | 6;
  readonly sessionId: Uint8Array;
  readonly keys: ProbeKeys;
  readonly random: RandomSource;
  readonly local: { readonly candidates: readonly Candidate[]; readonly profile: SideProfile };
  readonly remote: {
    readonly candidates: readonly Candidate[];
    readonly profile: SideProfile;
    /** The peer's public IP as the rendezvous server saw it: the only host a birthday spray may target. */
    readonly serverSeenHost: string | null;
  };
  readonly limits?: Partial<TraversalLimits>;
}

export interface AgentTransmit extends DataTransmit {
  /** 0: the endpoint's socket; k ≥ 1: birthday socket k. */
  readonly socket: number;
  /** IP TTL for this datagram, or null for the socket's default. */
  readonly ttl: number | null;
}

export interface SelectedPath {
  readonly socket: number;
  readonly remote: Address;
  readonly rttMs: number;
}

export type AgentEvent =
  /**
   * The peer proved itself (an authenticated probe) from `remote` on `socket`: the node layer may
   * accept the peer's transport packets from there. Nothing is SENT there until it is `selected`.
   */
  | { readonly type: 'peer-address'; readonly socket: number; readonly remote: Address }
  | { readonly type: 'open-sockets'; readonly count: number }
  /**
   * Close the birthday sockets except `keep`: every socket the peer proved itself on (the two sides
   * may have picked different winners; each must still receive on the other's).
   */
  | { readonly type: 'close-sockets'; readonly keep: readonly number[] }
  | ({ readonly type: 'selected' } & SelectedPath)
  | { readonly type: 'lost'; readonly socket: number; readonly remote: Address }
  | {
      readonly type: 'attempt-failed';
      readonly attempt: number;
      readonly technique: Technique;
      /** Another attempt (with the next technique) is worth starting. */
      readonly retry: boolean;
    };

export interface PunchSessionStats {
  readonly attempts: number;
  readonly technique: Technique | null;
  readonly probesSent: number;
  readonly repliesSent: number;
  /** Probes of this session that failed authentication, or replies that matched nothing we sent. */
  readonly rejected: number;
  readonly sprayed: number;
}

function nonceKey(nonce: Uint8Array): bigint {
  return new DataView(nonce.buffer, nonce.byteOffset, nonce.byteLength).getBigUint64(0);
}

export class PunchSession {
  readonly sessionId: Uint8Array;
  private readonly options: PunchSessionOptions;
  private readonly limits: TraversalLimits;
  private readonly events: AgentEvent[] = [];
  private readonly replies: AgentTransmit[] = [];
  private readonly outstanding = new Map<bigint, Outstanding>();
  private attempt = -1;
  /** Attempts before this one succeeded: a pair that worked once (then died) earns fresh attempts. */
  private attemptBase = 0;
  /** Probes that count against maxProbes (consent probes do not: they are rate-bound by themselves). */
  private searchProbes = 0;
  private technique: Technique | null = null;
  private startAt = Infinity;
  private attemptEndAt = Infinity;
  private checks: CheckList | null = null;
  private spray: BirthdaySpray | null = null;
  private sockets: BirthdaySockets | null = null;
  private socketTargets: Address[] = [];
  private peerReflexive = 0;
  /** Birthday sockets the peer proved itself on (an authenticated probe or reply arrived there). */
  private readonly provenSockets = new Set<number>();
  private socketsCloseAt = Infinity;
  private remoteServerSeenHost: string | null;
  /** (socket, address) pairs already reported as `peer-address` (bounded). */
  private readonly peerAddresses = new Set<string>();
  private selected: { socket: number; remote: Address; rttMs: number; priority: number } | null = null;
  private lastConsentAt = 0;
  private nextConsentAt = Infinity;
  private replyTokens: number;
  private replyRefillAt = 0;
  private closed = false;
  private probesSent = 0;
  private repliesSent = 0;
  private rejected = 0;

  constructor(options: PunchSessionOptions) {
    if (options.sessionId.length !== PUNCH_SESSION_ID_LENGTH)
      throw new TraversalError(TraversalErrorCode.InvalidArgument, 'punch session ID must be 8 bytes');
    this.options = options;
    this.sessionId = options.sessionId.slice();
    this.limits = { ...DEFAULT_TRAVERSAL_LIMITS, ...options.limits };
    this.replyTokens = this.limits.replyBurst;
    this.remoteServerSeenHost = options.remote.serverSeenHost;
  }

  /** The validated pair in use, if any. */
  get path(): SelectedPath | null {
    return this.selected
      ? { socket: this.selected.socket, remote: this.selected.remote, rttMs: this.selected.rttMs }
      : null;
  }

  /** True while an attempt runs or is scheduled. */
  get punching(): boolean {
    return this.startAt !== Infinity || this.attemptEndAt !== Infinity;
  }

  /** Attempts left (each `start` uses one). */
  get attemptsLeft(): number {
    return Math.max(0, MAX_ATTEMPTS - (this.attempt + 1 - this.attemptBase));
  }

  /** Starts the next attempt at `at` (the coordinated simultaneous open instant), or now if past. */
  start(at: number): void {
    if (this.closed || this.attemptsLeft === 0) return;
    this.startAt = Math.min(this.startAt, at);
  }

  /** The peer's public IP as the rendezvous server saw it, when it was learnt after construction. */
  setRemoteServerSeenHost(host: string): void {
    this.remoteServerSeenHost = host;
  }

  /** The node layer opened extra sockets 1..count for a birthday search. */
  socketsOpened(count: number): void {
    this.sockets?.setOpened(count);
  }

  close(): void {
    this.closed = true;
    this.startAt = Infinity;
    this.attemptEndAt = Infinity;
    this.checks = null;
    this.spray = null;
    this.sockets = null;
    this.selected = null;
    this.outstanding.clear();
    this.replies.length = 0;
  }

  stats(): PunchSessionStats {
    return {
      attempts: this.attempt + 1,
      technique: this.technique,
      probesSent: this.probesSent,
      repliesSent: this.repliesSent,
      rejected: this.rejected,
      sprayed: this.spray?.sent ?? 0,
    };
  }

  // ---- core verbs -------------------------------------------------------------------------------

  /**
   * A punch-probe datagram that arrived on `socket` from `from`. Returns false when it belongs to
   * another session (the caller may offer it elsewhere); true when consumed (used or dropped).
   */
  receive(datagram: Uint8Array, from: Address, now: number, socket = 0): boolean {
    const sid = probeSessionId(datagram);
    if (!sid || !bytesEqual(sid, this.sessionId)) return false;
    if (this.closed) return true;
    const probe = verifyProbe(this.options.keys.receive, this.sessionId, datagram);
    if (!probe) {
      this.rejected++;
      return true;
    }
    this.notePeerAddress(from, socket);
    if (!probe.reply) {
      this.answer(probe.nonce, from, socket, now, datagram.length);
      this.trigger(from, socket, now);
      return true;
    }
    const key = nonceKey(probe.nonce);
    const sent = this.outstanding.get(key);
    // Symmetric check (RFC 8445 §7.2.5.2.1): the reply must come from where the probe went, to the
    // socket it left from. Anything else validates nothing.
    if (!sent || sent.socket !== socket || !sameAddress(sent.destination, from)) {
      this.rejected++;
      return true;
    }
    this.outstanding.delete(key);
    const rtt = Math.max(0, now - sent.sentAt);
    if (sent.purpose === 'consent') {
      if (this.selected && this.selected.socket === socket && sameAddress(this.selected.remote, from)) {
        this.lastConsentAt = now;
        this.selected.rttMs = rtt;
      }
      return true;
    }
    let check = sent.check;
    if (!check && this.checks) {
      // A sprayed (or opening) probe was answered: that port is a new, already validated pair.
      check = this.checks.add(peerReflexivePair(this.options.role, from, this.localPublicPriority()), socket, now);
    }
    if (check) {
      check.state = 'succeeded';
      check.rttMs = rtt;
      this.onSucceeded(now);
    }
    return true;
  }

  pollTransmit(now: number): AgentTransmit | null {
    const reply = this.replies.shift();
    if (reply) return reply;
    if (this.closed) return null;
    if (this.selected && now >= this.nextConsentAt) {
      this.nextConsentAt = now + this.limits.consentIntervalMs;
      return this.probe(now, this.selected.remote, this.selected.socket, null, 'consent', null);
    }
    if (this.searchProbes >= this.limits.maxProbes) return null;
    const check = this.checks?.due(now) ?? null;
    if (check) return this.probe(now, check.pair.remote, check.socket, null, 'check', check);
    if (this.sockets && this.socketTargets.length > 0) {
      const k = this.sockets.next(now);
      if (k > 0) {
        const target = this.socketTargets[(k - 1) % this.socketTargets.length]!;
        return this.probe(now, target, k, this.limits.birthdayTtl, 'open', null);
      }
    }
    if (this.spray) {
      const target = this.spray.next(now);
      if (target) return this.probe(now, target, 0, null, 'spray', null);
    }
    return null;
  }

  pollEvent(): AgentEvent | null {
    return this.events.shift() ?? null;
  }

  nextDeadline(): number {
    if (this.closed) return Infinity;
    let t = Math.min(this.startAt, this.attemptEndAt);
    if (this.checks) t = Math.min(t, this.checks.nextDeadline());
    if (this.sockets) t = Math.min(t, this.sockets.nextDeadline(), this.socketsCloseAt);
    if (this.spray) t = Math.min(t, this.spray.nextDeadline());
    if (this.selected) t = Math.min(t, this.nextConsentAt, this.lastConsentAt + this.limits.consentTimeoutMs);
    return t;
  }

  onTimeout(now: number): void {
    if (this.closed) return;
    if (now >= this.startAt) {
      this.startAt = Infinity;
      this.beginAttempt(now);
    }
    if (this.sockets && now >= this.socketsCloseAt) this.closeSockets();
    if (now >= this.attemptEndAt) this.endAttempt();
    if (this.selected && now - this.lastConsentAt >= this.limits.consentTimeoutMs) {
      const lost = this.selected;
      this.selected = null;
      this.nextConsentAt = Infinity;
      this.events.push({ type: 'lost', socket: lost.socket, remote: lost.remote });
    }
    // Outstanding probes older than any retransmission schedule can no longer validate anything.
    const horizon = now - Math.max(this.limits.birthdayDurationMs, this.limits.consentTimeoutMs);
    if (this.outstanding.size > 0 && !this.punching)
      for (const [k, o] of this.outstanding) if (o.sentAt < horizon) this.outstanding.delete(k);
  }

  // ---- internals --------------------------------------------------------------------------------

  private beginAttempt(now: number): void {
    this.attempt++;
    const { local, remote, role, family } = this.options;
    const technique = chooseTechnique(local.profile, remote.profile, this.attempt - this.attemptBase);
    this.technique = technique;
    this.checks = new CheckList(this.limits);
    this.peerReflexive = 0;
    for (const pair of formPairs(role, family, local.candidates, remote.candidates)) this.checks.add(pair, 0, now);
    let duration = this.limits.attemptTimeoutMs;
    // Sprayed only at a unicast host of our family (a hostile server could name a broadcast address).
    const sprayHost = this.remoteServerSeenHost;
    if (
      technique === 'birthday-spray' &&
      sprayHost &&
      isUnicastHost(sprayHost) &&
      isIP(sprayHost) === this.options.family
    ) {
      this.spray = new BirthdaySpray(sprayHost, this.limits, this.options.random, now);
      duration = this.limits.birthdayDurationMs;
    } else if (technique === 'birthday-sockets') {
      // Open only towards the peer's public candidates (reflexive, mapped, or a public host address):
      // nothing else can answer from the internet.
      this.socketTargets = remote.candidates
        .filter(
          (c) =>
            c.type !== 'relay' &&
            isUsableRemote(c) &&
            isIP(c.host) === this.options.family &&
            (c.type !== 'host' || !isPrivateHost(c.host)),
        )
        .map((c) => ({ host: c.host, port: c.port }));
      const count = Math.min(this.limits.birthdaySockets, remote.profile.birthdaySockets > 0 ? 256 : 0);
      if (this.socketTargets.length > 0 && count > 0) {
        this.sockets = new BirthdaySockets(count, this.limits, now);
        // A new search's sockets are new sockets: what the peer proved on the old ones is void.
        this.provenSockets.clear();
        this.peerAddresses.clear();
        this.events.push({ type: 'open-sockets', count });
        duration = this.limits.birthdayDurationMs;
      }
    }
    this.attemptEndAt = now + duration;
  }

  private endAttempt(): void {
    this.attemptEndAt = Infinity;
    const technique = this.technique ?? 'relay-only';
    if (this.sockets) this.closeSockets();
    this.spray = null;
    this.checks = null;
    if (!this.selected)
      this.events.push({
        type: 'attempt-failed',
        attempt: this.attempt,
        technique,
        retry: this.attemptsLeft > 0,
      });
  }

  private onSucceeded(now: number): void {
    const best = this.checks?.best();
    if (!best) return;
    if (this.selected && this.selected.priority >= best.pair.priority) return;
    this.selected = { socket: best.socket, remote: best.pair.remote, rttMs: best.rttMs, priority: best.pair.priority };
    this.lastConsentAt = now;
    this.nextConsentAt = now + this.limits.consentIntervalMs;
    this.attemptBase = this.attempt + 1;
    this.events.push({ type: 'selected', socket: best.socket, remote: best.pair.remote, rttMs: best.rttMs });
    // The birthday search is over once a pair works: stop spraying; the extra sockets close after a
    // short grace, in which the peer's own choice of socket still proves itself (see close-sockets).
    if (this.spray) this.spray.stopped = true;
    if (this.sockets && this.socketsCloseAt === Infinity) this.socketsCloseAt = now + this.limits.birthdayGraceMs;
  }

  /** Answers an authenticated probe (rate-limited: replies never outnumber what the bucket allows). */
  private answer(nonce: Uint8Array, to: Address, socket: number, now: number, length: number): void {
    const elapsed = now - this.replyRefillAt;
    if (elapsed > 0) {
      this.replyTokens = Math.min(this.limits.replyBurst, this.replyTokens + (elapsed * this.limits.replyRate) / 1000);
      this.replyRefillAt = now;
    }
    if (this.replyTokens < 1) return;
    this.replyTokens--;
    this.repliesSent++;
    // The reply is as long as the probe (≤ the probe: never an amplifier).
    const data = encodeProbe(this.options.keys.send, true, this.sessionId, nonce, Math.min(length, 1200));
    this.replies.push({ destination: { host: to.host, port: to.port }, data, socket, ttl: null });
  }

  /** An authenticated probe from `from` on `socket`: check back at once (RFC 8445 §7.3.1.4). */
  private trigger(from: Address, socket: number, now: number): void {
    if (!this.checks) return;
    const existing = this.checks.find(socket, from);
    if (existing) {
      this.checks.add(existing.pair, socket, now, true);
      return;
    }
    if (this.peerReflexive >= this.limits.maxPeerReflexive) return;
    this.peerReflexive++;
    this.checks.add(peerReflexivePair(this.options.role, from, this.localPublicPriority()), socket, now, true);
  }

  private closeSockets(): void {
    const keep = new Set(this.selected ? [...this.provenSockets] : []);
    if (this.selected && this.selected.socket > 0) keep.add(this.selected.socket);
    keep.delete(0);
    this.events.push({ type: 'close-sockets', keep: [...keep].sort((a, b) => a - b) });
    this.sockets = null;
    this.socketsCloseAt = Infinity;
  }

  private notePeerAddress(from: Address, socket: number): void {
    if (socket > 0) this.provenSockets.add(socket);
    if (this.peerAddresses.size >= 64) return;
    const key = `${socket}|${from.host}|${from.port}`;
    if (this.peerAddresses.has(key)) return;
    this.peerAddresses.add(key);
    this.events.push({ type: 'peer-address', socket, remote: { host: from.host, port: from.port } });
  }

  private localPublicPriority(): number {
    const pub = this.options.local.candidates.find((c) => c.type === 'srflx' || c.type === 'mapped');
    return pub?.priority ?? candidatePriority('srflx', 0);
  }

  private probe(
    now: number,
    destination: Address,
    socket: number,
    ttl: number | null,
    purpose: Outstanding['purpose'],
    check: PairCheck | null,
  ): AgentTransmit {
    const nonce = new Uint8Array(PUNCH_NONCE_LENGTH);
    this.options.random(nonce);
    this.outstanding.set(nonceKey(nonce), { socket, destination, sentAt: now, check, purpose });
    this.probesSent++;
    if (purpose !== 'consent') this.searchProbes++;
    const data = encodeProbe(this.options.keys.send, false, this.sessionId, nonce);
    return { destination, data, socket, ttl };
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
