/** Errors the Node adapter raises on purpose; each has a stable `code` (see src/errors.ts). */
import { PunchlineError } from '../errors.js';
import type { CloseReason } from '../transport/api.js';

/** Stable codes of the Node adapter's errors (endpoint, streams, UDP sockets). */
export const NodeErrorCode = {
  InvalidArgument: 'ERR_PUNCHLINE_INVALID_ARGUMENT',
  Aborted: 'ERR_PUNCHLINE_ABORTED',
  AddressFamily: 'ERR_PUNCHLINE_ADDRESS_FAMILY',
  ConnectionClosed: 'ERR_PUNCHLINE_CONNECTION_CLOSED',
  EndpointClosed: 'ERR_PUNCHLINE_ENDPOINT_CLOSED',
  HandlerExists: 'ERR_PUNCHLINE_HANDLER_EXISTS',
  StreamDestroyed: 'ERR_PUNCHLINE_STREAM_DESTROYED',
  StreamReset: 'ERR_PUNCHLINE_STREAM_RESET',
  StreamStopped: 'ERR_PUNCHLINE_STREAM_STOPPED',
  UdpBackend: 'ERR_PUNCHLINE_UDP_BACKEND',
  UdpClosed: 'ERR_PUNCHLINE_UDP_CLOSED',
  UdpNoSlot: 'ERR_PUNCHLINE_UDP_NO_SLOT',
  UdpSocket: 'ERR_PUNCHLINE_UDP_SOCKET',
} as const;
export type NodeErrorCode = (typeof NodeErrorCode)[keyof typeof NodeErrorCode];

export class NodeEndpointError extends PunchlineError<NodeErrorCode> {}

/** A bad argument to the Node API (wrong key length, port out of range, ...); nothing was changed. */
export function invalidArgument(message: string): NodeEndpointError {
  return new NodeEndpointError('ERR_PUNCHLINE_INVALID_ARGUMENT', message);
}

/** Application error codes go on the wire as varints: non-negative safe integers. */
export function checkErrorCode(errorCode: unknown): void {
  if (typeof errorCode !== 'number' || !Number.isSafeInteger(errorCode) || errorCode < 0) {
    throw invalidArgument(`error code must be a non-negative integer, got ${String(errorCode)}`);
  }
}

/** The peer reset a stream (RESET_STREAM) or asked us to stop sending on it (STOP_SENDING). */
export class StreamAbortedError extends NodeEndpointError {
  readonly errorCode: number;
  readonly streamId: number;

  constructor(kind: 'reset' | 'stop-sending', streamId: number, errorCode: number) {
    super(
      kind === 'reset' ? 'ERR_PUNCHLINE_STREAM_RESET' : 'ERR_PUNCHLINE_STREAM_STOPPED',
      kind === 'reset'
        ? `stream ${streamId} was reset by the peer (error code ${errorCode})`
        : `the peer stopped reading stream ${streamId} (error code ${errorCode})`,
    );
    this.errorCode = errorCode;
    this.streamId = streamId;
  }
}

/** The connection ended (either side, any reason) while the operation was still pending. */
export class ConnectionClosedError extends NodeEndpointError {
  readonly reason: CloseReason;

  constructor(reason: CloseReason) {
    const who = reason.remote ? 'peer' : 'local side';
    const kind = reason.application ? 'application' : 'transport';
    super(
      'ERR_PUNCHLINE_CONNECTION_CLOSED',
      `connection closed by the ${who} (${kind} error code ${reason.errorCode}${reason.reason ? `: ${reason.reason}` : ''})`,
    );
    this.reason = reason;
  }
}
