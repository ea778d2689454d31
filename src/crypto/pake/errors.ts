/** Errors of the password-authenticated key exchange (spec/transfer.md §PAKE). */
import { PunchlineError } from '../../errors.js';

export const PakeErrorCode = {
  /** The peer's share does not decode to a ristretto255 element, or the shared point is the identity. */
  InvalidShare: 'ERR_PUNCHLINE_PAKE_INVALID_SHARE',
  /** The peer's key-confirmation tag does not verify: the two sides used different codes. */
  WrongCode: 'ERR_PUNCHLINE_PAKE_WRONG_CODE',
  /** A code phrase that is not `<number>-<word>-<word>[-<word>]` with words from the list. */
  BadCode: 'ERR_PUNCHLINE_PAKE_BAD_CODE',
  /** A message out of turn, or an input of the wrong size. */
  Protocol: 'ERR_PUNCHLINE_PAKE_PROTOCOL',
} as const;
export type PakeErrorCode = (typeof PakeErrorCode)[keyof typeof PakeErrorCode];

export class PakeError extends PunchlineError<PakeErrorCode> {}
