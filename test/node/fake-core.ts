/**
 * A tiny fake SansIoEndpoint for adapter tests: plaintext, no loss recovery, credit-based flow control
 * per stream. Good enough on loopback (big socket buffers, small windows, so nothing is dropped) to
 * exercise the Node adapter's streams, backpressure, datagrams and close paths without the real core.
 *
 * Packet: [0x40][connId u32][type u8][payload...]; the first byte looks like a short-header packet.
 */
import type {
  Address,
  CloseReason,
  ConnectionEvent,
  ConnectionHandle,
  ConnectionStats,
  ConnectOptions,
  SansIoEndpoint,
  StreamRead,
  Transmit,
} from '../../src/transport/api.js';
import type { CoreContext } from '../../src/node/endpoint.js';

const enum T {
  Hello = 1,
  HelloAck = 2,
  Stream = 3,
  Credit = 4,
  Reset = 5,
  Stop = 6,
  Datagram = 7,
  Close = 8,
  /** Carries nothing: makes the peer see this side's (new) address. */
  Ping = 9,
}

const FAKE_FIRST_BYTE = 0x40;
const HEADER = 6;
const MAX_PAYLOAD = 1200;
const WINDOW = 256 * 1024;
const SEND_BUFFER = 256 * 1024;

interface SendState {
  chunks: Uint8Array[];
  queued: number;
  offset: number;
  credit: number;
  fin: boolean;
  finSent: boolean;
  blocked: boolean;
  reset: number | null;
}
interface RecvState {
  chunks: Uint8Array[];
  consumed: number;
  received: number;
  creditSent: number;
  fin: boolean;
  finDelivered: boolean;
  reset: number | null;
  stop: number | null;
}

class FakeConnection implements ConnectionHandle {
  readonly id: number;
  remoteAddress: Address;
  remotePublicKey: Uint8Array | null;
  readonly isClient: boolean;
  state: ConnectionHandle['state'] = 'handshaking';
  readonly send = new Map<number, SendState>();
  readonly recv = new Map<number, RecvState>();
  readonly control: Uint8Array[] = [];
  nextBidi: number;
  nextUni: number;
  closeAfterFlush: { code: number; reason: string } | null = null;
  counters = { bytesSent: 0, bytesReceived: 0, packetsSent: 0, packetsReceived: 0, streamSent: 0, streamReceived: 0 };

  constructor(
    private readonly core: FakeCore,
    id: number,
    remote: Address,
    isClient: boolean,
    remoteKey: Uint8Array | null,
  ) {
    this.id = id;
    this.remoteAddress = remote;
    this.isClient = isClient;
    this.remotePublicKey = remoteKey;
    this.nextBidi = isClient ? 0 : 1;
    this.nextUni = isClient ? 2 : 3;
  }

  openStream(bidirectional: boolean): number {
    const id = bidirectional ? this.nextBidi : this.nextUni;
    if (bidirectional) this.nextBidi += 4;
    else this.nextUni += 4;
    this.sendState(id);
    if (bidirectional) this.recvState(id);
    return id;
  }

  sendState(id: number): SendState {
    let s = this.send.get(id);
    if (!s) {
      s = { chunks: [], queued: 0, offset: 0, credit: WINDOW, fin: false, finSent: false, blocked: false, reset: null };
      this.send.set(id, s);
    }
    return s;
  }

  recvState(id: number): RecvState {
    let r = this.recv.get(id);
    if (!r) {
      r = {
        chunks: [],
        consumed: 0,
        received: 0,
        creditSent: WINDOW,
        fin: false,
        finDelivered: false,
        reset: null,
        stop: null,
      };
      this.recv.set(id, r);
    }
    return r;
  }

  write(streamId: number, data: Uint8Array): number {
    const s = this.send.get(streamId);
    if (!s || s.fin || s.reset !== null) throw new Error(`fake: write on closed stream ${streamId}`);
    const n = Math.min(data.length, SEND_BUFFER - s.queued);
    if (n > 0) {
      s.chunks.push(data.slice(0, n));
      s.queued += n;
    }
    if (n < data.length) s.blocked = true;
    return n;
  }

