/**
 * Errors of the traversal agent and of connecting by public key (spec/traversal.md §Errors). The
 * first five are the public contract of `Endpoint.connect(publicKey)`.
 */
import { PunchlineError } from '../../errors.js';

export const TraversalErrorCode = {
  /** The peer is not registered with the rendezvous server (or went away before answering). */
  PeerOffline: 'ERR_PUNCHLINE_PEER_OFFLINE',
  /** The peer answered and declined. */
  PeerRefused: 'ERR_PUNCHLINE_PEER_REFUSED',
  /** Neither a relay nor a direct path could be established within the handshake timeout. */
  NoPath: 'ERR_PUNCHLINE_NO_PATH',
  /** The rendezvous server could not be reached. */
  ServerUnreachable: 'ERR_PUNCHLINE_SERVER_UNREACHABLE',
  /** The server did not prove ownership of the key in the server address. */
  WrongServerKey: 'ERR_PUNCHLINE_WRONG_SERVER_KEY',
  /** A connect/answer payload of the peer that is not a traversal offer. */
  BadOffer: 'ERR_PUNCHLINE_TRAVERSAL_BAD_OFFER',
  /** A bad argument to an agent method (caller bug); nothing was changed. */
  InvalidArgument: 'ERR_PUNCHLINE_TRAVERSAL_INVALID_ARGUMENT',
} as const;
export type TraversalErrorCode = (typeof TraversalErrorCode)[keyof typeof TraversalErrorCode];

export class TraversalError extends PunchlineError<TraversalErrorCode> {}
