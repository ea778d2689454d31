/**
 * One side of one flow of `npm run bench:bottleneck` (spawned by bench/bottleneck.ts inside a network
 * namespace). The sender writes as fast as the transport takes data from --start-at until --stop-at
 * (wall-clock ms since the epoch: every flow of a scenario shares one time axis), then ends the
 * stream; the receiver counts payload bytes in --bucket-ms buckets on that axis.
 *
 * 'probe' measures the queue: the receiver echoes small UDP datagrams, the sender sends one every
 * 10 ms across the bottleneck and reports [time on the axis, RTT] pairs (ping's job; iputils-ping
 * is not installed everywhere, and this needs no extra package).
 *
 *   bottleneck-worker --role receiver|sender --impl punchline|tcp|utp|udx|probe --host H --port P
 *       [--local-port P] [--peer-key HEX] --epoch MS --start-at MS --stop-at MS [--bucket-ms 100] [--cc ledbat++]
 *
 * JSON lines on stdout: the receiver prints {"event":"ready","port":..,"key":..} once listening;
 * both print {"event":"done",...}: the receiver its buckets, the sender its transport's statistics.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { flagGetter } from './worker-args.js';

type Impl = 'punchline' | 'tcp' | 'utp' | 'udx' | 'probe';

interface Args {
  role: 'receiver' | 'sender';
  impl: Impl;
  host: string;
  port: number;
  localPort: number;
  peerKey: string;
  epoch: number;
  startAt: number;
  stopAt: number;
  bucketMs: number;
  cc: string;
}

function parseArgs(argv: string[]): Args {
  const get = flagGetter(argv);
  return {
    role: get('role') as Args['role'],
    impl: get('impl') as Impl,
    host: get('host', '127.0.0.1'),
    port: Number(get('port', '0')),
    localPort: Number(get('local-port', '0')),
    peerKey: get('peer-key', ''),
    epoch: Number(get('epoch', String(Date.now()))),
    startAt: Number(get('start-at', String(Date.now()))),
    stopAt: Number(get('stop-at', String(Date.now() + 10_000))),
    bucketMs: Number(get('bucket-ms', '100')),
    cc: get('cc', 'ledbat++'),
  };
}

function emit(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** Payload bytes per bucket on the scenario's time axis. */
class Buckets {
  readonly bytes: number[] = [];
  constructor(
    private readonly epoch: number,
    private readonly bucketMs: number,
  ) {}
  add(n: number): void {
    this.addAt(Date.now(), n);
  }
  addAt(time: number, n: number): void {
    const b = Math.max(0, Math.floor((time - this.epoch) / this.bucketMs));
    while (this.bytes.length <= b) this.bytes.push(0);
    this.bytes[b] = (this.bytes[b] as number) + n;
  }
}

const sleepUntil = (t: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));

/** Writes a fixed chunk until stopAt, waiting for 'drain' whenever the transport's buffer is full. */
async function blast(
  write: (chunk: Buffer) => boolean,
  onceDrain: () => Promise<void>,
  stopAt: number,
): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let sent = 0;
  while (Date.now() < stopAt) {
    sent += chunk.length;
    if (!write(chunk)) await Promise.race([onceDrain(), sleepUntil(stopAt)]);
  }
  return sent;
}

// --- TCP cubic (iperf3 -C cubic: Node cannot choose a socket's congestion control, and the
// namespace default may be another, e.g. bbr) -----------------------------------------------------------
function iperf3(args: string[]): { exited: Promise<{ code: number; stdout: string }> } {
  const child = spawn('iperf3', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    stdout += d;
  });
  return { exited: new Promise((resolve) => child.on('exit', (code) => resolve({ code: code ?? 1, stdout }))) };
}

async function tcpReceiver(a: Args): Promise<void> {
  const server = iperf3(['-s', '-1', '-p', String(a.port), '-J', '-i', '0.1']);
  await new Promise((r) => setTimeout(r, 300));
  emit({ event: 'ready', port: a.port });
  await server.exited;
  emit({ event: 'done' });
}

/** The receiver-side byte counts come back to the client with --get-server-output. */
async function tcpSender(a: Args): Promise<void> {
  await sleepUntil(a.startAt);
  const seconds = Math.max(1, Math.round((a.stopAt - Date.now()) / 1000));
  const t0 = Date.now();
  const { code, stdout } = await iperf3([
    ...['-c', a.host, '-p', String(a.port), '-C', 'cubic', '-t', String(seconds)],
    ...['-i', '0.1', '-J', '--get-server-output'],
  ]).exited;
  if (code !== 0) throw new Error(`iperf3 client exited with ${code}: ${stdout.slice(0, 200)}`);
  const report = JSON.parse(stdout) as {
    end?: { sender_tcp_congestion?: string };
    server_output_json?: { intervals?: Array<{ sum: { start: number; bytes: number } }> };
  };
  const buckets = new Buckets(a.epoch, a.bucketMs);
  for (const interval of report.server_output_json?.intervals ?? [])
    buckets.addAt(t0 + interval.sum.start * 1000, interval.sum.bytes);
  emit({ event: 'done', buckets: buckets.bytes, congestion: report.end?.sender_tcp_congestion ?? 'unknown' });
}

