import { PunchlineError } from '../errors.js';

/** Codes of the CLI's own errors. */
export const CliErrorCode = { Usage: 'ERR_PUNCHLINE_USAGE' } as const;
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

/** A command line the CLI cannot run: one line naming the problem, exit code 2. */
export class UsageError extends PunchlineError<CliErrorCode> {
  constructor(message: string) {
    super(CliErrorCode.Usage, message);
  }
}
