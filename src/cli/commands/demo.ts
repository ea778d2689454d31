/**
 * `punchline demo`: two endpoints on loopback in this process, connected by public key (Noise IK),
 * transfer data over several concurrent streams, verify it (SHA-256 echoed back on each stream), and
 * print throughput and connection stats. The README's main job until hole punching lands.
 */
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { generateKeyPair } from '../../crypto/keys.js';
import { Endpoint, type Connection } from '../../node/endpoint.js';
import type { PunchlineStream } from '../../node/stream.js';
import type { ConnectionStats } from '../../transport/api.js';
import { parseCommandLine } from '../args.js';

export const summary = 'transfer data between two local endpoints over several streams and print stats';

const HELP = `usage: punchline demo [--bytes 64M] [--streams 4] [--timeout 120]

Starts two endpoints on 127.0.0.1, connects them by public key, sends --bytes in total split over
--streams concurrent streams, checks every byte (SHA-256 sent back by the receiver on each stream),
and prints throughput and connection statistics (RTT, congestion window, losses, queueing delay).
`;

interface DemoOptions {
  bytes: number;
  streams: number;
  timeoutS: number;
}

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) throw new Error(`bad size '${text}' (e.g. 64M, 1G, 1048576)`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m[2] ?? '').toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Math.round(Number(m[1]) * unit);
}

/** The flags as DemoOptions, or the message of a usage error. */
function toOptions(values: { bytes: string; streams: string; timeout: string }): DemoOptions | string {
  let bytes: number;
  try {
    bytes = parseSize(values.bytes);
  } catch (error) {
    return (error as Error).message;
  }
  const streams = Number(values.streams);
  const timeoutS = Number(values.timeout);
  if (!/^\d+$/.test(values.streams) || streams < 1 || streams > 64) return '--streams must be 1..64';
  if (!(bytes >= streams)) return '--bytes must be at least --streams';
  // setTimeout takes at most 2^31-1 ms; beyond that Node fires it at once.
  if (!(timeoutS > 0 && timeoutS <= MAX_TIMEOUT_S))
    return `--timeout must be more than 0 and at most ${MAX_TIMEOUT_S} s`;
  return { bytes, streams, timeoutS };
}

const MAX_TIMEOUT_S = 86_400;

const MiB = 1024 * 1024;

function formatRate(bytes: number, seconds: number): string {
  const bps = (bytes * 8) / seconds;
  return bps >= 1e9 ? `${(bps / 1e9).toFixed(2)} Gbit/s` : `${(bps / 1e6).toFixed(1)} Mbit/s`;
}

function formatStats(s: ConnectionStats): string[] {
  return [
    `  RTT            smoothed ${s.smoothedRttMs.toFixed(2)} ms, min ${s.minRttMs.toFixed(2)} ms, variance ${s.rttVarianceMs.toFixed(2)} ms`,
    `  cwnd           ${(s.congestionWindowBytes / 1024).toFixed(0)} KiB (in flight ${(s.bytesInFlight / 1024).toFixed(0)} KiB)`,
    `  queueing delay ${s.queueingDelayMs.toFixed(2)} ms`,
    `  packets        sent ${s.packetsSent}, received ${s.packetsReceived}, lost ${s.packetsLost}` +
      (s.packetsSent > 0 ? ` (${((s.packetsLost / s.packetsSent) * 100).toFixed(2)} %)` : ''),
    `  bytes          sent ${s.bytesSent}, received ${s.bytesReceived} (stream payload sent ${s.streamBytesSent})`,
  ];
}

/** Receiver side: hash each incoming stream and answer with the digest on the same stream. */
function serveStreams(connection: Connection, received: { bytes: number }): void {
  connection.on('stream', (stream: PunchlineStream) => {
    const hash = createHash('sha256');
    stream.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      received.bytes += chunk.length;
    });
    stream.on('end', () => stream.end(hash.digest()));
    stream.on('error', () => undefined);
  });
}

