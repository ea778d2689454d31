/**
 * Where a connection made by public key really sends (spec/traversal.md §Node integration).
 *
 * The transport core of such a connection talks to a VIRTUAL address in the RFC 6666 discard-only
 * prefix 100::/64 (never a real destination), and this table says what that address means right
 * now: the peer's address on the endpoint's socket (direct), a birthday socket's pair (direct), the
 * UDP relay (encapsulated to the server, spec/wire.md §4.2) or the stream relay (the WebTransport
 * session). Switching path is then a change of one table entry: the transport sees neither an
 * address change nor a migration, every packet in flight is still accepted (whatever path it
 * arrives on) and anything lost in the switch is retransmitted, so no byte is lost, duplicated or
 * reordered for the application. Received datagrams are mapped back the other way, so the core
 * always sees the virtual address as the source.
 *
 * Packet path: lookups are by host string and port in nested maps (no key strings built per datagram).
 */
import type { Address } from '../transport/api.js';
import { RELAY_HEADER_LENGTH, writeRelayHeader } from '../wire/relay.js';

export type PathKind = 'direct' | 'relay-udp' | 'relay-stream';

/** How datagrams of one virtual address leave. */
export type Route =
  /** On the endpoint's socket to `to` (a direct pair), or to the server with a relay header in front. */
  | { readonly kind: 'direct' | 'relay-udp'; readonly to: Address; readonly header: Uint8Array | null }
  /** Handed to another carrier (a birthday socket, the stream relay): the data is a copy. */
  | { readonly kind: 'direct' | 'relay-stream'; readonly to: null; send(datagram: Uint8Array): void };

const VIRTUAL_PREFIX = '100::';

export function isVirtualHost(host: string): boolean {
  return host.charCodeAt(0) === 0x31 && host.startsWith(VIRTUAL_PREFIX);
}

/** A UDP relay route: 0x12 ‖ our leg's channel ‖ inner, sent to the server's UDP address. */
export function relayUdpRoute(server: Address, channel: Uint8Array): Route {
  const header = new Uint8Array(RELAY_HEADER_LENGTH);
  writeRelayHeader(header, 0, channel);
  return { kind: 'relay-udp', to: server, header };
}

export class PeerRoutes {
  private next = 1;
  private readonly routes = new Map<string, Route>();
  /** Sources on the endpoint's socket that belong to a virtual address: host → port → virtual. */
  private readonly sources = new Map<string, Map<number, Address>>();
  private sourceCount = 0;

  /** A fresh virtual address (never reused within this endpoint). */
  allocate(): Address {
    return Object.freeze({ host: `${VIRTUAL_PREFIX}${(this.next++).toString(16)}`, port: 1 });
  }

  get size(): number {
    return this.routes.size;
  }

  set(virtual: Address, route: Route | null): void {
    if (route) this.routes.set(virtual.host, route);
    else this.routes.delete(virtual.host);
  }

  route(host: string): Route | undefined {
    return this.routes.get(host);
  }

  /** Datagrams from `source` on the endpoint's socket are the peer of `virtual`. */
  addSource(source: Address, virtual: Address): void {
    let ports = this.sources.get(source.host);
    if (!ports) {
      ports = new Map();
      this.sources.set(source.host, ports);
    }
    if (!ports.has(source.port)) this.sourceCount++;
    ports.set(source.port, virtual);
  }

  /** Forgets every source and the route of `virtual`. */
  remove(virtual: Address): void {
    this.routes.delete(virtual.host);
    for (const [host, ports] of this.sources) {
      for (const [port, v] of ports)
        if (v.host === virtual.host) {
          ports.delete(port);
          this.sourceCount--;
        }
      if (ports.size === 0) this.sources.delete(host);
    }
  }

  /** The virtual address a datagram from `from` belongs to, or null. Hot path: no allocation. */
  virtualFor(from: Address): Address | null {
    if (this.sourceCount === 0) return null;
    return this.sources.get(from.host)?.get(from.port) ?? null;
  }
}