// --- libutp (utp-native: LEDBAT as BitTorrent ships it) ---------------------------------------------
interface UtpSocket {
  write(b: Buffer): boolean;
  end(): void;
  destroy(): void;
  on(e: string, f: (...x: any[]) => void): void;
  once(e: string, f: (...x: any[]) => void): void;
}
interface UtpServer {
  listen(port: number, cb: () => void): void;
  address(): { port: number };
  close(): void;
  on(e: string, f: (s: UtpSocket) => void): void;
}
const utp = (): { createServer(): UtpServer; connect(port: number, host: string): UtpSocket } =>
  createRequire(import.meta.url)('utp-native');

async function utpReceiver(a: Args): Promise<void> {
  const buckets = new Buckets(a.epoch, a.bucketMs);
  const server = utp().createServer();
  await new Promise<void>((r) => server.listen(a.port, r));
  emit({ event: 'ready', port: server.address().port });
  await new Promise<void>((resolve) => {
    // The sender's process may exit before libutp's FIN goes out: stop counting after the run anyway.
    sleepUntil(a.stopAt + 2000).then(resolve);
    server.on('connection', (socket) => {
      socket.on('data', (chunk: Buffer) => buckets.add(chunk.length));
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
      socket.on('end', () => resolve());
    });
  });
  server.close();
  emit({ event: 'done', buckets: buckets.bytes });
}

async function utpSender(a: Args): Promise<void> {
  await sleepUntil(a.startAt);
  const socket = utp().connect(a.port, a.host);
  socket.on('error', () => undefined);
  const sent = await blast(
    (c) => socket.write(c),
    () => new Promise((r) => socket.once('drain', () => r())),
    a.stopAt,
  );
  socket.end();
  setTimeout(() => socket.destroy(), 200).unref();
  emit({ event: 'done', sent });
}

// --- udx-native (native reliable UDP streams; not LEDBAT) -------------------------------------------
interface UdxStream {
  write(b: Buffer): boolean;
  end(): void;
  destroy(): void;
  on(e: string, f: (...x: any[]) => void): void;
  once(e: string, f: (...x: any[]) => void): void;
  connect(socket: unknown, remoteId: number, port: number, host: string): void;
}
interface UdxSocket {
  bind(port: number, host: string): void;
  close(): Promise<void>;
  address(): { port: number };
}
const udx = (): { createSocket(): UdxSocket; createStream(id: number): UdxStream } => {
  const UDX = createRequire(import.meta.url)('udx-native') as new () => {
    createSocket(): UdxSocket;
    createStream(id: number): UdxStream;
  };
  return new UDX();
};

async function udxReceiver(a: Args): Promise<void> {
  const buckets = new Buckets(a.epoch, a.bucketMs);
  const u = udx();
  const socket = u.createSocket();
  socket.bind(a.port, '0.0.0.0');
  const stream = u.createStream(1);
  stream.connect(socket, 2, a.localPort, a.host);
  emit({ event: 'ready', port: socket.address().port });
  await new Promise<void>((resolve) => {
    sleepUntil(a.stopAt + 2000).then(resolve);
    stream.on('data', (chunk: Buffer) => buckets.add(chunk.length));
    stream.on('error', () => resolve());
    stream.on('end', () => resolve());
    stream.on('close', () => resolve());
  });
  stream.destroy();
  await socket.close();
  emit({ event: 'done', buckets: buckets.bytes });
}

async function udxSender(a: Args): Promise<void> {
  const u = udx();
  const socket = u.createSocket();
  socket.bind(a.localPort, '0.0.0.0');
  const stream = u.createStream(2);
  stream.connect(socket, 1, a.port, a.host);
  stream.on('error', () => undefined);
  stream.on('data', () => undefined);
  await sleepUntil(a.startAt);
  const sent = await blast(
    (c) => stream.write(c),
    () => new Promise((r) => stream.once('drain', () => r())),
    a.stopAt,
  );
  stream.end();
  await new Promise((r) => setTimeout(r, 300));
  stream.destroy();
  await socket.close();
  emit({ event: 'done', sent });
}

// --- punchline (encrypted streams, LEDBAT++ by default) ---------------------------------------------
async function punchline(a: Args): Promise<{
  bind: () => ReturnType<typeof import('../../src/node/endpoint.js').Endpoint['bind']>;
  publicKey: Uint8Array;
}> {
  const { Endpoint } = await import('../../src/node/endpoint.js');
  const { sodium } = await import('../../src/crypto/sodium.js');
  const secretKey = new Uint8Array(32);
  sodium.randombytes_buf(secretKey);
  const publicKey = new Uint8Array(32);
  sodium.crypto_scalarmult_base(publicKey, secretKey);
  const bind = () =>
    Endpoint.bind({
      host: '0.0.0.0',
      port: a.role === 'receiver' ? a.port : 0,
      keyPair: { publicKey, secretKey },
      // 1452: the lab path's MTU is 1500 (the default 1200 spends 3 % more of the link on headers).
      transport: { congestionController: a.cc as 'ledbat++', maxUdpPayloadSize: 1452 },
    });
  return { bind, publicKey };
}

