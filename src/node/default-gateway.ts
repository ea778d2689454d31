/**
 * The default IPv4 gateway and our address towards it — what NAT-PMP and PCP talk to (RFC 6886 §3,
 * RFC 6887 §8.1: the client sends to its default router). Linux reads /proc/net/route; elsewhere
 * callers pass the gateway explicitly. Our own address is learned by connecting a throwaway UDP
 * socket to the gateway (no datagram is sent) and asking the kernel which source it chose.
 */
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';

/** The IPv4 default gateway from /proc/net/route (lowest metric), or undefined. */
export async function defaultGateway(routeTable = '/proc/net/route'): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(routeTable, 'utf8');
  } catch {
    return undefined;
  }
  return parseRouteTable(text);
}

/** Parses /proc/net/route: destination 00000000, flags with RTF_GATEWAY (0x2), little-endian hex. */
export function parseRouteTable(text: string): string | undefined {
  let best: { gateway: string; metric: number } | undefined;
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8) continue;
    const [, destination, gateway, flags, , , metric] = fields;
    if (destination !== '00000000' || gateway === undefined || !/^[0-9A-Fa-f]{8}$/.test(gateway)) continue;
    if ((Number.parseInt(flags ?? '0', 16) & 0x2) === 0) continue;
    const n = Number.parseInt(gateway, 16);
    const address = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
    const m = Number(metric);
    if (best === undefined || m < best.metric) best = { gateway: address, metric: m };
  }
  return best?.gateway;
}

/** The local IPv4 address the kernel uses to reach `gateway`. */
export function localAddressTowards(gateway: string, port = 5351): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', (error) => {
      socket.close();
      reject(error);
    });
    socket.connect(port, gateway, () => {
      const { address } = socket.address();
      socket.close();
      resolve(address);
    });
  });
}
