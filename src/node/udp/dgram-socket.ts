/**
 * The node:dgram backend of UdpSocket (see udp-socket.ts): one sendto(2) per datagram, one callback
 * per received datagram. Used where the native add-on is not available, or when asked for.
 *
 * Send path: datagrams are built in one reusable buffer. libuv's uv_udp_try_send hands a datagram to
 * the kernel synchronously, after which nothing references the buffer; only when libuv had to queue
 * it (kernel buffer full: getSendQueueCount() > 0 right after) does libuv keep the buffer, which is
 * then left to it and replaced. No send takes a completion callback (each would cost a SendWrap
 * callback and a nextTick per datagram), and the exact-length view handed to socket.send is cached,
 * so a steady stream of full-size datagrams allocates no views.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import { isIP } from 'node:net';
import { NodeEndpointError } from '../endpoint-errors.js';
import { UdpSocketError } from './udp-socket-error.js';
import type { Address, UdpReceiver, UdpSocket, UdpSocketOptions, UdpSocketStats } from './udp-socket.js';

/**
 * dgram resolves every destination through `lookup` (dns.lookup: a nextTick per datagram even for IP
 * literals). Transport addresses are always literals: answer those synchronously.
 */
function literalLookup(
  hostname: string,
  options: dns.LookupOneOptions | number,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  // One peer's address repeats for every datagram: remember the last literal (hot path).
  if (hostname === lastLiteral) {
    callback(null, hostname, lastLiteralFamily);
    return;
  }
  const family = isIP(hostname);
  if (family !== 0) {
    lastLiteral = hostname;
    lastLiteralFamily = family;
    callback(null, hostname, family);
  } else dns.lookup(hostname, options as dns.LookupOneOptions, callback);
}
let lastLiteral = '';
let lastLiteralFamily = 0;

export class DgramUdpSocket implements UdpSocket {
  readonly backend = 'dgram' as const;
  /** node:dgram hands every datagram over in a new Buffer: no arena (UdpSocket.receiveArena). */
  readonly receiveArena = null;
  readonly family: 'udp4' | 'udp6';
  private readonly socket: dgram.Socket;
  private readonly receiver: UdpReceiver;
  private readonly room: number;
  private txBuffer: Buffer;
  /** txBuffer[0, txViewLength): reused while datagrams keep the same length. */
  private txView: Buffer;
  private txViewLength = -1;
  /** Kernel send buffer full: libuv queues sends; sendSlot() answers null until its queue is empty. */
  private blocked = false;
  private queueTimer: NodeJS.Timeout | null = null;
  /** Last source handed out, reused while datagrams keep coming from it. */
  private lastFrom: Address = Object.freeze({ host: '', port: 0 });
  private closed = false;
  private counters = {
    datagramsSent: 0,
    sendErrors: 0,
    sendSyscalls: 0,
    recvSyscalls: 0,
    datagramsReceived: 0,
    sendStalls: 0,
  };

  private constructor(socket: dgram.Socket, family: 'udp4' | 'udp6', room: number, receiver: UdpReceiver) {
    this.socket = socket;
    this.family = family;
    this.room = room;
    this.receiver = receiver;
    this.txBuffer = Buffer.allocUnsafeSlow(room);
    this.txView = this.txBuffer;
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (error) => receiver.onError(error));
  }

  static async open(options: UdpSocketOptions, receiver: UdpReceiver): Promise<DgramUdpSocket> {
    const socket = dgram.createSocket({
      type: options.family,
      lookup: literalLookup,
      recvBufferSize: options.recvBufferSize,
      sendBufferSize: options.sendBufferSize,
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        socket.close();
        // The same error as the native backend's (code ERR_PUNCHLINE_UDP_SOCKET, systemCode EADDRINUSE…).
        reject(
          typeof error.errno === 'number'
            ? new UdpSocketError(error.syscall ?? 'bind', error.errno, options.host, options.port, error)
            : error,
        );
      };
      socket.once('error', onError);
      socket.bind({ port: options.port, address: options.host, exclusive: true }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    return new DgramUdpSocket(socket, options.family, options.datagramRoom, receiver);
  }

  address(): { host: string; port: number; family: 'IPv4' | 'IPv6' } {
    const a = this.socket.address();
    return { host: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' };
  }

  sendSlot(): Buffer | null {
    return this.blocked || this.closed ? null : this.txBuffer;
  }

  /** Hot path: one datagram, sent now. */
  commit(length: number, to: Address): void {
    let view = this.txView;
    if (length !== this.txViewLength) {
      view = this.txBuffer.subarray(0, length);
      this.txView = view;
      this.txViewLength = length;
    }
    this.counters.sendSyscalls++;
    this.counters.datagramsSent++;
    // No callback: a send error (EHOSTUNREACH, ...) is datagram loss the transport recovers from.
    this.socket.send(view, to.port, to.host);
    if (this.socket.getSendQueueCount() > 0) {
      // libuv queued it and holds the buffer: leave it to libuv; pause until its queue drains.
      this.txBuffer = Buffer.allocUnsafeSlow(this.room);
      this.txView = this.txBuffer;
      this.txViewLength = -1;
      this.blocked = true;
      this.counters.sendStalls++;
      this.queueTimer = setTimeout(this.checkQueue, 1);
    }
  }

  flush(): void {
    // Every commit() was sent at once.
  }

  send(data: Uint8Array, to: Address, callback: (error: Error | null) => void): void {
    if (this.closed) {
      // Asynchronously, like every other outcome (and like the native backend).
      process.nextTick(callback, new NodeEndpointError('ERR_PUNCHLINE_UDP_CLOSED', 'the socket is closed'));
      return;
    }
    this.counters.sendSyscalls++;
    this.socket.send(data, to.port, to.host, (error) => {
      if (error) this.counters.sendErrors++;
      else this.counters.datagramsSent++;
      callback(error ?? null);
    });
  }

  pendingSends(): number {
    return this.closed ? 0 : this.socket.getSendQueueCount();
  }

  stats(): UdpSocketStats {
    return { backend: 'dgram', ...this.counters, gsoSegments: 0, groSegments: 0, truncated: 0 };
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.queueTimer) clearTimeout(this.queueTimer);
    this.queueTimer = null;
    this.socket.close();
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters.recvSyscalls++;
    this.counters.datagramsReceived++;
    let from = this.lastFrom;
    if (from.port !== rinfo.port || from.host !== rinfo.address) {
      // Frozen: handed out again for every datagram from this source (see native-socket.ts).
      from = Object.freeze({ host: rinfo.address, port: rinfo.port });
      this.lastFrom = from;
    }
    this.receiver.onDatagram(msg, from, rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4');
  }

  private readonly checkQueue = (): void => {
    this.queueTimer = null;
    if (this.closed) return;
    if (this.socket.getSendQueueCount() > 0) {
      this.queueTimer = setTimeout(this.checkQueue, 1);
      return;
    }
    this.blocked = false;
    this.receiver.onWritable();
  };
}
