/**
 * Dead-peer detection: what tells the application that the peer is gone. Either side — the one
 * sending data or a passive receiver — learns it within the negotiated idle timeout (idle-clock.ts:
 * while keepalives run, only receiving restarts the idle timer), or at once when the peer restarted
 * and answers with a stateless reset (stateless-reset.ts). Both end the connection without a CLOSE
 * from the peer; this module gives them a typed error.
 */
import { PunchlineError } from '../errors.js';
import type { CloseReason } from './api.js';

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
  if (reason.application) return null;
  if (reason.errorCode === STATELESS_RESET_CLOSE_CODE) return new PeerGoneError(reason, idleTimeoutMs);
  if (reason.remote || reason.errorCode !== IDLE_TIMEOUT_CLOSE_CODE) return null;
  return new PeerGoneError(reason, idleTimeoutMs);
}