  finish(streamId: number): void {
    this.sendState(streamId).fin = true;
  }

  read(streamId: number, maxBytes = Infinity): StreamRead {
    const r = this.recv.get(streamId);
    if (!r) return { kind: 'blocked' };
    if (r.reset !== null) return { kind: 'reset', errorCode: r.reset };
    const chunk = r.chunks[0];
    if (!chunk) {
      if (r.fin && !r.finDelivered) {
        r.finDelivered = true;
        return { kind: 'fin' };
      }
      return { kind: 'blocked' };
    }
    let data = chunk;
    if (chunk.length > maxBytes) {
      data = chunk.subarray(0, maxBytes);
      r.chunks[0] = chunk.subarray(maxBytes);
    } else r.chunks.shift();
    r.consumed += data.length;
    if (r.consumed + WINDOW - r.creditSent >= WINDOW / 2) {
      r.creditSent = r.consumed + WINDOW;
      this.control.push(frame(T.Credit, u32(streamId), f64(r.creditSent)));
    }
    return { kind: 'data', data };
  }

  resetStream(streamId: number, errorCode: number): void {
    const s = this.sendState(streamId);
    s.reset = errorCode;
    s.chunks = [];
    s.queued = 0;
    this.control.push(frame(T.Reset, u32(streamId), u32(errorCode)));
  }

  stopSending(streamId: number, errorCode: number): void {
    const r = this.recvState(streamId);
    r.stop = errorCode;
    this.control.push(frame(T.Stop, u32(streamId), u32(errorCode)));
  }

  sendDatagram(data: Uint8Array): boolean {
    if (data.length > this.maxDatagramSize()) return false;
    this.control.push(frame(T.Datagram, data));
    return true;
  }

  maxDatagramSize(): number {
    return MAX_PAYLOAD - 16;
  }

  /** The fake has one path: it records the request (the Node adapter's tests only see the call). */
  readonly probedPaths: Address[] = [];
  probePath(remote: Address): void {
    this.probedPaths.push(remote);
  }

  /** Times Endpoint.rebind() told this connection its local address changed. */
  localAddressChanges = 0;
  /**
   * Like the real core: speak up from the new local address at once, so the peer moves to it (the
   * fake's peer follows the newest address without validating it: loopback only, nobody to spoof).
   */
  localAddressChanged(_now: number): void {
    if (this.state !== 'established') return;
    this.localAddressChanges++;
    this.control.push(frame(T.Ping));
  }

  /** The fake has no keepalive or congestion state: it records what the adapter told it. */
  readonly keepAliveSeeds: Array<{ aliveMs: number; expiredMs: number | null }> = [];
  seedKeepAlive(aliveMs: number, expiredMs: number | null): void {
    this.keepAliveSeeds.push({ aliveMs, expiredMs });
  }
  networkPathChanges = 0;
  networkPathChanged(_now: number): void {
    this.networkPathChanges++;
  }

