/**
 * Everything that decides which state a connection is in lives in this file (cf. h11 `_state.py`):
 * the states, the data that exists only in one state, and the allowed transitions as a table that
 * tests read. The connection changes state only through `ConnectionStateMachine.to`.
 *
 * spec/transport.md §2 draws the same machine.
 */
import { TransportError, TransportErrorCode, TransportErrorName } from './errors.js';

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

  /** The one place where a connection's state changes. */
  to(next: ConnectionState): void {
    if (!TRANSITIONS[this.current.kind].includes(next.kind)) {
      throw new TransportError(
        TransportErrorName.INTERNAL,
        `connection state ${this.current.kind} cannot become ${next.kind}`,
        TransportErrorCode.INTERNAL_ERROR,
      );
    }
    this.current = next;
  }

  established(gracefulClose: OutgoingClose | null = null): void {
    this.to({ kind: 'established', gracefulClose });
  }

  closing(frame: OutgoingClose): void {
    this.to({ kind: 'closing', frame, framePending: true, retransmits: 0 });
  }

  draining(frame: OutgoingClose): void {
    this.to({ kind: 'draining', frame, framePending: true });
  }

  closed(): void {
    this.to(CLOSED);
  }

  /** Closing or draining: a CLOSE is owed to the peer. */
  get closeFramePending(): boolean {
    const s = this.current;
    return (s.kind === 'closing' || s.kind === 'draining') && s.framePending;
  }

  /** A packet of the peer while closing or draining: our CLOSE is owed again. */
  repeatCloseFrame(): void {
    const s = this.current;
    if (s.kind === 'closing' || s.kind === 'draining') s.framePending = true;
  }

  /** Closing: the CLOSE repetition timer fired. Returns the repetition count (0 when not closing). */
  retransmitCloseFrame(): number {
    const s = this.current;
    if (s.kind !== 'closing') return 0;
    s.retransmits++;
    s.framePending = true;
    return s.retransmits;
  }

  /** The CLOSE frame to send now, if one is owed (it is then no longer owed). */
  takeCloseFrame(): OutgoingClose | null {
    const s = this.current;
    if ((s.kind !== 'closing' && s.kind !== 'draining') || !s.framePending) return null;
    s.framePending = false;
    return s.frame;
  }
}
