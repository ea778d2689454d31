/**
 * `StunServer`: the sans-IO StunServerCore on node:dgram — one socket, or four (primary/alternate IP
 * × primary/alternate port) for RFC 5780 behaviour discovery. Ports may be 0 (tests): the primary
 * port is chosen on the primary IP and reused on the alternate IP, likewise the alternate port.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Address } from '../transport/api.js';
import {
  normalizeHost,
  StunError,
  StunErrorCode,
  StunServerCore,
  emptyServerCounters,
  type RateLimitOptions,
  type ServerCounters,
  type SocketIndex,
} from '../traversal/stun/index.js';

export interface StunServerOptions {
  readonly host: string;
  readonly port: number;
  /** Alternate IP and port: both or neither (RFC 5780 needs two IPs and two ports). */
  readonly altHost?: string;
  readonly altPort?: number;
  readonly software?: string;
  readonly rateLimit?: Partial<RateLimitOptions>;
}

const BIND_ATTEMPTS = 8;

export class StunServer {
  private readonly options: StunServerOptions;
  private core: StunServerCore | undefined;
  private sockets = new Map<SocketIndex, dgram.Socket>();
  private sendErrors = 0;

  constructor(options: StunServerOptions) {
    if ((options.altHost === undefined) !== (options.altPort === undefined)) {
      throw new StunError(
        StunErrorCode.InvalidArgument,
        'give both the alternate host and the alternate port, or neither',
      );
    }
    if (options.altHost !== undefined && [options.host, options.altHost].some((h) => h === '0.0.0.0' || h === '::')) {
      // RESPONSE-ORIGIN and OTHER-ADDRESS must name real addresses (RFC 5780 §7.3, §7.4).
      throw new StunError(
        StunErrorCode.InvalidArgument,
        'RFC 5780 mode needs two specific IP addresses, not a wildcard',
      );
    }
    this.options = options;
  }

  /** Primary and (in RFC 5780 mode) alternate address, with the ports actually bound. */
  get addresses(): { primary: Address; alternate: Address | undefined } {
    if (!this.core) throw new StunError(StunErrorCode.InvalidArgument, 'StunServer is not listening');
    return { primary: this.core.primary, alternate: this.core.alternate };
  }

  get counters(): Readonly<ServerCounters & { sendErrors: number }> {
    return { ...(this.core?.counters ?? emptyServerCounters()), sendErrors: this.sendErrors };
  }

  async listen(): Promise<void> {
    if (this.core) return;
    const { host, port, altHost, altPort } = this.options;
    let lastError: unknown;
    for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
      const bound: dgram.Socket[] = [];
      try {
        const s0 = await bindSocket(host, port);
        bound.push(s0);
        const primaryPort = s0.address().port;
        const sockets = new Map<SocketIndex, dgram.Socket>([[0, s0]]);
        let alternate: Address | undefined;
        if (altHost !== undefined && altPort !== undefined) {
          const s3 = await bindSocket(altHost, altPort === 0 ? 0 : altPort);
          bound.push(s3);
          const alternatePort = s3.address().port;
          const s1 = await bindSocket(host, alternatePort);
          bound.push(s1);
          const s2 = await bindSocket(altHost, primaryPort);
          bound.push(s2);
          sockets.set(1, s1).set(2, s2).set(3, s3);
          alternate = { host: normalizeHost(altHost), port: alternatePort };
        }
        this.core = new StunServerCore({
          primary: { host: normalizeHost(host), port: primaryPort },
          ...(alternate ? { alternate } : {}),
          ...(this.options.software === undefined ? {} : { software: this.options.software }),
          ...(this.options.rateLimit === undefined ? {} : { rateLimit: this.options.rateLimit }),
        });
        this.sockets = sockets;
        for (const [index, socket] of sockets) socket.on('message', (msg, rinfo) => this.onMessage(index, msg, rinfo));
        return;
      } catch (error) {
        lastError = error;
        for (const s of bound) s.close();
        // With fixed ports a collision will not go away; with port 0 another try picks new ports.
        if (port !== 0 && (altPort === undefined || altPort !== 0)) break;
      }
    }
    throw lastError instanceof StunError
      ? lastError
      : new StunError(StunErrorCode.Socket, 'cannot bind the STUN server sockets', { cause: lastError });
  }

  async close(): Promise<void> {
    const sockets = [...this.sockets.values()];
    this.sockets.clear();
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  private onMessage(index: SocketIndex, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const core = this.core;
    if (!core) return;
    const out = core.receive(msg, { host: normalizeHost(rinfo.address), port: rinfo.port }, performance.now(), index);
    if (!out) return;
    const socket = this.sockets.get(out.socket);
    if (!socket) return;
    socket.send(out.data, out.destination.port, out.destination.host, (error) => {
      if (error) this.sendErrors++;
    });
  }
}

function bindSocket(host: string, port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
  return new Promise((resolve, reject) => {
    const onError = (cause: Error): void => {
      try {
        socket.close();
      } catch {
        // never bound: nothing to close
      }
      reject(new StunError(StunErrorCode.Socket, `cannot bind ${host}:${port}: ${cause.message}`, { cause }));
    };
    socket.once('error', onError);
    socket.bind(port, host, () => {
      socket.off('error', onError);
      socket.on('error', () => undefined); // ICMP errors on UDP are not fatal to a server
      resolve(socket);
    });
  });
}