  close(errorCode = 0, reason = ''): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    if (errorCode === 0) {
      this.closeAfterFlush = { code: 0, reason };
      this.state = 'closing';
    } else this.sendClose(errorCode, reason);
  }

  sendClose(code: number, reason: string): void {
    this.control.push(frame(T.Close, u32(code), new TextEncoder().encode(reason)));
    this.state = 'closing';
    this.core.finishClose(this, { errorCode: code, application: true, reason, remote: false });
  }

  stats(): ConnectionStats {
    const c = this.counters;
    return {
      smoothedRttMs: 0.1,
      minRttMs: 0.05,
      rttVarianceMs: 0.01,
      congestionWindowBytes: WINDOW,
      bytesInFlight: 0,
      queueingDelayMs: 0,
      bytesSent: c.bytesSent,
      bytesReceived: c.bytesReceived,
      packetsSent: c.packetsSent,
      packetsReceived: c.packetsReceived,
      packetsLost: 0,
      streamBytesSent: c.streamSent,
      streamBytesReceived: c.streamReceived,
      datagramsDropped: 0,
    };
  }

  /** Unsent control frame or stream data, as one packet payload (after the 5-byte header + type). */
  nextPayload(): Uint8Array | null {
    const control = this.control.shift();
    if (control) return control;
    for (const [id, s] of this.send) {
      if (s.reset !== null) continue;
      const window = s.credit - s.offset;
      if (s.queued > 0 && window > 0) {
        const n = Math.min(window, s.queued, MAX_PAYLOAD - 16);
        const data = take(s, n);
        const fin = s.fin && s.queued === 0;
        if (fin) s.finSent = true;
        s.offset += n;
        this.counters.streamSent += n;
        if (s.blocked && s.queued < SEND_BUFFER) {
          s.blocked = false;
          this.core.events.push({ type: 'stream-writable', connection: this, streamId: id });
        }
        return frame(T.Stream, u32(id), Uint8Array.of(fin ? 1 : 0), data);
      }
      if (s.fin && !s.finSent && s.queued === 0) {
        s.finSent = true;
        return frame(T.Stream, u32(id), Uint8Array.of(1));
      }
    }
    if (this.closeAfterFlush && this.state === 'closing') {
      const pending = [...this.send.values()].some((s) => s.queued > 0 && s.reset === null);
      if (!pending) {
        const { code, reason } = this.closeAfterFlush;
        this.closeAfterFlush = null;
        this.sendClose(code, reason);
        return this.control.shift() ?? null;
      }
    }
    return null;
  }

  onFrame(type: number, body: Uint8Array): void {
    const events = this.core.events;
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    switch (type) {
      case T.Stream: {
        const id = view.getUint32(0);
        const fin = body[4] === 1;
        const data = body.slice(5);
        let r = this.recv.get(id);
        if (!r) {
          r = this.recvState(id);
          if ((id & 2) === 0) this.sendState(id);
          events.push({ type: 'stream-opened', connection: this, streamId: id });
        }
        if (r.stop !== null) return;
        if (data.length > 0) r.chunks.push(data);
        r.received += data.length;
        this.counters.streamReceived += data.length;
        if (fin) r.fin = true;
        events.push({ type: 'stream-readable', connection: this, streamId: id });
        return;
      }
      case T.Credit: {
        const id = view.getUint32(0);
        const s = this.send.get(id);
        if (s) s.credit = Math.max(s.credit, view.getFloat64(4));
        return;
      }
      case T.Reset: {
        const id = view.getUint32(0);
        const r = this.recvState(id);
        r.reset = view.getUint32(4);
        r.chunks = [];
        events.push({ type: 'stream-reset', connection: this, streamId: id, errorCode: r.reset });
        return;
      }
      case T.Stop: {
        const id = view.getUint32(0);
        const code = view.getUint32(4);
        events.push({ type: 'stream-stop-sending', connection: this, streamId: id, errorCode: code });
        this.resetStream(id, code);
        return;
      }
      case T.Datagram:
        events.push({ type: 'datagram', connection: this, data: body.slice() });
        return;
      case T.Close: {
        const code = view.getUint32(0);
        const reason = new TextDecoder().decode(body.subarray(4));
        this.core.finishClose(this, { errorCode: code, application: true, reason, remote: true });
        return;
      }
    }
  }
}

