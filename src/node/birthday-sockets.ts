/**
 * The hard side's extra sockets for a birthday search (spec/traversal.md §Birthday): plain
 * node:dgram sockets (a few datagrams each; the packet path stays on the endpoint's socket until one
 * wins), each able to send its first datagram with a low IP TTL. Every socket is closed when the
 * search ends, except the winner, which carries the connection until it closes.
 */
import dgram from 'node:dgram';
import type { Address } from '../transport/api.js';

const DEFAULT_TTL = 64;

export class BirthdaySocket {
  private closed = false;

  constructor(
    readonly index: number,
    private readonly socket: dgram.Socket,
  ) {}

  get port(): number {
    return this.socket.address().port;
  }

  /** Sends a copy-free datagram (the caller hands over `data`); with `ttl` for this datagram only. */
  send(data: Uint8Array, to: Address, ttl: number | null = null): void {
    if (this.closed) return;
    try {
      if (ttl !== null) this.socket.setTTL(ttl);
      this.socket.send(data, to.port, to.host, () => {
        if (ttl !== null && !this.closed) {
          try {
            this.socket.setTTL(DEFAULT_TTL);
          } catch {
            // closed meanwhile
          }
        }
      });
    } catch {
      // A failed send is a lost datagram.
    }
  }

  /** Closes the socket; true the first time. */
  close(): boolean {
    if (this.closed) return false;
    this.closed = true;
    try {
      this.socket.close();
    } catch {
      // already closed
    }
    return true;
  }
}

/** Opens `count` sockets (fewer if the system refuses some); each datagram goes to `onDatagram`. */
export async function openBirthdaySockets(
  count: number,
  host: string,
  onDatagram: (socket: number, data: Buffer, from: Address) => void,
): Promise<BirthdaySocket[]> {
  const family = host.includes(':') ? 'udp6' : 'udp4';
  const opened = await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const index = i + 1;
      return new Promise<BirthdaySocket | null>((resolve) => {
        const socket = dgram.createSocket(family);
        socket.once('error', () => {
          socket.close();
          resolve(null);
        });
        socket.bind(0, host, () => {
          socket.removeAllListeners('error');
          socket.on('error', () => undefined);
          socket.on('message', (msg, rinfo) => onDatagram(index, msg, { host: rinfo.address, port: rinfo.port }));
          socket.unref();
          resolve(new BirthdaySocket(index, socket));
        });
      });
    }),
  );
  // Indices must stay 1..n without holes: keep the prefix that opened.
  const out: BirthdaySocket[] = [];
  for (const s of opened) {
    if (!s) break;
    out.push(s);
  }
  for (const s of opened.slice(out.length)) s?.close();
  return out;
}
