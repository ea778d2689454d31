/**
 * The server's UDP sockets: the main one (STUN, relay and presence) and, with an alternate address,
 * the three RFC 5780 sockets that answer STUN only; and the host advertised for a wildcard bind.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Address } from '../transport/api.js';
import { normalizeHost } from '../traversal/stun/address.js';
import type { SocketIndex } from '../traversal/stun/server-core.js';
import { ServerError, ServerErrorCode } from './errors.js';

/** The host to advertise for a bound address: itself, or for a wildcard the first external interface address. */
export function advertisedHost(bound: string): string {
  if (bound !== '0.0.0.0' && bound !== '::') return bound;
  const family = bound === '::' ? 'IPv6' : 'IPv4';
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? [])
      if (!a.internal && a.family === family && !a.address.startsWith('fe80')) return a.address;
  }
  return family === 'IPv6' ? '::1' : '127.0.0.1';
}

/**
 * The sockets STUN answers on: index 0 is the main socket; with an alternate address also
 * 1 = host:altPort, 2 = altHost:udpPort, 3 = altHost:altPort (RFC 5780 §6, as StunServerCore numbers them).
 */
export async function bindAlternateSockets(
  main: dgram.Socket,
  udp: Address,
  alternate: Address | undefined,
): Promise<Map<SocketIndex, dgram.Socket>> {
  const sockets = new Map<SocketIndex, dgram.Socket>([[0, main]]);
  if (!alternate) return sockets;
  if (
    [udp.host, alternate.host].some((h) => h === '0.0.0.0' || h === '::') ||
    normalizeHost(alternate.host) === udp.host
  )
    throw new ServerError(ServerErrorCode.Config, 'the alternate address needs a second specific IP (RFC 5780 §6)');
  try {
    const s3 = await bindUdpSocket(alternate.host, alternate.port);
    sockets.set(3, s3);
    const altPort = s3.address().port;
    if (altPort === udp.port)
      throw new ServerError(ServerErrorCode.Config, 'the alternate port must differ from the UDP port (RFC 5780 §6)');
    sockets.set(1, await bindUdpSocket(udp.host, altPort));
    sockets.set(2, await bindUdpSocket(alternate.host, udp.port));
    return sockets;
  } catch (error) {
    for (const [index, s] of sockets) if (index !== 0) s.close();
    throw error;
  }
}

/**
 * Binds a UDP socket on host:port: the one bind routine for every server socket. On failure the
 * socket is closed before the error is thrown (an unbound socket still holds a handle, which would
 * keep the process alive and leak one per failed start). Once bound, errors on it (ICMP errors
 * reported on UDP) are not fatal to a server: a no-op listener keeps them from throwing, and the
 * caller may add its own.
 */
export function bindUdpSocket(host: string, port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
  return new Promise((resolve, reject) => {
    socket.once('error', (cause) => {
      socket.close();
      reject(new ServerError(ServerErrorCode.Listen, `cannot bind UDP ${host}:${port}: ${cause.message}`, { cause }));
    });
    socket.bind(port, host, () => {
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}
