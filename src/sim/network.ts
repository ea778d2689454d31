/**
 * The deterministic network simulator: a virtual clock, an event queue, nodes at `Address`es and one
 * `Link` per direction of each host pair. One seed decides every impairment (and, through
 * `randomSource(label)`, every endpoint's randomness), so a run is reproduced exactly from
 * `reproduction()`, which tests print when they fail.
 *
 * Setting up a connection (transportPair in pair.ts does the same for the transport's endpoints):
 *
 *   const net = new SimNetwork({ seed, link: { delayMs: 20, lossRate: 0.1, reorderRate: 0.05 } });
 *   const A = { host: '10.0.0.1', port: 1000 }, B = { host: '10.0.0.2', port: 2000 };
 *   const client = net.addEndpoint(A, new TransportEndpoint({ ..., random: net.randomSource('A') }));
 *   net.addEndpoint(B, new TransportEndpoint({ ..., random: net.randomSource('B') }));
 *   const conn = client.connect(B, {}, net.now);
 *   net.runUntil(() => conn.state === 'established');
 *   const s = conn.openStream(true); conn.write(s, data); conn.finish(s);
 *   net.runUntil(() => net.events(B).some((e) => e.type === 'stream-readable'));
 *   // on failure: expect.fail(net.reproduction())  (runUntil already throws with it on a stall)
 *
 * Driving rules (the SansIoEndpoint loop of src/transport/api.ts):
 * - Before and after every event, every endpoint is drained, in registration order: pollTransmit into a
 *   2048-byte scratch buffer (each datagram is copied onto its link), pollEvent into `events(address)`
 *   and the `onEvent` hook, then one timer is (re)armed for nextDeadline(). So the test may call
 *   connection methods between runs, or from `onEvent`, and the results go out on the next drain.
 * - A datagram arriving at an endpoint is `endpoint.receive(copy, from, now)`; at a sink it is
 *   `sink(copy, from, now)` (sinks answer with `net.send`). Datagrams to no node are counted and lost.
 * - Equal-time events run in the order they were scheduled.
 * - Middleboxes (NATs, firewalls) see each datagram as it leaves its sender (`outbound`, before the
 *   link — links are keyed by the rewritten hosts) and as it leaves the link (`inbound`, before
 *   routing), and may rewrite or drop it.
 */
import { createHash, type Hash } from 'node:crypto';
import { PunchlineError } from '../errors.js';
import type { Address, ConnectionEvent, RandomSource, SansIoEndpoint } from '../transport/api.js';
import { EventHeap } from './heap.js';
import { Link, validateLinkConfig, type LinkConfig, type LinkStats } from './link.js';
import { SimRandom } from './random.js';

/** A datagram in flight between two addresses. */
export interface SimDatagram {
  readonly from: Address;
  readonly to: Address;
  readonly data: Uint8Array;
}

/** Extension point for NATs and firewalls on the path (see the module comment). Return null to drop. */
export interface Middlebox {
  readonly name: string;
  outbound?(datagram: SimDatagram, now: number): SimDatagram | null;
  inbound?(datagram: SimDatagram, now: number): SimDatagram | null;
}

/** A node that is not a SansIoEndpoint: a STUN server, a relay, a recorder. */
export type DatagramSink = (datagram: Uint8Array, from: Address, now: number) => void;

export interface SimEndpointOptions {
  /**
   * Sees each arriving datagram before the endpoint, as an adapter sharing the socket would
   * (STUN, punch probes, relay frames); returns true when it consumed the datagram. It answers with
   * `net.send(address, to, data)`.
   */
  readonly intercept?: (datagram: Uint8Array, from: Address, now: number) => boolean;
}

export interface SimNetworkOptions {
  readonly seed: number;
  /** Config of every link not set by setLink/setPath; default a perfect link with 10 ms delay. */
  readonly link?: LinkConfig;
  /** Virtual clock at creation, ms (default 1000, so that 0 is never a valid "now"). */
  readonly startTimeMs?: number;
  /** Called for every ConnectionEvent an endpoint reports (they are also kept in events(address)). */
  readonly onEvent?: (address: Address, event: ConnectionEvent, now: number) => void;
  /** Keep a human-readable line per send, delivery and timeout in `traceLog` (the hash is always kept). */
  readonly trace?: boolean;
}

export interface RunLimits {
  /** Virtual time budget from the start of this run, ms (default 120 000). */
  readonly maxTimeMs?: number;
  /** Event budget for this run (default 2 000 000). */
  readonly maxEvents?: number;
}

