import { PunchlineError } from '../errors.js';

export const ServerErrorCode = {
  Config: 'ERR_PUNCHLINE_SERVER_CONFIG',
  Certificate: 'ERR_PUNCHLINE_SERVER_CERTIFICATE',
  Listen: 'ERR_PUNCHLINE_SERVER_LISTEN',
  Closed: 'ERR_PUNCHLINE_SERVER_CLOSED',
} as const;
export type ServerErrorCode = (typeof ServerErrorCode)[keyof typeof ServerErrorCode];

/** Error of `punchline server` (configuration, certificates, sockets). Protocol errors are RendezvousError. */
export class ServerError extends PunchlineError<ServerErrorCode> {}
