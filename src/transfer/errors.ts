/** Errors of the file transfer (spec/transfer.md §Errors). Codes are stable API. */
import { PunchlineError } from '../errors.js';

export const TransferErrorCode = {
  /** An offered path is absolute, has `..`, empty or `.` parts, NUL or `\`, or a symlink leaves --out. */
  UnsafePath: 'ERR_PUNCHLINE_TRANSFER_UNSAFE_PATH',
  /** The sender sent more (or fewer) bytes than it announced for a file. */
  SizeMismatch: 'ERR_PUNCHLINE_TRANSFER_SIZE_MISMATCH',
  /** A chunk's or a file's BLAKE2b does not match what arrived. */
  HashMismatch: 'ERR_PUNCHLINE_TRANSFER_HASH_MISMATCH',
  /** A file exists at the target (and differs) and --overwrite was not given. */
  Exists: 'ERR_PUNCHLINE_TRANSFER_EXISTS',
  /** No space left on the target file system (partial files are kept for resume). */
  DiskFull: 'ERR_PUNCHLINE_TRANSFER_DISK_FULL',
  /** Permission denied reading or writing a file. */
  Permission: 'ERR_PUNCHLINE_TRANSFER_PERMISSION',
  /** Another file-system error (the message names the file and the system error). */
  Io: 'ERR_PUNCHLINE_TRANSFER_IO',
  /** The receiver declined the offer. */
  Declined: 'ERR_PUNCHLINE_TRANSFER_DECLINED',
  /** The peer broke the transfer protocol (bad frame, unknown file, message out of turn). */
  Protocol: 'ERR_PUNCHLINE_TRANSFER_PROTOCOL',
  /** The peer reported an error and stopped, or the connection closed before the end. */
  Aborted: 'ERR_PUNCHLINE_TRANSFER_ABORTED',
  /** A path given to `send` does not exist or is not a file, directory or symlink. */
  BadSource: 'ERR_PUNCHLINE_TRANSFER_BAD_SOURCE',
} as const;
export type TransferErrorCode = (typeof TransferErrorCode)[keyof typeof TransferErrorCode];

export class TransferError extends PunchlineError<TransferErrorCode> {}

/** The error code `send` and `receive` print when their user stopped them (Ctrl-C, SIGTERM). */
export const INTERRUPTED_ERROR_CODE = 'ERR_PUNCHLINE_INTERRUPTED';

/** A file-system error as a TransferError naming the file: ENOSPC and EACCES get their own codes. */
export function fileSystemError(error: unknown, what: string): TransferError {
  if (error instanceof TransferError) return error;
  const errno = error as NodeJS.ErrnoException;
  switch (errno?.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new TransferError(TransferErrorCode.DiskFull, `no space left writing ${what} (partial file kept)`, {
        cause: error,
      });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new TransferError(TransferErrorCode.Permission, `permission denied: ${what}`, { cause: error });
    default:
      return new TransferError(
        TransferErrorCode.Io,
        `${what}: ${errno?.code ?? ''} ${errno?.message ?? String(error)}`.trim(),
        { cause: error },
      );
  }
}
