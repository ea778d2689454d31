import { PunchlineError } from '../../errors.js';

/**
 * Stable codes of the rendezvous protocol (spec/rendezvous.md §Errors). The same codes travel in
 * `error` messages on the wire, so a client can rebuild a typed error from what the server said.
 */
export const RendezvousErrorCode = {
  Malformed: 'ERR_PUNCHLINE_RENDEZVOUS_MALFORMED',
  Oversize: 'ERR_PUNCHLINE_RENDEZVOUS_OVERSIZE',
  AuthFailed: 'ERR_PUNCHLINE_RENDEZVOUS_AUTH_FAILED',
  NotRegistered: 'ERR_PUNCHLINE_RENDEZVOUS_NOT_REGISTERED',
  AlreadyRegistered: 'ERR_PUNCHLINE_RENDEZVOUS_ALREADY_REGISTERED',
  Replay: 'ERR_PUNCHLINE_RENDEZVOUS_REPLAY',
  PeerOffline: 'ERR_PUNCHLINE_RENDEZVOUS_PEER_OFFLINE',
  RateLimited: 'ERR_PUNCHLINE_RENDEZVOUS_RATE_LIMITED',
  Quota: 'ERR_PUNCHLINE_RENDEZVOUS_QUOTA',
  /** relay-allocate naming a peer that never accepted a connect from (or asked a relay with) the sender. */
  NoConsent: 'ERR_PUNCHLINE_RENDEZVOUS_NO_CONSENT',
  UnknownRequest: 'ERR_PUNCHLINE_RENDEZVOUS_UNKNOWN_REQUEST',
  Timeout: 'ERR_PUNCHLINE_RENDEZVOUS_TIMEOUT',
  Closed: 'ERR_PUNCHLINE_RENDEZVOUS_CLOSED',
  ServerIdentity: 'ERR_PUNCHLINE_RENDEZVOUS_SERVER_IDENTITY',
  Protocol: 'ERR_PUNCHLINE_RENDEZVOUS_PROTOCOL',
  /** No mailbox by that nameplate: never opened, expired, or burned (spec/transfer.md §Mailbox). */
  NameplateUnknown: 'ERR_PUNCHLINE_RENDEZVOUS_NAMEPLATE_UNKNOWN',
  /** The mailbox already had both sides: this claim burned it. */
  NameplateUsed: 'ERR_PUNCHLINE_RENDEZVOUS_NAMEPLATE_USED',
} as const;
export type RendezvousErrorCode = (typeof RendezvousErrorCode)[keyof typeof RendezvousErrorCode];

const KNOWN_CODES = new Set<string>(Object.values(RendezvousErrorCode));

export function isRendezvousErrorCode(code: string): code is RendezvousErrorCode {
  return KNOWN_CODES.has(code);
}

/** Error of the rendezvous layer (client or server side). */
export class RendezvousError extends PunchlineError<RendezvousErrorCode> {}