async function punchlineReceiver(a: Args): Promise<void> {
  const { bind, publicKey } = await punchline(a);
  const endpoint = await bind();
  const buckets = new Buckets(a.epoch, a.bucketMs);
  emit({ event: 'ready', port: endpoint.address().port, key: Buffer.from(publicKey).toString('hex') });
  const connection = (await endpoint[Symbol.asyncIterator]().next()).value;
  if (!connection) throw new Error('no connection');
  const stream = (await connection.streams()[Symbol.asyncIterator]().next()).value;
  if (!stream) throw new Error('no stream');
  const counted = (async () => {
    try {
      for await (const chunk of stream) buckets.add((chunk as Buffer).length);
    } catch {
      // the sender resets its stream at the stop time: what arrived is counted
    }
  })();
  await Promise.race([counted, sleepUntil(a.stopAt + 2000)]);
  await endpoint.close();
  emit({ event: 'done', buckets: buckets.bytes });
}

async function punchlineSender(a: Args): Promise<void> {
  const { bind } = await punchline(a);
  const endpoint = await bind();
  await sleepUntil(a.startAt);
  const connection = await endpoint.connect({
    host: a.host,
    port: a.port,
    publicKey: Buffer.from(a.peerKey, 'hex'),
  });
  const stream = connection.openStream({ bidirectional: false });
  stream.on('error', () => undefined);
  // PUNCHLINE_BENCH_TRACE=1: the controller's state every 250 ms on stderr (diagnosis only; reads
  // the sans-IO connection's private controller).
  const trace = process.env['PUNCHLINE_BENCH_TRACE']
    ? setInterval(() => {
        const s = connection.stats();
        const cc = (connection as unknown as { handle?: { recovery?: { cc?: Record<string, unknown> } } }).handle
          ?.recovery?.cc;
        const n = (k: string): string => (typeof cc?.[k] === 'number' ? (cc[k] as number).toFixed(2) : '-');
        process.stderr.write(
          `trace t=${((Date.now() - a.epoch) / 1000).toFixed(2)} cwnd=${(s.congestionWindowBytes / 1452).toFixed(1)} ` +
            `q=${s.queueingDelayMs.toFixed(1)} target=${n('targetDelay')} gain=${n('currentGain')} ` +
            `phase=${String(cc?.['slowdownPhase'] ?? '-')} ss=${String(cc?.['inSlowStart'] ?? '-')} ` +
            `srtt=${s.smoothedRttMs.toFixed(1)} lost=${s.packetsLost} random=${n('randomLosses')} ` +
            `slowdowns=${n('slowdowns')} joined=${n('joinedSlowdowns')} base=${n('baseDelayEstimate')}\n`,
        );
      }, 250)
    : undefined;
  const sent = await blast(
    (c) => stream.write(c),
    () => new Promise((r) => stream.once('drain', () => r())),
    a.stopAt,
  );
  clearInterval(trace);
  const stats = connection.stats();
  stream.destroy();
  await connection.close().catch(() => undefined);
  await endpoint.close();
  emit({ event: 'done', sent, stats });
}

// --- queue probe (UDP echo, every 10 ms) -------------------------------------------------------------
async function probeReceiver(a: Args): Promise<void> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(a.port, '0.0.0.0', r));
  socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  emit({ event: 'ready', port: socket.address().port });
  await sleepUntil(a.stopAt + 1000);
  socket.close();
  emit({ event: 'done' });
}

async function probeSender(a: Args): Promise<void> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '0.0.0.0', r));
  const samples: number[] = [];
  const probe = Buffer.alloc(64);
  socket.on('message', (msg) => {
    const sentAt = msg.readDoubleLE(0);
    const axis = msg.readDoubleLE(8);
    samples.push(Math.round(axis), Math.round((performance.now() - sentAt) * 100) / 100);
  });
  await sleepUntil(a.startAt);
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (Date.now() >= a.stopAt) {
        clearInterval(timer);
        resolve();
        return;
      }
      probe.writeDoubleLE(performance.now(), 0);
      probe.writeDoubleLE(Date.now() - a.epoch, 8);
      socket.send(probe, a.port, a.host);
    }, 10);
  });
  await new Promise((r) => setTimeout(r, 500));
  socket.close();
  emit({ event: 'done', samples });
}

const roles: Record<Impl, { receiver: (a: Args) => Promise<void>; sender: (a: Args) => Promise<void> }> = {
  punchline: { receiver: punchlineReceiver, sender: punchlineSender },
  tcp: { receiver: tcpReceiver, sender: tcpSender },
  utp: { receiver: utpReceiver, sender: utpSender },
  udx: { receiver: udxReceiver, sender: udxSender },
  probe: { receiver: probeReceiver, sender: probeSender },
};

const args = parseArgs(process.argv.slice(2));
roles[args.impl][args.role](args).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${args.impl} ${args.role}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