function take(s: SendState, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let filled = 0;
  while (filled < n) {
    const chunk = s.chunks[0] as Uint8Array;
    const k = Math.min(chunk.length, n - filled);
    out.set(chunk.subarray(0, k), filled);
    filled += k;
    if (k === chunk.length) s.chunks.shift();
    else s.chunks[0] = chunk.subarray(k);
  }
  s.queued -= n;
  return out;
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return b;
}
function f64(v: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v);
  return b;
}
function frame(type: number, ...parts: Uint8Array[]): Uint8Array {
  const len = parts.reduce((a, p) => a + p.length, 1);
  const out = new Uint8Array(len);
  out[0] = type;
  let o = 1;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

class FakeCore implements SansIoEndpoint {
  readonly connections = new Map<number, FakeConnection>();
  readonly events: ConnectionEvent[] = [];
  private readonly finalPackets: Array<{ to: Address; bytes: Uint8Array }> = [];
  receivedPackets = 0;

  constructor(private readonly context: CoreContext) {}

  connect(remote: Address, options: ConnectOptions, _now: number): ConnectionHandle {
    const idBytes = new Uint8Array(4);
    this.context.random(idBytes);
    const wireId = new DataView(idBytes.buffer).getUint32(0);
    const c = new FakeConnection(this, wireId, remote, true, options.remotePublicKey ?? null);
    this.connections.set(wireId, c);
    c.control.push(frame(T.Hello, this.context.keyPair.publicKey));
    return c;
  }

  receive(datagram: Uint8Array, from: Address, _now: number): void {
    this.receivedPackets++;
    if (datagram.length < HEADER || datagram[0] !== FAKE_FIRST_BYTE) return;
    const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
    const wireId = view.getUint32(1);
    const type = datagram[5] as number;
    const body = datagram.subarray(HEADER);
    let c = this.connections.get(wireId);
    if (!c) {
      if (type !== T.Hello) return;
      c = new FakeConnection(this, wireId, from, false, body.slice(0, 32));
      this.connections.set(wireId, c);
      c.state = 'established';
      this.events.push({ type: 'incoming', connection: c });
      this.events.push({ type: 'connected', connection: c });
      c.control.push(frame(T.HelloAck, this.context.keyPair.publicKey));
      return;
    }
    c.counters.packetsReceived++;
    c.counters.bytesReceived += datagram.length;
    if (c.state === 'established' && (from.host !== c.remoteAddress.host || from.port !== c.remoteAddress.port)) {
      c.remoteAddress = { host: from.host, port: from.port };
      this.events.push({ type: 'path-changed', connection: c, remote: c.remoteAddress });
    }
    if (type === T.HelloAck) {
      if (c.state === 'handshaking') {
        c.state = 'established';
        this.events.push({ type: 'connected', connection: c });
      }
      return;
    }
    c.onFrame(type, body);
  }

  pollTransmit(_now: number, buffer: Uint8Array): Transmit | null {
    const final = this.finalPackets.shift();
    if (final) {
      buffer.set(final.bytes);
      return { destination: final.to, length: final.bytes.length };
    }
    for (const c of this.connections.values()) {
      const payload = c.nextPayload();
      if (!payload) continue;
      const wire = this.finalPackets.shift();
      if (wire) {
        // nextPayload closed the connection and queued its CLOSE below.
        buffer.set(wire.bytes);
        return { destination: wire.to, length: wire.bytes.length };
      }
      buffer[0] = FAKE_FIRST_BYTE;
      new DataView(buffer.buffer, buffer.byteOffset).setUint32(1, c.id);
      buffer.set(payload, 5);
      c.counters.packetsSent++;
      c.counters.bytesSent += payload.length + 5;
      return { destination: c.remoteAddress, length: payload.length + 5 };
    }
    return null;
  }

  finishClose(c: FakeConnection, reason: CloseReason): void {
    if (c.state === 'closed') return;
    // Control frames queued (our CLOSE) still have to go out after the connection is forgotten.
    for (const payload of c.control.splice(0)) {
      const bytes = new Uint8Array(payload.length + 5);
      bytes[0] = FAKE_FIRST_BYTE;
      new DataView(bytes.buffer).setUint32(1, c.id);
      bytes.set(payload, 5);
      this.finalPackets.push({ to: c.remoteAddress, bytes });
    }
    c.state = 'closed';
    this.connections.delete(c.id);
    this.events.push({ type: 'closed', connection: c, reason });
  }

  pollEvent(): ConnectionEvent | null {
    return this.events.shift() ?? null;
  }

  nextDeadline(): number {
    return Infinity;
  }

  onTimeout(_now: number): void {}

  close(_now: number): void {
    for (const c of [...this.connections.values()]) c.close(0, 'endpoint closed');
  }
}

export const fakeCore = (context: CoreContext): SansIoEndpoint => new FakeCore(context);
