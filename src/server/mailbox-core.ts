/**
 * Sans-IO mailboxes by nameplate (spec/transfer.md §Mailbox): how two peers that know only a short
 * code meet at the rendezvous server without knowing each other's keys. The sender opens a mailbox
 * and gets a fresh small number (the code's nameplate); the receiver opens the same number; each
 * side's `mailbox-put` is delivered to the other (queued until it arrives). The server only relays
 * opaque bytes: the PAKE that runs through the mailbox makes them useless to it.
 *
 * Rules (why: one online guess per code, spec/transfer.md §Security):
 * - one claim per side: a third `mailbox-open` of a nameplate burns it (both sides get
 *   `mailbox-closed` reason `crowded`) — a second receiver, or a guesser, ends the code;
 * - burn after use: when either side closes or its session ends, the mailbox is gone (`peer-closed`,
 *   `peer-gone`); a nameplate is never reopened by number;
 * - nameplates expire: unclaimed after `openTtlMs`, claimed but silent after `idleTtlMs`.
 *
 * Verbs: receive(sessionId, message, now), closeSession(sessionId), onTimeout(now), nextDeadline(),
 * pollOutput() → a server message for one session (the rendezvous core encodes and numbers it).
 */
import type { RandomSource } from '../crypto/sodium.js';
import { RendezvousErrorCode } from '../traversal/rendezvous/errors.js';
import type {
  MailboxCloseMessage,
  MailboxOpenMessage,
  MailboxPutMessage,
  ServerMessage,
} from '../traversal/rendezvous/messages.js';
import { OutputQueue } from './output-queue.js';

export interface MailboxLimits {
  /** A nameplate nobody claimed expires after this long. */
  readonly openTtlMs: number;
  /** A claimed mailbox with no message for this long expires. */
  readonly idleTtlMs: number;
  /** Messages held for a side that has not arrived yet. */
  readonly maxQueued: number;
  /** Mailboxes one session may hold at once. */
  readonly maxPerSession: number;
  /** Mailboxes on the server at once. */
  readonly maxMailboxes: number;
}

const DEFAULT_MAILBOX_LIMITS: MailboxLimits = {
  openTtlMs: 30 * 60_000,
  idleTtlMs: 5 * 60_000,
  maxQueued: 8,
  maxPerSession: 4,
  maxMailboxes: 50_000,
};

export type MailboxClient = MailboxOpenMessage | MailboxPutMessage | MailboxCloseMessage;

export interface MailboxOutput {
  readonly sessionId: number;
  readonly message: ServerMessage;
}

interface Mailbox {
  readonly nameplate: number;
  readonly sides: number[];
  /** Messages put before the other side arrived: [from session, data]. */
  readonly queued: { from: number; data: Uint8Array }[];
  expires: number;
}

const SWEEP_INTERVAL_MS = 1000;

export class MailboxCore {
  readonly limits: MailboxLimits;
  private readonly random: RandomSource;
  private readonly mailboxes = new Map<number, Mailbox>();
  private readonly outputs = new OutputQueue<MailboxOutput>();
  private nextSweep = 0;

  constructor(options: { random: RandomSource; limits?: Partial<MailboxLimits> }) {
    this.random = options.random;
    this.limits = { ...DEFAULT_MAILBOX_LIMITS, ...options.limits };
  }

  get size(): number {
    return this.mailboxes.size;
  }

  receive(sessionId: number, message: MailboxClient, now: number): void {
    switch (message.t) {
      case 'mailbox-open':
        return message.nameplate === 0
          ? this.allocate(sessionId, message.id, now)
          : this.claim(sessionId, message, now);
      case 'mailbox-put':
        return this.put(sessionId, message, now);
      case 'mailbox-close':
        return this.close(sessionId, message.nameplate);
    }
  }

  /** A session ended: its mailboxes are burned, the other sides told. */
  closeSession(sessionId: number): void {
    for (const mailbox of [...this.mailboxes.values()]) {
      if (mailbox.sides.includes(sessionId)) this.burn(mailbox, 'peer-gone', sessionId);
    }
  }

  pollOutput(): MailboxOutput | null {
    return this.outputs.poll();
  }

  nextDeadline(): number {
    return this.mailboxes.size === 0 ? Infinity : this.nextSweep;
  }

  onTimeout(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + SWEEP_INTERVAL_MS;
    for (const mailbox of [...this.mailboxes.values()]) if (now >= mailbox.expires) this.burn(mailbox, 'expired', -1);
  }

  // ---- operations -------------------------------------------------------------------------------

