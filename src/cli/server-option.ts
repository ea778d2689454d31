/**
 * The rendezvous server a client command uses: `--server ADDR`, else the PUNCHLINE_SERVER environment
 * variable, else none. Both hold the server address string `punchline server` prints
 * (src/traversal/rendezvous/server-address.ts); a malformed one is a usage error with the parser's
 * one-line reason (ERR_PUNCHLINE_INVALID_SERVER_ADDRESS).
 */
import { parseServerAddress, type ServerAddress } from '../traversal/rendezvous/server-address.js';

export const SERVER_ENV = 'PUNCHLINE_SERVER';

export function serverFromOptions(flag: string | undefined, env: NodeJS.ProcessEnv): ServerAddress | null {
  const text = flag ?? env[SERVER_ENV];
  if (text === undefined || text.trim() === '') return null;
  return parseServerAddress(text);
}