export interface NetworkStats {
  events: number;
  timeouts: number;
  delivered: number;
  /** Arrived at an address with no node. */
  unroutable: number;
  /** Dropped by a middlebox. */
  blocked: number;
}

export const SimErrorCode = {
  /** runUntil: the predicate did not hold in time. */
  Stall: 'ERR_PUNCHLINE_SIM_STALL',
  /** An endpoint misbehaved under the driving loop (endless transmits or timer livelock). */
  Driver: 'ERR_PUNCHLINE_SIM_DRIVER',
} as const;
export type SimErrorCode = (typeof SimErrorCode)[keyof typeof SimErrorCode];

export class SimError extends PunchlineError<SimErrorCode> {}

/** Thrown by runUntil when the predicate does not hold in time; the message carries reproduction(). */
export class SimStallError extends SimError {
  constructor(message: string) {
    super(SimErrorCode.Stall, message);
  }
}

/** Thrown when an endpoint misbehaves under the driving loop (endless transmits or timer livelock). */
export class SimDriverError extends SimError {
  constructor(message: string) {
    super(SimErrorCode.Driver, message);
  }
}

/**
 * Runs `check` (assertions about a finished run); if it throws, the error's message gets
 * net.reproduction() appended so a failing property-test seed can be replayed. Stall and driver errors
 * already carry it and pass through unchanged.
 */
export function withReproduction<T>(net: SimNetwork, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof Error && !(error instanceof SimStallError) && !(error instanceof SimDriverError)) {
      error.message += `\n${net.reproduction()}`;
    }
    throw error;
  }
}

interface EndpointNode {
  readonly kind: 'endpoint';
  address: Address;
  readonly endpoint: SansIoEndpoint;
  readonly intercept: SimEndpointOptions['intercept'];
  readonly events: ConnectionEvent[];
  timerAt: number;
  timerGen: number;
  /** Consecutive timeouts at the same instant (livelock detection). */
  spins: number;
  lastFire: number;
}

interface SinkNode {
  readonly kind: 'sink';
  address: Address;
  readonly sink: DatagramSink;
}

type Node = EndpointNode | SinkNode;

type SimEvent =
  | { readonly kind: 'deliver'; readonly time: number; readonly seq: number; readonly datagram: SimDatagram }
  | {
      readonly kind: 'timer';
      readonly time: number;
      readonly seq: number;
      readonly node: EndpointNode;
      readonly gen: number;
    }
  | { readonly kind: 'call'; readonly time: number; readonly seq: number; readonly fn: () => void };

const SCRATCH_BYTES = 2048;
const MAX_TRANSMITS_PER_DRAIN = 100_000;
const MAX_TIMER_SPINS = 10_000;

export const DEFAULT_LINK: LinkConfig = { delayMs: 10 };

export function addressKey(address: Address): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

function hostOf(hostOrAddress: string | Address): string {
  return typeof hostOrAddress === 'string' ? hostOrAddress : hostOrAddress.host;
}

function fmt(ms: number): string {
  return ms.toFixed(3);
}

export class SimNetwork {
  readonly seed: number;
  readonly random: SimRandom;
  readonly stats: NetworkStats = { events: 0, timeouts: 0, delivered: 0, unroutable: 0, blocked: 0 };
  /** Filled only with `trace: true`. */
  readonly traceLog: string[] = [];

  #now: number;
  #seq = 0;
  readonly #queue = new EventHeap<SimEvent>();
  readonly #nodes = new Map<string, Node>();
  readonly #links = new Map<string, Link>();
  readonly #defaultLink: LinkConfig;
  readonly #middleboxes: Middlebox[] = [];
  readonly #options: SimNetworkOptions;
  readonly #scratch = new Uint8Array(SCRATCH_BYTES);
  readonly #hash: Hash = createHash('sha256');
  /** Every configuration call, for reproduction(). */
  readonly #setupLog: string[] = [];

