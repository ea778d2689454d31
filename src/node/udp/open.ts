/**
 * Picks the UDP backend for an endpoint (see udp-socket.ts): the native add-on where it loads,
 * node:dgram otherwise. PUNCHLINE_UDP_BACKEND=native|dgram|auto overrides the caller's choice (for
 * benchmarks and for testing both backends with one suite).
 */
import { NodeEndpointError } from '../endpoint-errors.js';
import { DgramUdpSocket } from './dgram-socket.js';
import { loadNativeUdp, nativeUdpLoadError } from './native-binding.js';
import { NativeUdpSocket } from './native-socket.js';
import type { UdpBackendChoice, UdpReceiver, UdpSocket, UdpSocketOptions } from './udp-socket.js';

const CHOICES: readonly UdpBackendChoice[] = ['auto', 'native', 'dgram'];

/** The backend choice after the environment override; throws on a bad value. */
export function resolveUdpBackend(requested: UdpBackendChoice = 'auto'): UdpBackendChoice {
  const forced = process.env.PUNCHLINE_UDP_BACKEND;
  const choice = forced ? (forced as UdpBackendChoice) : requested;
  if (!CHOICES.includes(choice)) {
    throw new NodeEndpointError(
      'ERR_PUNCHLINE_UDP_BACKEND',
      `unknown UDP backend '${choice}'${forced ? ' (from PUNCHLINE_UDP_BACKEND)' : ''}; expected ${CHOICES.join(', ')}`,
    );
  }
  return choice;
}

/** Whether the native backend can be used here, and if not, why. */
export function nativeUdpAvailability(): { available: boolean; reason: string | null } {
  const binding = loadNativeUdp();
  return { available: binding !== null, reason: binding ? null : nativeUdpLoadError() };
}

export async function openUdpSocket(
  options: UdpSocketOptions,
  receiver: UdpReceiver,
  requested: UdpBackendChoice = 'auto',
): Promise<UdpSocket> {
  const choice = resolveUdpBackend(requested);
  if (choice === 'dgram') return DgramUdpSocket.open(options, receiver);
  if (loadNativeUdp()) return NativeUdpSocket.open(options, receiver);
  if (choice === 'native') {
    throw new NodeEndpointError(
      'ERR_PUNCHLINE_UDP_BACKEND',
      `the native UDP backend is not available: ${nativeUdpLoadError() ?? 'unknown reason'} (run 'npm run build:native')`,
    );
  }
  return DgramUdpSocket.open(options, receiver);
}
