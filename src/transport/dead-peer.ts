/**
 * Dead-peer detection: the idle timer of RFC 9000 §10.1, kept so that either side — the one sending
 * data or a passive receiver — learns within the negotiated idle timeout that the peer is gone, and
 * the typed error that tells the application so.
 *
 * RFC 9000 §10.1 restarts the idle timer on every packet received and "when sending an ack-eliciting
 * packet if no other ack-eliciting packets have been sent since last receiving". That second rule
 * keeps a connection that was quiet for long from timing out right after it sends; but on a passive
 * receiver whose own keepalive is that first ack-eliciting packet, it moves the deadline from
 * last-receive + idle to keepalive + idle (45 s instead of 30 s with a 15 s keepalive). While
 * keepalives run, a live peer answers (or sends) well within the idle timeout anyway, so only
 * receiving restarts the timer; keepalives never do. Without keepalives the RFC rule applies to
 * every ack-eliciting packet.
 */
import { PunchlineError } from '../errors.js';
import type { CloseReason } from './api.js';

export class IdleTimer {
  private timeoutMs: number;
  private keepAlives: boolean;
  private lastReceived: number;
  /** An ack-eliciting packet was sent since the last receive (RFC 9000 §10.1). */
  private sentSinceReceive = false;
  private restartedAt: number;

  /**
   * @param timeoutMs the negotiated idle timeout (0: none), already ≥ 3 PTO (RFC 9000 §10.1)
   * @param keepAlives whether this side sends keepalives (then sending never restarts the timer)
   */
  constructor(timeoutMs: number, keepAlives: boolean, now: number) {
    this.timeoutMs = timeoutMs;
    this.keepAlives = keepAlives;
    this.lastReceived = now;
    this.restartedAt = now;
  }

  /** The negotiated value arrived (transport parameters) or the PTO grew (3 PTO floor). */
  configure(timeoutMs: number, keepAlives: boolean): void {
    this.timeoutMs = timeoutMs;
    this.keepAlives = keepAlives;
  }

  /** When the peer counts as dead (Infinity without an idle timeout). */
  get deadline(): number {
    return this.timeoutMs > 0 ? this.restartedAt + this.timeoutMs : Infinity;
  }

  /** Time since the last authenticated packet from the peer (ms). */
  silenceMs(now: number): number {
    return now - this.lastReceived;
  }

  /** An authenticated packet from the peer. */
  onReceived(now: number): void {
    this.lastReceived = now;
    this.restartedAt = now;
    this.sentSinceReceive = false;
  }

  /** An ack-eliciting packet went out; `keepAlive` when it was only a keepalive PING. */
  onAckElicitingSent(now: number, keepAlive: boolean): void {
    if (this.sentSinceReceive) return;
    this.sentSinceReceive = true;
    if (this.keepAlives || keepAlive) return;
    this.restartedAt = now;
  }

  expired(now: number): boolean {
    return now >= this.deadline;
  }
}

/** Local-only close code: the peer answered with a stateless reset (spec/wire.md §5.3.2). */
export const STATELESS_RESET_CLOSE_CODE = 0x10003;
/** Local-only close code of an idle timeout (src/transport/errors.ts IDLE_TIMEOUT). */
const IDLE_TIMEOUT_CLOSE_CODE = 0x10000;

export const PeerGoneErrorCode = {
  /** Nothing was heard from the peer within the idle timeout: it died, or the path is gone. */
  Unreachable: 'ERR_PUNCHLINE_PEER_UNREACHABLE',
  /** The peer no longer knows the connection (it restarted): it answered with a stateless reset. */
  Reset: 'ERR_PUNCHLINE_PEER_RESET',
} as const;
export type PeerGoneErrorCode = (typeof PeerGoneErrorCode)[keyof typeof PeerGoneErrorCode];

/** The peer is gone: the connection ended without a CLOSE from it. */
export class PeerGoneError extends PunchlineError<PeerGoneErrorCode> {
  readonly reason: CloseReason;

  constructor(reason: CloseReason, idleTimeoutMs?: number) {
    const reset = reason.errorCode === STATELESS_RESET_CLOSE_CODE;
    super(
      reset ? PeerGoneErrorCode.Reset : PeerGoneErrorCode.Unreachable,
      reset
        ? 'the peer no longer knows this connection (stateless reset: it restarted)'
        : `no packet from the peer for ${idleTimeoutMs !== undefined ? `${idleTimeoutMs} ms ` : ''}(idle timeout): the peer or the path is gone`,
    );
    this.reason = reason;
  }
}

/** The typed error for a close that means the peer is gone, or null for any other close. */
export function peerGoneError(reason: CloseReason, idleTimeoutMs?: number): PeerGoneError | null {
  if (reason.remote || reason.application) return null;
  if (reason.errorCode !== IDLE_TIMEOUT_CLOSE_CODE && reason.errorCode !== STATELESS_RESET_CLOSE_CODE) return null;
  return new PeerGoneError(reason, idleTimeoutMs);
}
