/**
 * One side of one throughput run (spawned by bench/throughput.ts, possibly inside a network namespace).
 *
 *   tsx bench/lib/throughput-worker.ts --role receiver|sender --impl raw-dgram|raw-native|udx-native|tcp|punchline|punchline-dgram
 *       --bytes N --host H --port P [--local-port P] [--peer-key HEX] [--payload N]
 *
 * Speaks JSON lines on stdout: the receiver prints {"event":"ready",...} once it listens, both print
 * {"event":"done",...} with their own measurements: bytes, transfer seconds (receiver: first to last
 * payload byte), CPU seconds (process.cpuUsage during the transfer), RSS peak (sampled every 250 ms
 * during the transfer, and the process high-water mark VmHWM).
 *
 * The reliable transports (TCP, udx-native, punchline) carry patterned data: byte i of the stream is
 * PATTERN[i mod 65521] (a prime period, so a chunk delivered at the wrong offset — reordered,
 * duplicated, lost — cannot line up by accident), and the receiver compares every byte it gets with
 * what belongs at its offset (a memcmp against the pattern, cheap next to a hash) and keeps a running
 * checksum of the stream it reports; a mismatch fails the run.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { flagGetter } from './worker-args.js';

type Impl = 'raw-dgram' | 'raw-native' | 'udx-native' | 'tcp' | 'punchline' | 'punchline-dgram';

interface Args {
  role: 'receiver' | 'sender';
  impl: Impl;
  bytes: number;
  host: string;
  port: number;
  localPort: number;
  peerKey: string;
  payload: number;
  payloadAuto: boolean;
  cc: string;
}

function parseArgs(argv: string[]): Args {
  const get = flagGetter(argv);
  return {
    role: get('role') as Args['role'],
    impl: get('impl') as Impl,
    bytes: Number(get('bytes')),
    host: get('host', '127.0.0.1'),
    port: Number(get('port', '0')),
    localPort: Number(get('local-port', '0')),
    peerKey: get('peer-key', ''),
    // 'auto': punchline keeps its default size and discovers the path MTU (RFC 8899); raw rows use 1452.
    payload: get('payload', '1472') === 'auto' ? 1452 : Number(get('payload', '1472')),
    payloadAuto: get('payload', '1472') === 'auto',
    cc: get('cc', 'ledbat++'),
  };
}

function emit(message: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(message) + '\n');
}

function vmHwmMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Seconds the main thread spent runnable but waiting for a CPU (/proc/self/schedstat, field 2): how
 * much other load on the machine held this run back.
 */
function schedWaitSeconds(): number {
  try {
    const fields = readFileSync('/proc/self/schedstat', 'utf8').trim().split(/\s+/);
    return Number(fields[1] ?? NaN) / 1e9;
  } catch {
    return NaN;
  }
}

/** Measures CPU and RSS between start() and finish(). */
class Meter {
  private cpu0 = process.cpuUsage();
  private wait0 = schedWaitSeconds();
  private t0 = performance.now();
  private rssPeak = process.memoryUsage.rss();
  private readonly sampler = setInterval(() => {
    // memoryUsage.rss() is cheap; memoryUsage() walks the heap and costs ms per call.
    this.rssPeak = Math.max(this.rssPeak, process.memoryUsage.rss());
  }, 250);
  constructor() {
    this.sampler.unref();
  }
  start(): void {
    this.cpu0 = process.cpuUsage();
    this.wait0 = schedWaitSeconds();
    this.t0 = performance.now();
  }
  finish(extra: Record<string, unknown>): void {
    clearInterval(this.sampler);
    const cpu = process.cpuUsage(this.cpu0);
    this.rssPeak = Math.max(this.rssPeak, process.memoryUsage.rss());
    emit({
      event: 'done',
      wall_s: (performance.now() - this.t0) / 1000,
      cpu_s: (cpu.user + cpu.system) / 1e6,
      cpu_user_s: cpu.user / 1e6,
      cpu_system_s: cpu.system / 1e6,
      sched_wait_s: schedWaitSeconds() - this.wait0,
      rss_peak_mb: this.rssPeak / (1024 * 1024),
      vm_hwm_mb: vmHwmMb(),
      ...extra,
    });
  }
}

