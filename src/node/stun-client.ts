/**
 * Node binding of the sans-IO STUN client and NAT behaviour discovery (src/traversal/stun).
 *
 * Works on any UDP socket:
 *   - its own: pass `null` and a socket is bound for the call (and closed after);
 *   - a caller's node:dgram socket: a 'message' listener is attached for the call;
 *   - a shared socket whose owner keeps the only listener (the Endpoint): create a `StunClient` with
 *     a `{ send }` sink and call `client.receive(buf, rinfo)` for each STUN datagram
 *     (e.g. `endpoint.addDatagramHandler('stun', (b, r) => client.receive(b, r))`).
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { systemRandom } from '../crypto/sodium.js';
import type { Address, DataTransmit, RandomSource } from '../transport/api.js';
import {
  NatBehaviourDiscovery,
  normalizeHost,
  StunBindingClient,
  StunError,
  StunErrorCode,
  type BindingRequestOptions,
  type BindingSuccess,
  type NatBehaviour,
  type RetransmissionOptions,
} from '../traversal/stun/index.js';

/** Anything that can send a datagram: a dgram socket is adapted to this, the Endpoint already is one. */
export interface DatagramSink {
  send(data: Uint8Array, to: Address): unknown;
}

/** node:dgram's rinfo (`address`) or the Endpoint's (`host`). */
export interface SourceInfo {
  readonly address?: string;
  readonly host?: string;
  readonly port: number;
}

export interface StunCallOptions {
  readonly signal?: AbortSignal;
  readonly retransmission?: RetransmissionOptions;
  readonly software?: string;
  readonly random?: RandomSource;
}

/** A sans-IO core this driver can run: the Binding client and the discovery machine both fit. */
interface SansIoCore {
  receive(data: Uint8Array, from: Address, now: number): boolean;
  pollTransmit(now: number): DataTransmit | null;
  nextDeadline(): number;
  onTimeout(now: number): void;
}

/** Runs a sans-IO core with one timer and a sink. */
class Driver {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly core: SansIoCore,
    private readonly sink: DatagramSink,
    private readonly afterService: () => void,
  ) {}

  receive(data: Uint8Array, from: SourceInfo): boolean {
    const host = from.host ?? from.address;
    if (this.closed || host === undefined) return false;
    const consumed = this.core.receive(data, { host: normalizeHost(host), port: from.port }, performance.now());
    this.service();
    return consumed;
  }

  service(): void {
    if (this.closed) return;
    const now = performance.now();
    this.core.onTimeout(now);
    for (let t = this.core.pollTransmit(now); t; t = this.core.pollTransmit(now)) {
      try {
        const result = this.sink.send(t.data, t.destination);
        if (result instanceof Promise) result.catch(() => undefined); // lost like any datagram; retransmission covers it
      } catch {
        // same: a failed send is a lost datagram
      }
    }
    this.afterService();
    if (this.closed) return;
    clearTimeout(this.timer);
    const deadline = this.core.nextDeadline();
    if (deadline !== Infinity)
      this.timer = setTimeout(() => this.service(), Math.max(0, Math.ceil(deadline - performance.now())));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

function dgramSink(socket: dgram.Socket): DatagramSink {
  return {
    send: (data, to) =>
      new Promise<void>((resolve, reject) =>
        socket.send(data, to.port, to.host, (error) => (error ? reject(error) : resolve())),
      ),
  };
}

export function abortError(): StunError {
  return new StunError(StunErrorCode.Aborted, 'STUN operation aborted');
}

/**
 * A long-lived STUN Binding client on a shared socket. The owner forwards received STUN datagrams
 * with receive (true means it was a response to one of ours).
 */
export class StunClient {
  private readonly core: StunBindingClient;
  private readonly driver: Driver;
  private readonly waiters = new Map<number, { resolve(v: BindingSuccess): void; reject(e: unknown): void }>();

  constructor(sink: DatagramSink, options: Omit<StunCallOptions, 'signal'> = {}) {
    this.core = new StunBindingClient({
      random: options.random ?? systemRandom,
      ...(options.software === undefined ? {} : { software: options.software }),
      ...(options.retransmission === undefined ? {} : { retransmission: options.retransmission }),
    });
    this.driver = new Driver(this.core, sink, () => this.dispatch());
  }

  receive(data: Uint8Array, from: SourceInfo): boolean {
    return this.driver.receive(data, from);
  }

  /** One Binding transaction; resolves with the mapped address, rejects with a StunError. */
  binding(server: Address, options: BindingRequestOptions & { signal?: AbortSignal } = {}): Promise<BindingSuccess> {
    if (options.signal?.aborted) return Promise.reject(abortError());
    const { signal, ...request } = options;
    return new Promise<BindingSuccess>((resolve, reject) => {
      const id = this.core.request(server, performance.now(), request);
      const onAbort = (): void => {
        this.core.cancel(id);
        this.waiters.delete(id);
        reject(abortError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.set(id, {
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      this.driver.service();
    });
  }

  /** Stops the timer and fails every pending call. */
  close(): void {
    this.driver.close();
    for (const [id, w] of this.waiters) {
      this.core.cancel(id);
      w.reject(new StunError(StunErrorCode.Aborted, 'STUN client closed'));
    }
    this.waiters.clear();
  }

  private dispatch(): void {
    for (let e = this.core.pollEvent(); e; e = this.core.pollEvent()) {
      const w = this.waiters.get(e.id);
      if (!w) continue;
      this.waiters.delete(e.id);
      if (e.type === 'success') w.resolve(e);
      else w.reject(e.error);
    }
  }
}

/** Binds a fresh UDP socket on the interface that routes to `server` (so its address is meaningful). */
export async function bindSocketFor(server: Address, port = 0): Promise<dgram.Socket> {
  const type = isIPv6(server.host) ? 'udp6' : 'udp4';
  const probe = dgram.createSocket(type);
  let localHost: string;
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.connect(server.port, server.host, () => resolve());
    });
    localHost = probe.address().address;
  } catch (cause) {
    throw new StunError(StunErrorCode.Socket, `no route to ${server.host}:${server.port}`, { cause });
  } finally {
    probe.close();
  }
  const socket = dgram.createSocket(type);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (cause) =>
      reject(new StunError(StunErrorCode.Socket, `cannot bind ${localHost}:${port}`, { cause })),
    );
    socket.bind(port, localHost, () => resolve());
  });
  return socket;
}