  constructor(options: SimNetworkOptions) {
    this.#options = options;
    this.seed = options.seed;
    this.random = new SimRandom(options.seed);
    this.#now = options.startTimeMs ?? 1000;
    this.#defaultLink = options.link ?? DEFAULT_LINK;
    validateLinkConfig(this.#defaultLink);
  }

  /** Virtual clock, ms. */
  get now(): number {
    return this.#now;
  }

  // ---- setup ----------------------------------------------------------------------------------------

  /** Registers an endpoint at `address` and returns it (for chaining). */
  addEndpoint<E extends SansIoEndpoint>(address: Address, endpoint: E, options: SimEndpointOptions = {}): E {
    this.#addNode({
      kind: 'endpoint',
      address,
      endpoint,
      intercept: options.intercept,
      events: [],
      timerAt: Infinity,
      timerGen: 0,
      spins: 0,
      lastFire: NaN,
    });
    return endpoint;
  }

  /** Registers a plain datagram receiver at `address`; it answers with `send(address, to, data)`. */
  addSink(address: Address, sink: DatagramSink): void {
    this.#addNode({ kind: 'sink', address, sink });
  }

  /** Removes the node at `address` (its timer is cancelled; datagrams to it become unroutable). */
  removeNode(address: Address): void {
    const node = this.#nodeAt(address);
    if (node.kind === 'endpoint') node.timerGen++;
    this.#nodes.delete(addressKey(address));
    this.#log(`removeNode(${JSON.stringify(address)})`);
  }

  /** Moves a node to a new address (NAT rebinding, roaming); it keeps its state and pending timer. */
  rebind(from: Address, to: Address): void {
    const node = this.#nodeAt(from);
    if (this.#nodes.has(addressKey(to))) throw new Error(`address ${addressKey(to)} is taken`);
    this.#nodes.delete(addressKey(from));
    node.address = to;
    this.#nodes.set(addressKey(to), node);
    this.#log(`rebind(${JSON.stringify(from)}, ${JSON.stringify(to)})`);
  }

  /** Sets (or replaces) the config of the one-directional link fromHost → toHost. */
  setLink(from: string | Address, to: string | Address, config: LinkConfig): void {
    validateLinkConfig(config);
    const key = `${hostOf(from)}>${hostOf(to)}`;
    const link = this.#links.get(key);
    if (link) link.configure(config);
    else this.#links.set(key, new Link(config, this.random.derive(`link:${key}`)));
    this.#log(`setLink(${JSON.stringify(hostOf(from))}, ${JSON.stringify(hostOf(to))}, ${JSON.stringify(config)})`);
  }

  /** setLink in both directions (two independent links with the same config). */
  setPath(a: string | Address, b: string | Address, config: LinkConfig): void {
    this.setLink(a, b, config);
    this.setLink(b, a, config);
  }

  /** The link fromHost → toHost (created with the default config on first use). */
  link(from: string | Address, to: string | Address): Link {
    const key = `${hostOf(from)}>${hostOf(to)}`;
    let link = this.#links.get(key);
    if (!link) {
      link = new Link(this.#defaultLink, this.random.derive(`link:${key}`));
      this.#links.set(key, link);
    }
    return link;
  }

  linkStats(from: string | Address, to: string | Address): LinkStats {
    return this.link(from, to).stats;
  }

  /** Adds a NAT/firewall; outbound hooks run in insertion order, inbound hooks in reverse order. */
  addMiddlebox(middlebox: Middlebox): void {
    this.#middleboxes.push(middlebox);
    this.#log(`addMiddlebox(${JSON.stringify(middlebox.name)})`);
  }

  /** A reproducible RandomSource for an endpoint, independent of every other stream of this seed. */
  randomSource(label: string): RandomSource {
    return this.random.derive(`source:${label}`).source;
  }

  // ---- observation ----------------------------------------------------------------------------------

  /** Every ConnectionEvent the endpoint at `address` reported so far (the live array; splice freely). */
  events(address: Address): ConnectionEvent[] {
    const node = this.#nodeAt(address);
    if (node.kind !== 'endpoint') throw new Error(`${addressKey(address)} is not an endpoint`);
    return node.events;
  }

  /** Returns and forgets the endpoint's events so far. */
  takeEvents(address: Address): ConnectionEvent[] {
    return this.events(address).splice(0);
  }

  /** sha256 over everything that happened so far (sends with their fate, deliveries, timeouts). */
  traceHash(): string {
    return this.#hash.copy().digest('hex');
  }

  /** What is needed to reproduce this run: seed, default link and every setup call, plus where it is. */
  reproduction(): string {
    const opts = { seed: this.seed, startTimeMs: this.#options.startTimeMs ?? 1000, link: this.#defaultLink };
    return [
      `new SimNetwork(${JSON.stringify(opts)})`,
      ...this.#setupLog.map((line) => `  ${line}`),
      `  -- now=${fmt(this.#now)} events=${this.stats.events} trace=${this.traceHash().slice(0, 16)}`,
    ].join('\n');
  }

  /** reproduction() plus per-link and network counters. */
  describe(): string {
    const lines = [this.reproduction(), `network ${JSON.stringify(this.stats)}`];
    for (const [key, link] of this.#links) lines.push(`link ${key} ${JSON.stringify(link.stats)}`);
    return lines.join('\n');
  }

  // ---- running --------------------------------------------------------------------------------------

  /** Injects a datagram from `from` at the current time (used by sinks and tests); the data is copied. */
  send(from: Address, to: Address, data: Uint8Array): void {
    this.#transmit({ from, to, data: data.slice() });
  }

  /** Runs `fn` at virtual time `time` (≥ now) inside the event loop, e.g. to change a link mid-run. */
  at(time: number, fn: () => void): void {
    this.#schedule({ kind: 'call', time: Math.max(time, this.#now), seq: this.#seq++, fn });
  }

  /** Runs `fn` `ms` from now. */
  after(ms: number, fn: () => void): void {
    this.at(this.#now + ms, fn);
  }

  /** Time of the next event, or Infinity when the network is idle. */
  nextEventTime(): number {
    this.#pump();
    return this.#peekLive()?.time ?? Infinity;
  }

  /** Processes the next event (and drains every endpoint). Returns false when there was none. */
  step(): boolean {
    this.#pump();
    if (!this.#peekLive()) return false;
    const event = this.#queue.pop()!;
    this.#now = Math.max(this.#now, event.time);
    this.stats.events++;
    this.#process(event);
    this.#pump();
    return true;
  }

  /** Runs every event up to now + ms, then sets the clock to now + ms. */
  runFor(ms: number, limits: Pick<RunLimits, 'maxEvents'> = {}): void {
    const end = this.#now + ms;
    const maxEvents = limits.maxEvents ?? 2_000_000;
    let events = 0;
    while (this.nextEventTime() <= end) {
      if (events++ >= maxEvents) this.#stall(`runFor(${ms}): more than ${maxEvents} events`);
      this.step();
    }
    this.#now = Math.max(this.#now, end);
    this.#pump();
  }

  /**
   * Steps until `predicate()` holds (checked before the first and after every event). Throws
   * SimStallError, with reproduction(), if the network goes idle or a limit is reached first.
   */
  runUntil(predicate: () => boolean, limits: RunLimits = {}): void {
    this.#pump();
    const deadline = this.#now + (limits.maxTimeMs ?? 120_000);
    const maxEvents = limits.maxEvents ?? 2_000_000;
    let events = 0;
    while (!predicate()) {
      const next = this.nextEventTime();
      if (next === Infinity) this.#stall('runUntil: network idle and predicate still false');
      if (next > deadline) {
        this.#now = deadline;
        this.#stall(`runUntil: predicate still false after ${limits.maxTimeMs ?? 120_000} ms`);
      }
      if (events++ >= maxEvents) this.#stall(`runUntil: predicate still false after ${maxEvents} events`);
      this.step();
    }
  }

  // ---- internals ------------------------------------------------------------------------------------

  #addNode(node: Node): void {
    const key = addressKey(node.address);
    if (this.#nodes.has(key)) throw new Error(`address ${key} is taken`);
    this.#nodes.set(key, node);
    this.#log(`${node.kind === 'endpoint' ? 'addEndpoint' : 'addSink'}(${JSON.stringify(node.address)})`);
  }

  #nodeAt(address: Address): Node {
    const node = this.#nodes.get(addressKey(address));
    if (!node) throw new Error(`no node at ${addressKey(address)}`);
    return node;
  }

  #log(call: string): void {
    this.#setupLog.push(`t=${fmt(this.#now)} ${call}`);
  }

  #stall(why: string): never {
    throw new SimStallError(`${why}\n${this.describe()}`);
  }

  #record(line: string, data?: Uint8Array): void {
    this.#hash.update(line);
    this.#hash.update('\n');
    if (data) this.#hash.update(data);
    if (this.#options.trace) this.traceLog.push(line);
  }

  /** The next event that is not a cancelled timer (cancelled ones on top are discarded). */
  #peekLive(): SimEvent | undefined {
    for (;;) {
      const event = this.#queue.peek();
      if (event?.kind !== 'timer' || event.gen === event.node.timerGen) return event;
      this.#queue.pop();
    }
  }

  #schedule(event: SimEvent): void {
    this.#queue.push(event);
  }

  #process(event: SimEvent): void {
    switch (event.kind) {
      case 'deliver':
        this.#deliver(event.datagram);
        break;
      case 'timer': {
        const node = event.node;
        node.timerAt = Infinity;
        if (node.lastFire === this.#now) {
          if (++node.spins > MAX_TIMER_SPINS) {
            throw new SimDriverError(
              `${addressKey(node.address)}: onTimeout called ${MAX_TIMER_SPINS} times at t=${fmt(this.#now)} ` +
                `without nextDeadline() moving on\n${this.describe()}`,
            );
          }
        } else {
          node.spins = 0;
          node.lastFire = this.#now;
        }
        this.stats.timeouts++;
        this.#record(`${fmt(this.#now)} timeout ${addressKey(node.address)}`);
        node.endpoint.onTimeout(this.#now);
        break;
      }
      case 'call':
        event.fn();
        break;
    }
  }

  #transmit(original: SimDatagram): void {
    let datagram: SimDatagram | null = original;
    for (const box of this.#middleboxes) {
      datagram = box.outbound ? box.outbound(datagram, this.#now) : datagram;
      if (!datagram) {
        this.stats.blocked++;
        this.#record(
          `${fmt(this.#now)} blocked-out ${addressKey(original.from)}>${addressKey(original.to)} by ${box.name}`,
        );
        return;
      }
    }
    const route = `${addressKey(datagram.from)}>${addressKey(datagram.to)}`;
    const outcome = this.link(datagram.from, datagram.to).send(datagram.data, this.#now);
    const fate = outcome.dropped
      ? `drop:${outcome.dropped}`
      : outcome.deliveries.map((d) => `${fmt(d.at)}${d.duplicate ? 'd' : ''}${d.corrupted ? 'c' : ''}`).join(',');
    this.#record(`${fmt(this.#now)} send ${route} len=${datagram.data.length} -> ${fate}`, datagram.data);
    for (const delivery of outcome.deliveries) {
      const arriving = { from: datagram.from, to: datagram.to, data: delivery.data };
      this.#schedule({ kind: 'deliver', time: delivery.at, seq: this.#seq++, datagram: arriving });
    }
  }

  #deliver(arrived: SimDatagram): void {
    let datagram: SimDatagram | null = arrived;
    for (let i = this.#middleboxes.length - 1; i >= 0; i--) {
      const box = this.#middleboxes[i]!;
      datagram = box.inbound ? box.inbound(datagram, this.#now) : datagram;
      if (!datagram) {
        this.stats.blocked++;
        this.#record(
          `${fmt(this.#now)} blocked-in ${addressKey(arrived.from)}>${addressKey(arrived.to)} by ${box.name}`,
        );
        return;
      }
    }
    const route = `${addressKey(datagram.from)}>${addressKey(datagram.to)}`;
    const node = this.#nodes.get(addressKey(datagram.to));
    if (!node) {
      this.stats.unroutable++;
      this.#record(`${fmt(this.#now)} unroutable ${route} len=${datagram.data.length}`);
      return;
    }
    this.stats.delivered++;
    this.#record(`${fmt(this.#now)} recv ${route} len=${datagram.data.length}`);
    if (node.kind === 'sink') node.sink(datagram.data, datagram.from, this.#now);
    else if (!node.intercept?.(datagram.data, datagram.from, this.#now)) {
      node.endpoint.receive(datagram.data, datagram.from, this.#now);
    }
  }

  /** Drains every endpoint until none has anything to send or report; re-arms their timers. */
  #pump(): void {
    for (let round = 0; ; round++) {
      let busy = false;
      for (const node of [...this.#nodes.values()]) {
        if (node.kind === 'endpoint' && this.#nodes.get(addressKey(node.address)) === node) {
          busy = this.#drain(node) || busy;
        }
      }
      if (!busy) return;
      if (round > 1000) throw new SimDriverError(`drain does not settle at t=${fmt(this.#now)}\n${this.describe()}`);
    }
  }

  #drain(node: EndpointNode): boolean {
    let busy = false;
    for (let n = 0; ; n++) {
      if (n >= MAX_TRANSMITS_PER_DRAIN) {
        throw new SimDriverError(
          `${addressKey(node.address)}: more than ${MAX_TRANSMITS_PER_DRAIN} datagrams from one drain at ` +
            `t=${fmt(this.#now)}\n${this.describe()}`,
        );
      }
      const transmit = node.endpoint.pollTransmit(this.#now, this.#scratch);
      if (!transmit) break;
      busy = true;
      this.#transmit({ from: node.address, to: transmit.destination, data: this.#scratch.slice(0, transmit.length) });
    }
    for (let event = node.endpoint.pollEvent(); event; event = node.endpoint.pollEvent()) {
      busy = true;
      node.events.push(event);
      this.#options.onEvent?.(node.address, event, this.#now);
    }
    const deadline = node.endpoint.nextDeadline();
    if (deadline !== node.timerAt) {
      node.timerAt = deadline;
      node.timerGen++;
      if (deadline !== Infinity) {
        this.#schedule({
          kind: 'timer',
          time: Math.max(deadline, this.#now),
          seq: this.#seq++,
          node,
          gen: node.timerGen,
        });
      }
    }
    return busy;
  }
}