// --- patterned data ---------------------------------------------------------------------------------
const PATTERN_PERIOD = 65_521;
const CHUNK = 64 * 1024;
/** PATTERN_PERIOD + CHUNK bytes: any CHUNK-long stretch of the stream is one view of it. */
const PATTERN = (() => {
  const b = Buffer.alloc(PATTERN_PERIOD + CHUNK);
  let x = 0x9e3779b9;
  for (let i = 0; i < PATTERN_PERIOD; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  // Byte by byte: CHUNK > PATTERN_PERIOD, so one copy() would read its own (still empty) output.
  for (let i = PATTERN_PERIOD; i < b.length; i++) b[i] = b[i - PATTERN_PERIOD] as number;
  return b;
})();

/** The stream's bytes [offset, offset + length), length ≤ CHUNK, as a view (no copy). */
function patternAt(offset: number, length: number): Buffer {
  const start = offset % PATTERN_PERIOD;
  return PATTERN.subarray(start, start + length);
}

/** Receiver side: compares each chunk with the pattern at its stream offset; remembers the first mismatch. */
class PatternCheck {
  offset = 0;
  /** Sum of every 4 KiB block's first byte times its index: a checksum of the order, reported. */
  checksum = 0;
  mismatchAt = -1;
  check(chunk: Uint8Array): void {
    let done = 0;
    while (done < chunk.length) {
      const n = Math.min(CHUNK, chunk.length - done);
      if (this.mismatchAt < 0 && !patternAt(this.offset, n).equals(chunk.subarray(done, done + n)))
        this.mismatchAt = this.offset;
      this.checksum = (this.checksum + (chunk[done] ?? 0) * ((this.offset >>> 12) + 1)) % 2 ** 32;
      this.offset += n;
      done += n;
    }
  }
  report(): Record<string, unknown> {
    return { verified: this.mismatchAt < 0, mismatch_at: this.mismatchAt, checksum: this.checksum };
  }
}

/** Receiver-side byte counter: first and last payload byte times. */
class Counter {
  bytes = 0;
  first = 0;
  last = 0;
  add(n: number): void {
    const now = performance.now();
    if (this.bytes === 0) this.first = now;
    this.bytes += n;
    this.last = now;
  }
  seconds(): number {
    return (this.last - this.first) / 1000;
  }
}

// --- raw node:dgram: one datagram per call, no protocol (like-for-like with punchline-dgram) ---
// Sender blasts `bytes` in `payload`-byte datagrams with at most IN_FLIGHT sends queued in libuv (no
// congestion control, no retransmission); the receiver counts what arrives. Loss is reported.
const RAW_FIN = 0xff;
const RAW_DATA = 0x00;

async function rawReceiver(args: Args): Promise<void> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  const counter = new Counter();
  const meter = new Meter();
  let datagrams = 0;
  let sentByPeer = 0;
  await new Promise<void>((r) => socket.bind(args.port, '0.0.0.0', r));
  emit({ event: 'ready', port: socket.address().port });
  await new Promise<void>((resolve) => {
    let idle: NodeJS.Timeout | null = null;
    const finish = (): void => {
      socket.close();
      resolve();
    };
    socket.on('message', (msg) => {
      if (msg[0] === RAW_FIN) {
        sentByPeer = Number(msg.readBigUInt64BE(1));
        if (!idle) idle = setTimeout(finish, 200);
        return;
      }
      if (counter.bytes === 0) meter.start();
      datagrams++;
      counter.add(msg.length);
    });
  });
  meter.finish({ bytes: counter.bytes, transfer_s: counter.seconds(), datagrams, sent_bytes: sentByPeer });
}

