/**
 * Base class for every error punchline throws on purpose. Like Node's own errors, each carries a
 * stable string `code` (`ERR_PUNCHLINE_...`) that programs may switch on; the message is for humans.
 */
export class PunchlineError<Code extends string = string> extends Error {
  readonly code: Code;

  /**
   * A layer's error class narrows `Code` to its own code table and needs no constructor of its own:
   * `class LabError extends PunchlineError<LabErrorCode> {}`.
   */
  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}
