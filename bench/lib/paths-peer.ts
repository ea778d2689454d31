/**
 * One peer of a path-fault run (bench/paths.ts, test/lab/paths*.test.ts), usually inside a lab host.
 *
 *   tsx bench/lib/paths-peer.ts --role listen|dial [--host H --port P --peer-key HEX]
 *       --mode bulk|idle [--send] [--bytes N] [--idle-ms MS] [--write-at-ms MS] [--transport JSON]
 *       [--lifetime-stun HOST:PORT] (measure the NAT binding lifetime there and seed the keepalives)
 *
 * - bulk: the side with --send writes --bytes of a seeded pattern on one stream (0 = until killed),
 *   the other reads; the reader reports the longest gap between two deliveries (the stall) and the
 *   SHA-256 of what it got, the writer the SHA-256 of what it wrote.
 * - idle: one bidirectional stream; each side writes one timestamped line --write-at-ms after the
 *   connection is up (after the NAT had time to forget), and the peer reports its delivery latency
 *   (both ends share the machine's clock).
 *
 * JSON lines on stdout: ready {port,key}, connected, first-byte, path {remote}, done {...},
 * msg {latencyMs}, closed {reason, code, at}, stats {...}. `at` values are Date.now().
 */
import { createHash } from 'node:crypto';
import { flagGetter } from './worker-args.js';

interface Args {
  role: 'listen' | 'dial';
  host: string;
  port: number;
  peerKey: string;
  mode: 'bulk' | 'idle';
  send: boolean;
  bytes: number;
  writeAtMs: number;
  holdMs: number;
  transport: Record<string, unknown>;
  udpBackend: 'auto' | 'dgram' | 'native';
  /** An RFC 5780 STUN server (host:port) to measure the NAT's binding lifetime against, or ''. */
  lifetimeStun: string;
}

function parseArgs(argv: string[]): Args {
  const get = flagGetter(argv);
  return {
    role: get('role') as Args['role'],
    host: get('host', '0.0.0.0'),
    port: Number(get('port', '0')),
    peerKey: get('peer-key', ''),
    mode: get('mode', 'bulk') as Args['mode'],
    send: argv.includes('--send'),
    bytes: Number(get('bytes', '0')),
    writeAtMs: Number(get('write-at-ms', '0')),
    holdMs: Number(get('hold-ms', '0')),
    transport: JSON.parse(get('transport', '{}')) as Record<string, unknown>,
    udpBackend: get('udp-backend', 'auto') as Args['udpBackend'],
    lifetimeStun: get('lifetime-stun', ''),
  };
}