async function rawSender(args: Args): Promise<void> {
  const socket = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
  await new Promise<void>((r) => socket.bind(0, '0.0.0.0', r));
  const meter = new Meter();
  meter.start();
  const IN_FLIGHT = 64;
  const pool: Buffer[] = Array.from({ length: IN_FLIGHT }, () => Buffer.alloc(args.payload, 0x61) as Buffer);
  for (const b of pool) b[0] = RAW_DATA;
  let sent = 0;
  let inFlight = 0;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (inFlight < IN_FLIGHT && sent < args.bytes) {
        const buffer = pool.pop() as Buffer;
        const n = Math.min(args.payload, args.bytes - sent);
        sent += n;
        inFlight++;
        socket.send(buffer, 0, n, args.port, args.host, () => {
          inFlight--;
          pool.push(buffer);
          if (sent >= args.bytes) {
            if (inFlight === 0) resolve();
          } else if (inFlight === IN_FLIGHT - 1) pump();
        });
      }
    };
    pump();
  });
  const fin = Buffer.alloc(9);
  fin[0] = RAW_FIN;
  fin.writeBigUInt64BE(BigInt(sent), 1);
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((r) => socket.send(fin, args.port, args.host, () => r()));
    await new Promise((r) => setTimeout(r, 20));
  }
  socket.close();
  meter.finish({ bytes: sent });
}

// --- raw native add-on: the socket layer's ceiling ---------------------------------------------------
// The blast of raw-dgram through punchline's native UDP add-on (sendmmsg + GSO out, recvmmsg + GRO
// in; src/node/udp/native-socket.ts) with no protocol on top: what punchline's packet path could
// reach if the protocol cost nothing. Windowed, so that the figure is goodput and not send rate: the
// receiver returns a cumulative credit (bytes received) every RAW_CREDIT_EVERY datagrams and on a
// short timer, and the sender keeps at most RAW_WINDOW bytes beyond the last credit in flight, well
// inside the receive buffer (SO_RCVBUF 4 MiB; the kernel doubles it). Nothing should be lost, but
// loss is still measured and reported. Every datagram of a GRO message counts (the add-on splits it).
const RAW_CREDIT = 0xfe;
const RAW_CREDIT_EVERY = 64;
const RAW_CREDIT_INTERVAL_MS = 2;
const RAW_WINDOW = 2 << 20;
/** The sender resumes after this long without credit (credits lost): any loss then shows. */
const RAW_CREDIT_TIMEOUT_MS = 200;

async function nativeSocket(
  args: Args,
  onDatagram: (data: Buffer, from: { host: string; port: number }) => void,
  onWritable: () => void,
) {
  const { openUdpSocket } = await import('../../src/node/udp/open.js');
  return openUdpSocket(
    {
      family: 'udp4',
      host: '0.0.0.0',
      port: args.role === 'receiver' ? args.port : 0,
      recvBufferSize: 4 << 20,
      sendBufferSize: 4 << 20,
      datagramRoom: Math.max(args.payload, 64),
    },
    { onDatagram, onWritable, onError: () => undefined },
    'native',
  );
}

/** kind ‖ u64 value: the FIN (bytes sent) and the credit (bytes received). */
function controlDatagram(kind: number, value: number): Buffer {
  const b = Buffer.alloc(9);
  b[0] = kind;
  b.writeBigUInt64BE(BigInt(value), 1);
  return b;
}

async function rawNativeReceiver(args: Args): Promise<void> {
  const counter = new Counter();
  const meter = new Meter();
  let datagrams = 0;
  let sentByPeer = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  let idle: NodeJS.Timeout | null = null;
  let peer: { host: string; port: number } | null = null;
  let credited = 0;
  let credits = 0;
  const credit = (): void => {
    if (peer === null || credited === counter.bytes) return;
    credited = counter.bytes;
    credits++;
    socket.send(controlDatagram(RAW_CREDIT, credited), peer, () => undefined);
  };
  const socket = await nativeSocket(
    args,
    (msg, from) => {
      if (msg[0] === RAW_FIN) {
        sentByPeer = Number(msg.readBigUInt64BE(1));
        if (!idle) idle = setTimeout(finish, 200);
        return;
      }
      if (counter.bytes === 0) {
        meter.start();
        peer = { host: from.host, port: from.port };
      }
      datagrams++;
      counter.add(msg.length);
      if (datagrams % RAW_CREDIT_EVERY === 0) credit();
    },
    () => undefined,
  );
  const timer = setInterval(credit, RAW_CREDIT_INTERVAL_MS);
  emit({ event: 'ready', port: socket.address().port });
  await finished;
  clearInterval(timer);
  const stats = socket.stats();
  socket.close();
  meter.finish({
    bytes: counter.bytes,
    transfer_s: counter.seconds(),
    datagrams,
    sent_bytes: sentByPeer,
    socket: { ...stats, credits },
  });
}