/**
 * Runs `body` on the caller's socket (a 'message' listener is attached for the call: the caller's own
 * listeners keep receiving everything too) or on a temporary socket of our own.
 */
async function withSocket<T>(
  socket: dgram.Socket | null,
  server: Address,
  body: (socket: dgram.Socket) => Promise<T>,
): Promise<T> {
  if (socket) return body(socket);
  const own = await bindSocketFor(server);
  try {
    return await body(own);
  } finally {
    own.close();
  }
}

export interface StunBindingResult {
  /** Our address as the server saw it. */
  readonly mapped: Address;
  /** The socket's local address. */
  readonly local: Address;
  readonly responseOrigin: Address | undefined;
  readonly otherAddress: Address | undefined;
  readonly software: string | undefined;
  readonly elapsedMs: number;
  readonly transmissions: number;
}

/**
 * One STUN Binding request from `socket` (null: a temporary socket of our own) to `server`,
 * retransmitted per RFC 8489 §6.2.1 (RTO 500 ms, Rc 7, Rm 16 unless overridden).
 */
export async function stunBinding(
  socket: dgram.Socket | null,
  server: Address,
  options: StunCallOptions & BindingRequestOptions = {},
): Promise<StunBindingResult> {
  return withSocket(socket, server, async (s) => {
    const { signal, retransmission, software, random, ...request } = options;
    const client = new StunClient(dgramSink(s), {
      ...(retransmission === undefined ? {} : { retransmission }),
      ...(software === undefined ? {} : { software }),
      ...(random === undefined ? {} : { random }),
    });
    const listener = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
      client.receive(msg, rinfo);
    };
    s.on('message', listener);
    try {
      const r = await client.binding(server, { ...request, ...(signal === undefined ? {} : { signal }) });
      const a = s.address();
      return {
        mapped: r.mapped,
        local: { host: normalizeHost(a.address), port: a.port },
        responseOrigin: r.responseOrigin,
        otherAddress: r.otherAddress,
        software: r.software,
        elapsedMs: r.elapsedMs,
        transmissions: r.transmissions,
      };
    } finally {
      client.close();
      s.off('message', listener);
    }
  });
}

export interface NatDiscoveryCallOptions extends StunCallOptions {
  /** Run the hairpinning test (default true). */
  readonly hairpinning?: boolean;
  /** Called when a new test starts (for progress output). */
  readonly onStep?: (step: string) => void;
}

/**
 * A NAT behaviour discovery session on a shared socket whose owner forwards datagrams itself.
 * `result` settles when discovery finishes.
 */
export class NatDiscoverySession {
  readonly result: Promise<NatBehaviour>;
  private readonly driver: Driver;

  constructor(sink: DatagramSink, server: Address, local: Address | undefined, options: NatDiscoveryCallOptions = {}) {
    const core = new NatBehaviourDiscovery(
      {
        server,
        random: options.random ?? systemRandom,
        ...(local === undefined ? {} : { local }),
        ...(options.retransmission === undefined ? {} : { retransmission: options.retransmission }),
        ...(options.hairpinning === undefined ? {} : { hairpinning: options.hairpinning }),
        ...(options.software === undefined ? {} : { software: options.software }),
      },
      performance.now(),
    );
    let settle!: { resolve(v: NatBehaviour): void; reject(e: unknown): void };
    this.result = new Promise<NatBehaviour>((resolve, reject) => (settle = { resolve, reject }));
    let lastStep = '';
    const signal = options.signal;
    const onAbort = (): void => {
      this.driver.close();
      settle.reject(abortError());
    };
    this.driver = new Driver(core, sink, () => {
      if (core.currentStep !== lastStep) {
        lastStep = core.currentStep;
        options.onStep?.(lastStep);
      }
      if (!core.done) return;
      this.driver.close();
      signal?.removeEventListener('abort', onAbort);
      const r = core.result();
      if (r) settle.resolve(r);
      else settle.reject(core.error ?? new StunError(StunErrorCode.Timeout, 'NAT discovery failed'));
    });
    if (signal?.aborted) onAbort();
    else {
      signal?.addEventListener('abort', onAbort, { once: true });
      this.driver.service();
    }
  }

  receive(data: Uint8Array, from: SourceInfo): boolean {
    return this.driver.receive(data, from);
  }

  close(): void {
    this.driver.close();
  }
}

/** RFC 5780 behaviour discovery (mapping, filtering, hairpinning) from `socket` (null: our own). */
export async function discoverNatBehaviour(
  socket: dgram.Socket | null,
  server: Address,
  options: NatDiscoveryCallOptions = {},
): Promise<NatBehaviour> {
  return withSocket(socket, server, async (s) => {
    const a = s.address();
    const session = new NatDiscoverySession(
      dgramSink(s),
      server,
      { host: normalizeHost(a.address), port: a.port },
      options,
    );
    const listener = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
      session.receive(msg, rinfo);
    };
    s.on('message', listener);
    try {
      return await session.result;
    } finally {
      session.close();
      s.off('message', listener);
    }
  });
}
