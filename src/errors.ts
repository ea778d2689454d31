/**
 * Base class for every error punchline throws on purpose. Like Node's own errors, each carries a
 * stable string `code` (`ERR_PUNCHLINE_...`) that programs may switch on; the message is for humans.
 */
export class PunchlineError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}