async function rawNativeSender(args: Args): Promise<void> {
  let writable: () => void = () => undefined;
  let acked = 0;
  let creditWaiter: (() => void) | null = null;
  const socket = await nativeSocket(
    args,
    (msg) => {
      if (msg[0] !== RAW_CREDIT || msg.length < 9) return;
      acked = Math.max(acked, Number(msg.readBigUInt64BE(1)));
      const waiter = creditWaiter;
      creditWaiter = null;
      waiter?.();
    },
    () => writable(),
  );
  const to = { host: args.host, port: args.port };
  const meter = new Meter();
  meter.start();
  let sent = 0;
  let windowWaits = 0;
  let creditTimeouts = 0;
  while (sent < args.bytes) {
    if (sent - acked >= RAW_WINDOW) {
      // Window full: wait for credit (or, if credits were lost, give up waiting after a while).
      windowWaits++;
      const timedOut = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(true), RAW_CREDIT_TIMEOUT_MS);
        creditWaiter = () => {
          clearTimeout(timer);
          resolve(false);
        };
      });
      if (timedOut) {
        creditTimeouts++;
        acked = sent;
      }
      continue;
    }
    // Up to 1024 datagrams per event-loop turn (16 sendmmsg batches) within the window, then yield.
    for (let i = 0; i < 1024 && sent < args.bytes && sent - acked < RAW_WINDOW; i++) {
      const slot = socket.sendSlot();
      if (slot === null) {
        await new Promise<void>((r) => {
          writable = r;
        });
        break;
      }
      const n = Math.min(args.payload, args.bytes - sent);
      slot[0] = RAW_DATA;
      socket.commit(n, to);
      sent += n;
    }
    socket.flush();
    await new Promise((r) => setImmediate(r));
  }
  const fin = controlDatagram(RAW_FIN, sent);
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((r) => socket.send(fin, to, () => r()));
    await new Promise((r) => setTimeout(r, 20));
  }
  const stats = socket.stats();
  socket.close();
  meter.finish({ bytes: sent, socket: { ...stats, window_waits: windowWaits, credit_timeouts: creditTimeouts } });
}

// --- Node TCP -------------------------------------------------------------------------------------
async function tcpReceiver(args: Args): Promise<void> {
  const counter = new Counter();
  const meter = new Meter();
  const check = new PatternCheck();
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(args.port, '0.0.0.0', r));
  emit({ event: 'ready', port: (server.address() as net.AddressInfo).port });
  await new Promise<void>((resolve) => {
    server.once('connection', (socket) => {
      socket.on('data', (chunk: Buffer) => {
        if (counter.bytes === 0) meter.start();
        counter.add(chunk.length);
        check.check(chunk);
      });
      socket.on('end', () => {
        socket.end();
        server.close();
        resolve();
      });
    });
  });
  meter.finish({ bytes: counter.bytes, transfer_s: counter.seconds(), ...check.report() });
}

/** Writes `total` bytes of the pattern in CHUNK-sized views, waiting for 'drain' when told to. */
async function writeAll(
  write: (chunk: Buffer) => boolean,
  onceDrain: () => Promise<void>,
  total: number,
): Promise<void> {
  let sent = 0;
  while (sent < total) {
    const n = Math.min(CHUNK, total - sent);
    const chunk = patternAt(sent, n);
    sent += n;
    if (!write(chunk)) await onceDrain();
  }
}

async function tcpSender(args: Args): Promise<void> {
  const socket = net.connect(args.port, args.host);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const meter = new Meter();
  meter.start();
  await writeAll(
    (c) => socket.write(c),
    () => new Promise((r) => socket.once('drain', () => r())),
    args.bytes,
  );
  socket.end();
  await new Promise<void>((r) => socket.once('close', () => r()));
  meter.finish({ bytes: args.bytes });
}