/** Sender side of one stream: writes `bytes` (a random block, repeated), returns whether the digest matched. */
async function sendOne(connection: Connection, bytes: number): Promise<{ ok: boolean; id: number }> {
  const stream = connection.openStream();
  const block = randomBytes(Math.min(MiB, bytes));
  const hash = createHash('sha256');
  const reply: Buffer[] = [];
  const replied = new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => reply.push(chunk));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  // Rejected while the loop below still writes (connection closed): `await replied` reports it.
  replied.catch(() => undefined);
  let sent = 0;
  while (sent < bytes) {
    const n = Math.min(block.length, bytes - sent);
    const chunk = n === block.length ? block : block.subarray(0, n);
    hash.update(chunk);
    sent += n;
    if (!stream.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          stream.off('error', onError);
          resolve();
        };
        const onError = (error: Error): void => {
          stream.off('drain', onDrain);
          reject(error);
        };
        stream.once('drain', onDrain);
        stream.once('error', onError);
      });
    }
  }
  stream.end();
  await replied;
  return { ok: Buffer.concat(reply).equals(hash.digest()), id: stream.id };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine('demo', HELP, {
    args: argv,
    options: {
      bytes: { type: 'string', default: '64M' },
      streams: { type: 'string', default: '4' },
      timeout: { type: 'string', default: '120' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (typeof parsed === 'number') return parsed;
  const options = toOptions(parsed.values);
  if (typeof options === 'string') {
    process.stderr.write(`punchline demo: ${options}\n${HELP}`);
    return 2;
  }
  const out = (line: string): void => {
    process.stdout.write(line + '\n');
  };

  const serverKeys = generateKeyPair();
  const clientKeys = generateKeyPair();
  const server = await Endpoint.bind({ host: '127.0.0.1', port: 0, keyPair: serverKeys });
  const client = await Endpoint.bind({ host: '127.0.0.1', port: 0, keyPair: clientKeys });
  const received = { bytes: 0 };
  server.on('connection', (connection: Connection) => serveStreams(connection, received));
  const hex = (k: Uint8Array): string => Buffer.from(k).toString('hex').slice(0, 16) + '…';
  out(`server  127.0.0.1:${server.address().port}  key ${hex(serverKeys.publicKey)}`);
  out(`client  127.0.0.1:${client.address().port}  key ${hex(clientKeys.publicKey)}`);
  out(
    `udp     ${client.udpBackend === 'native' ? 'native batched I/O (sendmmsg + GSO, recvmmsg)' : 'node:dgram (native add-on not built or not chosen)'}`,
  );

  let progress: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  try {
    const t0 = performance.now();
    const connection = await client.connect({
      host: '127.0.0.1',
      port: server.address().port,
      publicKey: serverKeys.publicKey,
    });
    const handshakeMs = performance.now() - t0;
    out(`connected in ${handshakeMs.toFixed(1)} ms (Noise IK, peer authenticated by its public key)`);
    out(`sending ${(options.bytes / MiB).toFixed(1)} MiB over ${options.streams} streams…`);

    const start = performance.now();
    let lastBytes = 0;
    let lastTime = start;
    progress = setInterval(() => {
      const now = performance.now();
      const s = connection.stats();
      const pct = ((received.bytes / options.bytes) * 100).toFixed(0).padStart(3);
      out(
        `  ${pct} %  ${(received.bytes / MiB).toFixed(1).padStart(7)} MiB  ${formatRate(received.bytes - lastBytes, (now - lastTime) / 1000).padStart(14)}` +
          `  rtt ${s.smoothedRttMs.toFixed(2)} ms  cwnd ${(s.congestionWindowBytes / 1024).toFixed(0)} KiB  lost ${s.packetsLost}  qdelay ${s.queueingDelayMs.toFixed(1)} ms`,
      );
      lastBytes = received.bytes;
      lastTime = now;
    }, 1000);

    const per = Math.floor(options.bytes / options.streams);
    const sizes = Array.from({ length: options.streams }, (_, i) =>
      i === 0 ? options.bytes - per * (options.streams - 1) : per,
    );
    const timedOut = new Promise<never>((_, reject) => {
      deadline = setTimeout(
        () => reject(new Error(`transfer did not finish within ${options.timeoutS} s`)),
        options.timeoutS * 1000,
      );
    });
    const transfer = Promise.all(sizes.map((n) => sendOne(connection, n)));
    // After a timeout the streams still in flight fail when the endpoints close: already reported.
    transfer.catch(() => undefined);
    const results = await Promise.race([transfer, timedOut]);
    const seconds = (performance.now() - start) / 1000;
    clearInterval(progress);
    progress = undefined;

    const stats = connection.stats();
    const bad = results.filter((r) => !r.ok);
    out('');
    out(
      `transferred ${(options.bytes / MiB).toFixed(1)} MiB in ${seconds.toFixed(2)} s: ${formatRate(options.bytes, seconds)} (encrypted, ${options.streams} streams)`,
    );
    out(
      `integrity   ${bad.length === 0 ? `all ${results.length} streams verified (SHA-256)` : `MISMATCH on streams ${bad.map((r) => r.id).join(', ')}`}`,
    );
    out('connection stats (client side):');
    for (const line of formatStats(stats)) out(line);

    await connection.close();
    if (bad.length > 0) {
      process.stderr.write('punchline demo: data corruption detected\n');
      return 1;
    }
    return 0;
  } catch (error) {
    process.stderr.write(`punchline demo: failed: ${(error as Error).message}\n`);
    return 1;
  } finally {
    if (progress) clearInterval(progress);
    clearTimeout(deadline);
    await Promise.all([client.close(), server.close()]);
  }
}
