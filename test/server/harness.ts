/**
 * In-memory harness: one RendezvousServerCore, any number of RendezvousClientCores, a virtual clock
 * and a seeded random source. Control messages and UDP datagrams are moved synchronously by step().
 */
import { createHash } from 'node:crypto';
import { RendezvousServerCore, type RendezvousServerOptions } from '../../src/server/rendezvous-core.js';
import { RendezvousClientCore, type ClientEvent } from '../../src/traversal/rendezvous/client-core.js';
import { generateKeyPair, type KeyPair } from '../../src/crypto/keys.js';
import type { Address } from '../../src/transport/api.js';

/** Deterministic "random" bytes (SHA-256 counter mode) so failures reproduce. */
export function seededRandom(seed: string): (b: Uint8Array) => void {
  let counter = 0;
  return (b) => {
    let off = 0;
    while (off < b.length) {
      const block = createHash('sha256').update(`${seed}:${counter++}`).digest();
      const n = Math.min(block.length, b.length - off);
      b.set(block.subarray(0, n), off);
      off += n;
    }
  };
}

export interface TestClient {
  readonly name: string;
  readonly keys: KeyPair;
  readonly core: RendezvousClientCore;
  readonly sessionId: number;
  readonly address: Address;
  readonly events: ClientEvent[];
  closed: boolean;
  closeReason?: string;
  /** Raw inner datagrams delivered to this client's relay leg(s) over UDP, and over its stream relay. */
  readonly udpReceived: Uint8Array[];
  readonly streamReceived: Uint8Array[];
  /** Control datagrams (channel 0) the server sent to this client over UDP. */
  udpControlReceived: number;
}

export class Harness {
  now = 1_000_000;
  readonly server: RendezvousServerCore;
  readonly clients = new Map<number, TestClient>();
  readonly byAddress = new Map<string, TestClient>();
  /** Datagrams the server sent to addresses no client owns (e.g. a spoofed victim). */
  readonly strayUdp: { to: Address; data: Uint8Array }[] = [];
  private port = 40000;

  constructor(options: Partial<RendezvousServerOptions> = {}) {
    this.server = new RendezvousServerCore({
      staticKeyPair: generateKeyPair(seededRandom('server-key')),
      random: seededRandom('server'),
      ...options,
    });
  }

  /** Opens a session for a new client and runs the registration exchange. */
  connect(
    name: string,
    options: { keys?: KeyPair; pin?: Uint8Array | null; channelBinding?: Uint8Array } = {},
  ): TestClient {
    const keys = options.keys ?? generateKeyPair(seededRandom(`key-${name}`));
    const pin = options.pin === undefined ? this.server.serverPublicKey : options.pin;
    const core = new RendezvousClientCore({
      staticKeyPair: keys,
      random: seededRandom(`client-${name}`),
      ...(pin ? { serverPublicKey: pin } : {}),
      ...(options.channelBinding ? { channelBinding: options.channelBinding } : {}),
    });
    const sessionId = this.server.openSession(this.now);
    if (sessionId === null) throw new Error('server full');
    const client: TestClient = {
      name,
      keys,
      core,
      sessionId,
      address: { host: '198.51.100.1', port: this.port++ },
      events: [],
      closed: false,
      udpReceived: [],
      streamReceived: [],
      udpControlReceived: 0,
    };
    this.clients.set(sessionId, client);
    this.byAddress.set(`${client.address.host}|${client.address.port}`, client);
    this.step();
    return client;
  }

  /** Moves every queued message/datagram until quiescent. */
  step(): void {
    for (let round = 0; round < 100; round++) {
      let moved = false;
      for (let out = this.server.pollOutput(); out !== null; out = this.server.pollOutput()) {
        moved = true;
        const client = 'sessionId' in out ? this.clients.get(out.sessionId) : undefined;
        switch (out.kind) {
          case 'send':
            if (client && !client.closed) client.core.receive(out.data, this.now);
            break;
          case 'close':
            if (client) {
              client.closed = true;
              client.closeReason = out.reason;
            }
            break;
          case 'udp': {
            const target = this.byAddress.get(`${out.to.host}|${out.to.port}`);
            if (!target) this.strayUdp.push({ to: out.to, data: out.data });
            else if (out.data.subarray(1, 9).every((b) => b === 0)) {
              target.udpControlReceived += 1;
              target.core.receiveDatagram(out.data, this.now);
            } else target.udpReceived.push(out.data);
            break;
          }
          case 'relay-stream':
            client?.streamReceived.push(out.data);
            break;
          case 'relay-stream-close':
            break;
        }
      }
      for (const client of this.clients.values()) {
        for (let e = client.core.pollEvent(); e !== null; e = client.core.pollEvent()) client.events.push(e);
        if (client.closed) continue;
        for (let m = client.core.pollTransmit(); m !== null; m = client.core.pollTransmit()) {
          moved = true;
          this.server.receive(client.sessionId, m, this.now);
        }
        for (let d = client.core.pollDatagram(); d !== null; d = client.core.pollDatagram()) {
          moved = true;
          this.server.receiveDatagram(d, client.address, this.now);
        }
        for (let e = client.core.pollEvent(); e !== null; e = client.core.pollEvent()) client.events.push(e);
      }
      if (!moved) return;
    }
    throw new Error('harness did not settle');
  }

  advance(ms: number): void {
    const end = this.now + ms;
    while (this.now < end) {
      let next = Math.min(end, this.server.nextDeadline());
      for (const c of this.clients.values()) if (!c.closed) next = Math.min(next, c.core.nextDeadline());
      this.now = Math.max(this.now, Math.min(end, next));
      this.server.onTimeout(this.now);
      for (const c of this.clients.values()) if (!c.closed) c.core.onTimeout(this.now);
      this.step();
      if (next >= end) break;
    }
    this.now = end;
    this.server.onTimeout(this.now);
    this.step();
  }

  close(client: TestClient): void {
    client.closed = true;
    this.server.closeSession(client.sessionId);
    this.step();
  }

  take<T extends ClientEvent['type']>(client: TestClient, type: T): Extract<ClientEvent, { type: T }>[] {
    const matching = client.events.filter((e): e is Extract<ClientEvent, { type: T }> => e.type === type);
    client.events.splice(0, client.events.length, ...client.events.filter((e) => e.type !== type));
    return matching;
  }
}
