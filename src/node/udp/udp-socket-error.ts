/** The error both UDP backends raise for a failed socket call (bind, send, receive). */
import { getSystemErrorName } from 'node:util';
import { NodeEndpointError } from '../endpoint-errors.js';

/** A failed system call on a native UDP socket, shaped like Node's system errors plus a stable code. */
export class UdpSocketError extends NodeEndpointError {
  /** 'bind', 'send', 'recvmmsg', ... */
  readonly syscall: string;
  /** Negative errno, as Node's `error.errno`. */
  readonly errno: number;
  /** The errno's name, as Node's `error.code`: 'EADDRINUSE', 'ENETUNREACH', ... */
  readonly systemCode: string;
  readonly address: string | null;
  readonly port: number | null;

  constructor(syscall: string, errno: number, address: string | null, port: number | null, cause?: unknown) {
    const systemCode = errnoName(errno);
    const where = address === null ? '' : ` ${address.includes(':') ? `[${address}]` : address}:${port ?? 0}`;
    super('ERR_PUNCHLINE_UDP_SOCKET', `${syscall} ${systemCode}${where}`, cause === undefined ? undefined : { cause });
    this.syscall = syscall;
    this.errno = errno;
    this.systemCode = systemCode;
    this.address = address;
    this.port = port;
  }
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(errno);
  } catch {
    return `errno ${-errno}`;
  }
}
