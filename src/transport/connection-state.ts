/**
 * Everything that decides which state a connection is in lives in this file (cf. h11 `_state.py`):
 * the states, the data that exists only in one state, the allowed transitions as a table that tests
 * read, and every transition with what it starts (close timers, the 'closed' report). The connection
 * changes state only through this machine; spec/transport.md §2 draws it.
 */
import type { CloseReason } from './api.js';
import { TransportError, TransportErrorCode, TransportErrorName } from './errors.js';
import { Timer, type TimerTable } from './timers.js';

/** Longest wait between CLOSE repetitions while closing (ms; at least one PTO). */
const MAX_CLOSE_INTERVAL_MS = 500;
/** Without an idle timeout, CLOSE is repeated at most this many times. */
const MAX_CLOSE_RETRANSMITS_WITHOUT_IDLE = 16;

/** What a transition needs from the connection. */
export interface StateHost {
  /** One PTO with the peer's max ACK delay (RFC 9002 §6.2.1). */
  pto(): number;
  /** The negotiated idle timeout, ms (0: none). */
  idleTimeout(): number;
  /** Packet protection keys exist: a CLOSE can be sent. */
  hasKeys(): boolean;
  /** Everything written (stream data and FINs, resets, datagrams) is acknowledged or sent. */
  sendsSettled(): boolean;
  /** Nothing in flight matters any more (recovery stops). */
  discardInFlight(): void;
  /** The connection ended for the application (called once): report 'closed' with `reason`. */
  reportClosed(reason: CloseReason): void;
}

/** A CLOSE frame to send (RFC 9000 §19.19); `application` false: a transport error code. */
export interface OutgoingClose {
  readonly application: boolean;
  readonly errorCode: number;
  readonly reason: string;
}

export type ConnectionState =
  /** Noise handshake in progress; no short-header packets yet. */
  | { readonly kind: 'handshaking' }
  /**
   * Keys agreed. `gracefulClose`: the application asked for a graceful close (the CLOSE frame to send
   * once every stream's data is acknowledged, RFC 9000 §10.2); the connection reports 'closing' then.
   */
  | { readonly kind: 'established'; readonly gracefulClose: OutgoingClose | null }
  /** We sent CLOSE and repeat it until the peer answers or the close timer ends (RFC 9000 §10.2.1). */
  | { readonly kind: 'closing'; readonly frame: OutgoingClose; framePending: boolean; retransmits: number }
  /** The peer sent CLOSE; we answer once per packet of it until the drain timer ends (RFC 9000 §10.2.2). */
  | { readonly kind: 'draining'; readonly frame: OutgoingClose; framePending: boolean }
  | { readonly kind: 'closed' };

export type StateKind = ConnectionState['kind'];

/** The allowed transitions, from → to. Anything else is a bug in the connection. */
export const TRANSITIONS: Readonly<Record<StateKind, readonly StateKind[]>> = Object.freeze({
  // handshake completes / fails or times out (no keys: nothing to send a CLOSE with)
  handshaking: ['established', 'closed'],
  // graceful close requested / CLOSE sent / CLOSE received / idle timeout
  established: ['established', 'closing', 'draining', 'closed'],
  // the peer answered our CLOSE, or the close timer ended
  closing: ['closed'],
  // the drain timer ended
  draining: ['closed'],
  closed: [],
});

const HANDSHAKING: ConnectionState = Object.freeze({ kind: 'handshaking' });
const CLOSED: ConnectionState = Object.freeze({ kind: 'closed' });

export class ConnectionStateMachine {
  private current: ConnectionState = HANDSHAKING;
  private closeReason: CloseReason | null = null;

  constructor(
    private readonly host: StateHost,
    private readonly timers: TimerTable,
  ) {}

  get state(): ConnectionState {
    return this.current;
  }

  get kind(): StateKind {
    return this.current.kind;
  }

  /** The public state of ConnectionHandle: 'closing' as soon as a graceful close was requested. */
  get reported(): StateKind {
    const s = this.current;
    return s.kind === 'established' && s.gracefulClose !== null ? 'closing' : s.kind;
  }

  /** Why the connection ended, once it did. */
  get reason(): CloseReason | null {
    return this.closeReason;
  }

  /** The one place where a connection's state changes. */
  private to(next: ConnectionState): void {
    if (!TRANSITIONS[this.current.kind].includes(next.kind)) {
      throw new TransportError(
        TransportErrorName.INTERNAL,
        `connection state ${this.current.kind} cannot become ${next.kind}`,
        TransportErrorCode.INTERNAL_ERROR,
      );
    }
    this.current = next;
  }

  /** The handshake completed. */
  established(): void {
    this.to({ kind: 'established', gracefulClose: null });
  }

