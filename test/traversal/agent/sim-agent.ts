/**
 * Runs a PunchSession in the simulator: one node for the endpoint's socket and one per birthday
 * socket the agent asks for (same host, ports base+k), like the node layer does with real sockets.
 */
import type { Address, ConnectionEvent, SansIoEndpoint, Transmit } from '../../../src/transport/api.js';
import type { AgentEvent, AgentTransmit, PunchSession } from '../../../src/traversal/agent/index.js';
import type { SimNetwork } from '../../../src/sim/network.js';
import type { NatMiddlebox } from './nat-middlebox.js';

class SocketNode {
  readonly queue: AgentTransmit[] = [];
  constructor(
    readonly owner: AgentNode,
    readonly index: number,
  ) {}
  connect(): never {
    throw new Error('not a transport endpoint');
  }
  receive(datagram: Uint8Array, from: Address, now: number): void {
    this.owner.session.receive(datagram, from, now, this.index);
  }
  pollTransmit(now: number, buffer: Uint8Array): Transmit | null {
    const t = this.index === 0 ? this.owner.pull(now) : this.queue.shift();
    if (!t) return null;
    buffer.set(t.data);
    if (t.ttl !== null) this.owner.nat?.lowTtl.add(Buffer.from(t.data).toString('hex'));
    return { destination: t.destination, length: t.data.length };
  }
  pollEvent(): ConnectionEvent | null {
    if (this.index === 0) this.owner.drainEvents();
    return null;
  }
  nextDeadline(): number {
    return this.index === 0 ? this.owner.session.nextDeadline() : Infinity;
  }
  onTimeout(now: number): void {
    if (this.index === 0) this.owner.session.onTimeout(now);
  }
  close(): void {}
  readonly connections = new Map();
}

export class AgentNode {
  readonly events: (AgentEvent & { at: number })[] = [];
  readonly sockets: SocketNode[] = [];
  readonly open = new Set<number>();

  constructor(
    readonly net: SimNetwork,
    readonly address: Address,
    readonly session: PunchSession,
    readonly nat: NatMiddlebox | null,
  ) {
    const main = new SocketNode(this, 0);
    this.sockets.push(main);
    net.addEndpoint(address, main as unknown as SansIoEndpoint);
  }

  socketAddress(k: number): Address {
    return { host: this.address.host, port: this.address.port + k };
  }

  /** Socket 0 pulls every transmit of the session; the others go to their socket's queue. */
  pull(now: number): AgentTransmit | null {
    for (let t = this.session.pollTransmit(now); t; t = this.session.pollTransmit(now)) {
      if (t.socket === 0) return t;
      const node = this.sockets[t.socket];
      if (node && this.open.has(t.socket)) node.queue.push(t);
    }
    return null;
  }

  drainEvents(): void {
    for (let e = this.session.pollEvent(); e; e = this.session.pollEvent()) {
      this.events.push({ ...e, at: this.net.now });
      if (e.type === 'open-sockets') {
        for (let k = 1; k <= e.count; k++) {
          const node = new SocketNode(this, k);
          this.sockets[k] = node;
          this.open.add(k);
          this.net.addEndpoint(this.socketAddress(k), node as unknown as SansIoEndpoint);
        }
        this.session.socketsOpened(e.count);
      } else if (e.type === 'close-sockets') {
        for (const k of [...this.open]) {
          if (e.keep.includes(k)) continue;
          this.open.delete(k);
          this.net.removeNode(this.socketAddress(k));
        }
      }
    }
  }

  selected(): (AgentEvent & { type: 'selected'; at: number }) | undefined {
    return this.events.filter((e) => e.type === 'selected').at(-1) as
      | (AgentEvent & { type: 'selected'; at: number })
      | undefined;
  }
}
