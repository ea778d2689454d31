import { PunchlineError } from '../errors.js';

/** Stable codes for every failure of the NAT lab (`ERR_PUNCHLINE_LAB_...`). */
export const LabErrorCode = {
  /** A system command (`ip`, `nft`, `tc`, `sysctl`, ...) exited non-zero; the message carries its stderr. */
  Command: 'ERR_PUNCHLINE_LAB_COMMAND',
  /** The lab spec (sites, profiles, options) is invalid. */
  Spec: 'ERR_PUNCHLINE_LAB_SPEC',
  /** Not root, or network namespaces / nftables are not usable on this machine. */
  Unavailable: 'ERR_PUNCHLINE_LAB_UNAVAILABLE',
  /** No lab, or no host in a lab, by that name. */
  NotFound: 'ERR_PUNCHLINE_LAB_NOT_FOUND',
  /** A lab with that name is already up. */
  Exists: 'ERR_PUNCHLINE_LAB_EXISTS',
  /** A state file is unreadable or inconsistent. */
  State: 'ERR_PUNCHLINE_LAB_STATE',
  /** A process inside the lab did not finish (or become ready) in time. */
  Timeout: 'ERR_PUNCHLINE_LAB_TIMEOUT',
  /** A helper process inside the lab (probe, miniupnpd) failed or printed something unexpected. */
  Process: 'ERR_PUNCHLINE_LAB_PROCESS',
} as const;

export type LabErrorCode = (typeof LabErrorCode)[keyof typeof LabErrorCode];

export class LabError extends PunchlineError<LabErrorCode> {}

/** A failed system command, with its argv, exit code and stderr kept for diagnosis. */
export class LabCommandError extends LabError {
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;

  constructor(argv: readonly string[], exitCode: number | null, stderr: string, options?: { cause?: unknown }) {
    const detail = stderr.trim() === '' ? '' : `: ${stderr.trim()}`;
    super(LabErrorCode.Command, `'${argv.join(' ')}' failed (exit ${String(exitCode)})${detail}`, options);
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}