// --- udx-native (native C reliable UDP streams, unencrypted) --------------------------------------
// Ports are fixed by the orchestrator: udx streams need both addresses up front.
interface UdxStream {
  write(b: Buffer): boolean;
  end(): void;
  once(e: string, f: (...a: unknown[]) => void): void;
  on(e: string, f: (...a: any[]) => void): void;
  connect(socket: unknown, remoteId: number, port: number, host: string): void;
  destroy(): void;
  readonly mtu: number;
}
interface UdxSocket {
  bind(port: number, host: string): void;
  close(): Promise<void>;
  setRecvBufferSize(n: number): void;
  setSendBufferSize(n: number): void;
  address(): { port: number };
}
interface Udx {
  createSocket(): UdxSocket;
  createStream(id: number): UdxStream;
}
function udx(): Udx {
  const UDX = createRequire(import.meta.url)('udx-native') as new () => Udx;
  return new UDX();
}

async function udxReceiver(args: Args): Promise<void> {
  const u = udx();
  const socket = u.createSocket();
  socket.bind(args.port, '0.0.0.0');
  socket.setRecvBufferSize(4 << 20);
  socket.setSendBufferSize(4 << 20);
  const stream = u.createStream(1);
  stream.connect(socket, 2, args.localPort, args.host);
  const counter = new Counter();
  const meter = new Meter();
  const check = new PatternCheck();
  emit({ event: 'ready', port: socket.address().port });
  await new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      if (counter.bytes === 0) meter.start();
      counter.add(chunk.length);
      check.check(chunk);
    });
    stream.on('end', () => {
      stream.end();
    });
    stream.on('close', () => resolve());
  });
  await socket.close();
  meter.finish({ bytes: counter.bytes, transfer_s: counter.seconds(), ...check.report() });
}

async function udxSender(args: Args): Promise<void> {
  const u = udx();
  const socket = u.createSocket();
  socket.bind(args.localPort, '0.0.0.0');
  socket.setRecvBufferSize(4 << 20);
  socket.setSendBufferSize(4 << 20);
  const stream = u.createStream(2);
  stream.connect(socket, 1, args.port, args.host);
  const meter = new Meter();
  meter.start();
  const closed = new Promise<void>((r) => stream.on('close', () => r()));
  let mtu = 0;
  stream.on('data', () => undefined);
  stream.on('end', () => stream.end());
  await writeAll(
    (c) => stream.write(c),
    () => new Promise((r) => stream.once('drain', () => r())),
    args.bytes,
  );
  mtu = stream.mtu;
  stream.end();
  await closed;
  await socket.close();
  // udx probes its packet size upwards from 1200 (udx_stream mtu): report where it got.
  meter.finish({ bytes: args.bytes, mtu });
}

// --- punchline (encrypted) ------------------------------------------------------------------------
async function punchlineModules(): Promise<{
  Endpoint: typeof import('../../src/node/endpoint.js').Endpoint;
  keyPair: () => { publicKey: Uint8Array; secretKey: Uint8Array };
}> {
  const { Endpoint } = await import('../../src/node/endpoint.js');
  const { sodium } = await import('../../src/crypto/sodium.js');
  const keyPair = (): { publicKey: Uint8Array; secretKey: Uint8Array } => {
    const secretKey = new Uint8Array(32);
    sodium.randombytes_buf(secretKey);
    const publicKey = new Uint8Array(32);
    sodium.crypto_scalarmult_base(publicKey, secretKey);
    return { publicKey, secretKey };
  };
  return { Endpoint, keyPair };
}

/** 'punchline': the default UDP backend (native batched I/O where built); 'punchline-dgram': node:dgram. */
function punchlineBackend(args: Args): 'auto' | 'dgram' {
  return args.impl === 'punchline-dgram' ? 'dgram' : 'auto';
}

function punchlineTransport(args: Args): Record<string, unknown> {
  if (!['ledbat++', 'ledbat', 'newreno'].includes(args.cc))
    throw new Error(`unknown congestion controller '${args.cc}'`);
  // PUNCHLINE_BENCH_TRANSPORT='{"pacing":false}': extra TransportConfig overrides, for diagnosis only.
  const extra = JSON.parse(process.env['PUNCHLINE_BENCH_TRANSPORT'] ?? '{}') as Record<string, unknown>;
  const size = args.payloadAuto ? {} : { maxUdpPayloadSize: args.payload };
  return { ...size, congestionController: args.cc, ...extra };
}

