/**
 * The lab's `punchline server` on server1: both of server1's addresses (the second is the RFC 5780
 * alternate), on ports that stay clear of the self-check's probe server (3478/3479) and the portmap
 * STUN server (3480/3481), so `lab check` and portmap sites work beside it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LabError, LabErrorCode } from './errors.js';

export const LAB_SERVER_PORTS = { udp: 3490, alternate: 3491, webTransport: 4433 } as const;

/** The script (our CLI) and arguments that run the lab's server with its data in `dataDir`. */
export function labServerCommand(
  addresses: readonly string[],
  dataDir: string,
  addressFile: string,
): { script: string; args: string[] } {
  const [primary, alternate] = addresses;
  if (primary === undefined || alternate === undefined)
    throw new LabError(LabErrorCode.Spec, 'the rendezvous server needs server1 with its two addresses');
  return {
    script: cliScript(),
    args: [
      'server',
      '--host',
      primary,
      '--udp-port',
      String(LAB_SERVER_PORTS.udp),
      '--port',
      String(LAB_SERVER_PORTS.webTransport),
      '--alt-host',
      alternate,
      '--alt-port',
      String(LAB_SERVER_PORTS.alternate),
      '--metrics-port',
      'off',
      '--data-dir',
      dataDir,
      '--address-file',
      addressFile,
      '--log-level',
      'warn',
    ],
  };
}

/** Our CLI entry: the built one next to this module, else the TypeScript source (run through tsx). */
export function cliScript(): string {
  const js = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('../cli/main.ts', import.meta.url));
}
