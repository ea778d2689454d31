/**
 * The I/O of PortMapper's UPnP IGD client (src/traversal/portmap/upnp): the short-lived SSDP search
 * socket (multicast from a socket of its own) and the SOAP exchanges over TCP with the gateway's
 * control URL. What the datagrams and responses mean stays in the sans-IO core.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Address } from '../transport/api.js';
import { HttpResponseReader, PortmapError, PortmapErrorCode, type UpnpIgdClient } from '../traversal/portmap/index.js';
import { normalizeHost } from '../traversal/stun/address.js';
import type { PortMapperLog } from './port-mapper-types.js';

/** What one HTTP exchange ended with: the gateway's response (and our address towards it), or why not. */
type HttpExchangeResult = Parameters<UpnpIgdClient['receiveHttp']>[1];

export interface UpnpIoEvents {
  /** Our address towards the gateway (the SSDP multicast interface), when known. */
  clientIp(): string | undefined;
  onSsdpDatagram(datagram: Uint8Array, from: Address): void;
  onHttpResult(id: number, result: HttpExchangeResult): void;
  readonly log: PortMapperLog;
}

export class UpnpIo {
  private ssdp: dgram.Socket | null = null;
  private readonly httpSockets = new Set<net.Socket>();

  constructor(private readonly events: UpnpIoEvents) {}

  /** Sends an SSDP search datagram (opening the search socket when needed). */
  sendSsdp(data: Uint8Array, destination: Address): void {
    this.ssdpSocket().send(data, destination.port, destination.host, (error) => {
      if (error) this.events.log('SSDP send failed', { error: String(error) });
    });
  }

  /**
   * The SSDP socket, opened when a search has something to send and closed once the search is over
   * (it is short-lived: a later re-discovery opens another). Sends made while it binds are queued
   * by node:dgram.
   */
  private ssdpSocket(): dgram.Socket {
    if (this.ssdp) return this.ssdp;
    const socket = dgram.createSocket('udp4');
    socket.on('error', (error) => this.events.log('SSDP socket error', { error: String(error) }));
    socket.on('message', (msg, rinfo) =>
      this.events.onSsdpDatagram(msg, { host: normalizeHost(rinfo.address), port: rinfo.port }),
    );
    socket.bind(0, () => {
      try {
        const clientIp = this.events.clientIp();
        if (clientIp !== undefined) socket.setMulticastInterface(clientIp);
      } catch (error) {
        this.events.log('SSDP multicast interface not set', { error: String(error) });
      }
    });
    this.ssdp = socket;
    return socket;
  }

  closeSsdp(): void {
    if (this.ssdp) {
      this.ssdp.close();
      this.ssdp = null;
    }
  }

  /** Closes the search socket and aborts every HTTP exchange under way. */
  close(): void {
    this.closeSsdp();
    for (const s of this.httpSockets) s.destroy();
  }

  /** One HTTP request/response over its own TCP connection (bounded: 5 s of inactivity). */
  runHttp(id: number, destination: Address, request: Uint8Array): void {
    const reader = new HttpResponseReader();
    let settled = false;
    const socket = net.connect({ host: destination.host, port: destination.port });
    this.httpSockets.add(socket);
    const startedAt = performance.now();
    const finish = (result: HttpExchangeResult): void => {
      if (settled) return;
      settled = true;
      this.events.log('HTTP exchange', {
        to: `${destination.host}:${destination.port}`,
        ms: Math.round(performance.now() - startedAt),
        ...(result instanceof PortmapError ? { error: result.message } : { status: result.response.status }),
      });
      socket.destroy();
      this.httpSockets.delete(socket);
      this.events.onHttpResult(id, result);
    };
    socket.setTimeout(5000, () => finish(new PortmapError(PortmapErrorCode.Timeout, 'HTTP exchange timed out')));
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      try {
        const response = reader.push(chunk);
        if (response) finish({ response, localAddress: socket.localAddress ?? '' });
      } catch (error) {
        finish(error as PortmapError);
      }
    });
    socket.on('end', () => {
      try {
        finish({ response: reader.end(), localAddress: socket.localAddress ?? '' });
      } catch (error) {
        finish(error as PortmapError);
      }
    });
    socket.on('error', (error) =>
      finish(
        new PortmapError(PortmapErrorCode.Network, `HTTP to ${destination.host}:${destination.port}: ${error.message}`),
      ),
    );
  }
}