  private allocate(sessionId: number, id: number, now: number): void {
    if (this.mailboxes.size >= this.limits.maxMailboxes || this.held(sessionId) >= this.limits.maxPerSession) {
      return this.error(sessionId, id, RendezvousErrorCode.Quota, 'too many open mailboxes');
    }
    const nameplate = this.freshNameplate();
    this.mailboxes.set(nameplate, { nameplate, sides: [sessionId], queued: [], expires: now + this.limits.openTtlMs });
    this.reply(sessionId, { t: 'mailbox-opened', id, nameplate, expiresInMs: this.limits.openTtlMs });
  }

  private claim(sessionId: number, m: MailboxOpenMessage, now: number): void {
    const mailbox = this.mailboxes.get(m.nameplate);
    if (!mailbox) {
      return this.error(
        sessionId,
        m.id,
        RendezvousErrorCode.NameplateUnknown,
        `no mailbox ${m.nameplate} (expired or used)`,
      );
    }
    if (mailbox.sides.length >= 2 || mailbox.sides[0] === sessionId) {
      // One claim per side: whoever comes third burns the code for everyone (spec/transfer.md §Security).
      this.error(sessionId, m.id, RendezvousErrorCode.NameplateUsed, `mailbox ${m.nameplate} was already claimed`);
      this.burn(mailbox, 'crowded', -1);
      return;
    }
    if (this.held(sessionId) >= this.limits.maxPerSession) {
      return this.error(sessionId, m.id, RendezvousErrorCode.Quota, 'too many open mailboxes');
    }
    mailbox.sides.push(sessionId);
    mailbox.expires = now + this.limits.idleTtlMs;
    this.reply(sessionId, {
      t: 'mailbox-opened',
      id: m.id,
      nameplate: m.nameplate,
      expiresInMs: this.limits.idleTtlMs,
    });
    for (const { from, data } of mailbox.queued.splice(0)) this.deliver(mailbox, from, data);
  }

  private put(sessionId: number, m: MailboxPutMessage, now: number): void {
    const mailbox = this.mailboxes.get(m.nameplate);
    if (!mailbox || !mailbox.sides.includes(sessionId)) {
      return this.error(sessionId, 0, RendezvousErrorCode.NameplateUnknown, `mailbox ${m.nameplate} is not open here`);
    }
    if (mailbox.sides.length === 2) {
      mailbox.expires = now + this.limits.idleTtlMs;
      this.deliver(mailbox, sessionId, m.data);
    } else if (mailbox.queued.length < this.limits.maxQueued) {
      mailbox.queued.push({ from: sessionId, data: m.data });
    } else {
      this.error(sessionId, 0, RendezvousErrorCode.Quota, `at most ${this.limits.maxQueued} queued mailbox messages`);
    }
  }

  private close(sessionId: number, nameplate: number): void {
    const mailbox = this.mailboxes.get(nameplate);
    if (mailbox?.sides.includes(sessionId)) this.burn(mailbox, 'peer-closed', sessionId);
  }

  // ---- helpers ----------------------------------------------------------------------------------

  /** Tells every side but `except` that the mailbox is gone, and forgets it. */
  private burn(mailbox: Mailbox, reason: string, except: number): void {
    this.mailboxes.delete(mailbox.nameplate);
    for (const side of mailbox.sides) {
      if (side !== except) this.reply(side, { t: 'mailbox-closed', seq: 0, nameplate: mailbox.nameplate, reason });
    }
  }

  private deliver(mailbox: Mailbox, from: number, data: Uint8Array): void {
    for (const side of mailbox.sides) {
      if (side !== from) this.reply(side, { t: 'mailbox-message', seq: 0, nameplate: mailbox.nameplate, data });
    }
  }

  private held(sessionId: number): number {
    let count = 0;
    for (const mailbox of this.mailboxes.values()) if (mailbox.sides.includes(sessionId)) count++;
    return count;
  }

  /**
   * A random free number, short while few are in use: drawn from 1..range with range the smallest
   * power of ten at least 10× the mailboxes open (so a random draw is free 90 % of the time).
   */
  private freshNameplate(): number {
    let range = 100;
    while (range < this.mailboxes.size * 10) range *= 10;
    const bytes = new Uint8Array(4);
    for (;;) {
      this.random(bytes);
      const value = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
      const nameplate = 1 + (value % range);
      if (!this.mailboxes.has(nameplate)) return nameplate;
    }
  }

  private reply(sessionId: number, message: ServerMessage): void {
    this.outputs.push({ sessionId, message });
  }

  private error(sessionId: number, id: number, code: RendezvousErrorCode, message: string): void {
    this.reply(sessionId, { t: 'error', id, code, message });
  }
}