async function punchlineReceiver(args: Args): Promise<void> {
  const { Endpoint, keyPair } = await punchlineModules();
  const keys = keyPair();
  const endpoint = await Endpoint.bind({
    host: '0.0.0.0',
    port: args.port,
    keyPair: keys,
    transport: punchlineTransport(args),
    udpBackend: punchlineBackend(args),
  });
  const counter = new Counter();
  const meter = new Meter();
  emit({ event: 'ready', port: endpoint.address().port, key: Buffer.from(keys.publicKey).toString('hex') });
  const connection = (await endpoint[Symbol.asyncIterator]().next()).value;
  if (!connection) throw new Error('no connection');
  const stream = (await connection.streams()[Symbol.asyncIterator]().next()).value;
  if (!stream) throw new Error('no stream');
  const check = new PatternCheck();
  // 'data' events, as the udx and TCP receivers read: an async iterator would add a promise and
  // microtask turns per chunk to punchline's figure only.
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      if (counter.bytes === 0) meter.start();
      counter.add(chunk.length);
      check.check(chunk);
    });
    stream.once('end', resolve);
    stream.once('error', reject);
  });
  const stats = connection.stats();
  const socket = endpoint.stats().socket;
  await connection.closed;
  await endpoint.close();
  meter.finish({ bytes: counter.bytes, transfer_s: counter.seconds(), stats, socket, ...check.report() });
}

async function punchlineSender(args: Args): Promise<void> {
  const { Endpoint, keyPair } = await punchlineModules();
  const endpoint = await Endpoint.bind({
    host: '0.0.0.0',
    port: 0,
    keyPair: keyPair(),
    transport: punchlineTransport(args),
    udpBackend: punchlineBackend(args),
  });
  const connection = await endpoint.connect({
    host: args.host,
    port: args.port,
    publicKey: Buffer.from(args.peerKey, 'hex'),
  });
  const meter = new Meter();
  meter.start();
  const stream = connection.openStream({ bidirectional: false });
  // PUNCHLINE_BENCH_TRACE=1: connection stats every 250 ms on stderr (diagnosis, not measured runs).
  const trace = process.env['PUNCHLINE_BENCH_TRACE']
    ? setInterval(() => {
        const s = connection.stats();
        process.stderr.write(
          `trace srtt=${s.smoothedRttMs.toFixed(2)} min=${s.minRttMs.toFixed(2)} cwnd=${(s.congestionWindowBytes / 1024).toFixed(0)}K ` +
            `inflight=${(s.bytesInFlight / 1024).toFixed(0)}K qdelay=${s.queueingDelayMs.toFixed(2)} sent=${s.packetsSent} lost=${s.packetsLost} acks=${s.packetsReceived}\n`,
        );
      }, 250)
    : undefined;
  await writeAll(
    (c) => stream.write(c),
    () => new Promise((r) => stream.once('drain', () => r())),
    args.bytes,
  );
  await new Promise<void>((resolve, reject) =>
    stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  clearInterval(trace);
  // Graceful close delivers everything written first.
  const stats = connection.stats();
  const udpBackend = endpoint.udpBackend;
  await connection.close();
  const socket = endpoint.stats().socket;
  await endpoint.close();
  // Which packet AEAD the sender ran (OpenSSL through the add-on, or libsodium).
  const { registeredOpensslAead } = await import('../../src/crypto/openssl-aead.js');
  meter.finish({
    bytes: args.bytes,
    stats,
    socket,
    udp_backend: udpBackend,
    aead: registeredOpensslAead() ? 'openssl' : 'sodium',
  });
}

const roles: Record<Impl, { receiver: (a: Args) => Promise<void>; sender: (a: Args) => Promise<void> }> = {
  'raw-dgram': { receiver: rawReceiver, sender: rawSender },
  'raw-native': { receiver: rawNativeReceiver, sender: rawNativeSender },
  tcp: { receiver: tcpReceiver, sender: tcpSender },
  'udx-native': { receiver: udxReceiver, sender: udxSender },
  punchline: { receiver: punchlineReceiver, sender: punchlineSender },
  'punchline-dgram': { receiver: punchlineReceiver, sender: punchlineSender },
};

const args = parseArgs(process.argv.slice(2));
roles[args.impl][args.role](args).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `${args.impl} ${args.role}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