function emit(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...message, at: Date.now() })}\n`);
}

/** A deterministic pattern (xorshift32), the same on both sides. */
function patternChunk(index: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = (index * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}

const CHUNK = 64 * 1024;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const { Endpoint } = await import('../../src/node/endpoint.js');
  const { sodium } = await import('../../src/crypto/sodium.js');
  const secretKey = new Uint8Array(32);
  sodium.randombytes_buf(secretKey);
  const publicKey = new Uint8Array(32);
  sodium.crypto_scalarmult_base(publicKey, secretKey);
  const endpoint = await Endpoint.bind({
    host: '0.0.0.0',
    port: args.role === 'listen' ? args.port : 0,
    keyPair: { publicKey, secretKey },
    transport: args.transport,
    udpBackend: args.udpBackend,
  });
  emit({ event: 'ready', port: endpoint.address().port, key: Buffer.from(publicKey).toString('hex') });
  const connection =
    args.role === 'listen'
      ? (await endpoint[Symbol.asyncIterator]().next()).value
      : await endpoint.connect({ host: args.host, port: args.port, publicKey: Buffer.from(args.peerKey, 'hex') });
  if (!connection) throw new Error('no connection');
  emit({ event: 'connected' });
  if (args.lifetimeStun !== '') {
    // Measure the NAT's binding lifetime (RFC 5780 §4.6) beside the connection; the result seeds
    // every connection's keepalive (Endpoint.probeBindingLifetime).
    const [host, port] = args.lifetimeStun.split(':');
    endpoint
      .probeBindingLifetime({ host: host as string, port: Number(port) }, { initialMs: 2_000, resolutionMs: 1_000 })
      .then(
        (r) => emit({ event: 'lifetime', aliveMs: r.aliveMs, expiredMs: r.expiredMs }),
        (e: Error) => emit({ event: 'lifetime-failed', error: e.message }),
      );
  }
  connection.on('path-changed', (remote: { host: string; port: number }) =>
    emit({ event: 'path', remote: `${remote.host}:${remote.port}` }),
  );
  const closed = connection.closed.then((reason: { errorCode: number; application: boolean; reason: string }) => {
    emit({
      event: 'closed',
      code: reason.errorCode,
      application: reason.application,
      reason: reason.reason,
      // The typed error of a peer that vanished (PeerGoneError), null for any other close.
      error: connection.error?.code ?? null,
    });
    return reason;
  });
  const statsTimer = setInterval(() => emit({ event: 'stats', stats: connection.stats() }), 1000);
  statsTimer.unref();

  if (args.mode === 'bulk') {
    if (args.send) {
      const stream = connection.openStream({ bidirectional: false });
      stream.on('error', () => undefined); // the connection's end is reported by 'closed'
      const hash = createHash('sha256');
      let written = 0;
      for (let i = 0; args.bytes === 0 || written < args.bytes; i++) {
        const size = args.bytes === 0 ? CHUNK : Math.min(CHUNK, args.bytes - written);
        const chunk = patternChunk(i, CHUNK).subarray(0, size);
        hash.update(chunk);
        written += size;
        if (!stream.write(chunk)) {
          const gone = await Promise.race([
            new Promise<boolean>((r) => stream.once('drain', () => r(false))),
            closed.then(() => true),
          ]);
          if (gone) break;
        }
      }
      await new Promise<void>((resolve) => stream.end(() => resolve()));
      // Stats first: a transfer shorter than the stats interval would otherwise report none with 'done'.
      emit({ event: 'stats', stats: connection.stats() });
      emit({ event: 'done', role: 'writer', bytes: written, sha256: hash.digest('hex') });
      await connection.close();
    } else {
      const stream = (await connection.streams()[Symbol.asyncIterator]().next()).value;
      if (!stream) throw new Error('no stream');
      const hash = createHash('sha256');
      let bytes = 0;
      let last = 0;
      let first = 0;
      let maxGap = 0;
      let maxGapAt = 0;
      stream.on('error', () => undefined);
      try {
        for await (const chunk of stream) {
          const now = performance.now();
          if (bytes === 0) {
            first = now;
            emit({ event: 'first-byte' });
          } else if (now - last > maxGap) {
            maxGap = now - last;
            maxGapAt = Date.now();
          }
          last = now;
          bytes += (chunk as Buffer).length;
          hash.update(chunk as Buffer);
        }
      } catch {
        // the connection ended: report what arrived
      }
      emit({
        event: 'done',
        role: 'reader',
        bytes,
        sha256: hash.digest('hex'),
        maxGapMs: maxGap,
        maxGapEndedAt: maxGapAt,
        durationMs: last - first,
      });
    }
  } else {
    // idle: one bidirectional stream opened by the dialling side.
    const stream =
      args.role === 'dial'
        ? connection.openStream({ bidirectional: true })
        : (await connection.streams()[Symbol.asyncIterator]().next()).value;
    if (!stream) throw new Error('no stream');
    if (args.role === 'dial') stream.write('hello\n');
    let buffered = '';
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const ts = Number(line);
        if (Number.isFinite(ts) && ts > 0) emit({ event: 'msg', latencyMs: Date.now() - ts });
      }
    });
    stream.on('error', () => undefined);
    if (args.writeAtMs > 0)
      setTimeout(() => {
        stream.write(`${Date.now()}\n`);
        emit({ event: 'wrote' });
      }, args.writeAtMs);
  }
  if (args.holdMs > 0) await Promise.race([new Promise((r) => setTimeout(r, args.holdMs)), closed]);
  else if (args.mode === 'idle') await closed;
  emit({ event: 'stats', stats: connection.stats() });
  clearInterval(statsTimer);
  if (connection.handle.state !== 'closed') await connection.close();
  await endpoint.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    emit({ event: 'error', message: (error as Error).message });
    process.exit(1);
  },
);