  /**
   * The application closes: gracefully (code 0: everything written is delivered first, then CLOSE),
   * else at once. Nothing can have been written during the handshake: closing then is an abort.
   */
  close(now: number, errorCode: number, reason: string): void {
    const kind = this.current.kind;
    if (kind === 'closing' || kind === 'draining' || kind === 'closed') return;
    if (errorCode !== 0 || kind === 'handshaking') {
      this.abort(now, { application: true, errorCode, reason });
      return;
    }
    this.to({ kind: 'established', gracefulClose: { application: true, errorCode: 0, reason } });
    this.maybeFinishGracefulClose(now);
  }

  /** Aborts with a transport error code (protocol violation, endpoint shutdown). */
  closeWithError(now: number, errorCode: number, reason: string): void {
    const kind = this.current.kind;
    if (kind === 'closing' || kind === 'draining' || kind === 'closed') return;
    this.abort(now, { application: false, errorCode, reason });
  }

  private abort(now: number, frame: OutgoingClose): void {
    if (this.current.kind === 'handshaking' || !this.host.hasKeys()) {
      this.fail({ ...frame, remote: false });
      return;
    }
    this.enterClosing(now, frame);
  }

  /** Graceful close: once everything written is acknowledged, send CLOSE. */
  maybeFinishGracefulClose(now: number): void {
    const s = this.current;
    if (s.kind !== 'established' || s.gracefulClose === null || !this.host.sendsSettled()) return;
    this.enterClosing(now, s.gracefulClose);
  }

  /** Ends without a CLOSE (handshake failure or timeout, idle timeout): straight to closed. */
  fail(reason: CloseReason): void {
    this.to(CLOSED);
    this.timers.stop(Timer.Close);
    this.ended(reason);
  }

  /** fail() with a transport error of this side (`remote` false) or of the peer's state (true). */
  failWith(errorCode: number, reason: string, remote = false): void {
    this.fail({ errorCode, application: false, reason, remote });
  }

  /** The peer's CLOSE: drain (RFC 9000 §10.2.2), answering with one CLOSE of ours per packet of it. */
  onPeerClose(now: number, reason: CloseReason): void {
    this.to({
      kind: 'draining',
      frame: { application: false, errorCode: TransportErrorCode.NO_ERROR, reason: '' },
      framePending: true,
    });
    this.timers.set(Timer.Close, now + 3 * this.host.pto());
    this.ended(reason);
  }

  /**
   * An authenticated packet while closing or draining. Closing: if it carries the peer's CLOSE the
   * peer has ours, so we are done; otherwise the peer missed our CLOSE: send it again. Draining: the
   * peer is still closing (missed our answer): answer again.
   */
  onPacketWhileClosing(hasClose: boolean): void {
    const s = this.current;
    if (s.kind === 'closing' && hasClose) {
      this.to(CLOSED);
      return;
    }
    if (s.kind === 'draining' && !hasClose) return;
    if (s.kind === 'closing' || s.kind === 'draining') s.framePending = true;
  }

  /** Timer.Close: closing or draining is over, once the CLOSE still owed went out. */
  onCloseTimer(): boolean {
    if (this.closeFramePending) return true;
    this.to(CLOSED);
    return false;
  }

  /** Timer.CloseRetransmit: repeat CLOSE while closing, backed off from one PTO to max(PTO, 500 ms). */
  onCloseRetransmitTimer(now: number): void {
    const s = this.current;
    if (s.kind !== 'closing') return;
    s.retransmits++;
    s.framePending = true;
    const pto = this.host.pto();
    const interval = Math.min(pto * 2 ** Math.min(s.retransmits, 16), Math.max(pto, MAX_CLOSE_INTERVAL_MS));
    const end = this.timers.get(Timer.Close);
    this.timers.set(Timer.CloseRetransmit, now + interval < end ? now + interval : Infinity);
  }

  /** Closing or draining: a CLOSE is owed to the peer. */
  get closeFramePending(): boolean {
    const s = this.current;
    return (s.kind === 'closing' || s.kind === 'draining') && s.framePending;
  }

  /** The CLOSE frame to send now, if one is owed (it is then no longer owed). */
  takeCloseFrame(): OutgoingClose | null {
    const s = this.current;
    if ((s.kind !== 'closing' && s.kind !== 'draining') || !s.framePending) return null;
    s.framePending = false;
    return s.frame;
  }

  private enterClosing(now: number, frame: OutgoingClose): void {
    this.to({ kind: 'closing', frame, framePending: true, retransmits: 0 });
    const pto = this.host.pto();
    this.timers.set(Timer.CloseRetransmit, now + pto);
    // Closing lasts until the peer answers our CLOSE, at most as long as the peer would wait before
    // timing out itself (the idle timeout): only then can the peer miss the close altogether.
    const idle = this.host.idleTimeout();
    const longest = idle > 0 ? idle : MAX_CLOSE_RETRANSMITS_WITHOUT_IDLE * MAX_CLOSE_INTERVAL_MS;
    this.timers.set(Timer.Close, now + Math.max(3 * pto, longest));
    this.ended({ ...frame, remote: false });
  }

  private ended(reason: CloseReason): void {
    this.host.discardInFlight();
    if (this.closeReason !== null) return;
    this.closeReason = reason;
    this.host.reportClosed(reason);
  }
}
