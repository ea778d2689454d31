/**
 * `npm run bench:upgrade`: goodput of one stream on a connection made by public key, after it moved
 * from the relay to the direct pair, against the anchor of a connection dialled directly by address
 * (same process, same loopback, same transport; the runs alternate so both see the same load).
 * The target: the upgraded connection within 10 % of the direct one.
 *
 *   npm run bench:upgrade -- [--bytes 64M] [--runs 3]
 *
 * Prints a table and one JSON line per variant:
 *   {"bench":"upgrade","variant":"by-address"|"by-key-direct","mbps":...,"runs":[...],"ratio":...}
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateKeyPair } from '../src/crypto/keys.js';
import { type Connection, Endpoint } from '../src/node/endpoint.js';
import type { PunchlineStream } from '../src/node/stream.js';
import { PunchlineServer } from '../src/server/server.js';

const { values } = parseArgs({
  options: { bytes: { type: 'string', default: '64M' }, runs: { type: 'string', default: '3' } },
});
const units: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 };
const m = /^(\d+)([KMG]?)$/i.exec(values.bytes!);
if (!m) throw new Error(`--bytes: not a size: ${values.bytes}`);
const total = Number(m[1]) * (units[(m[2] ?? '').toUpperCase()] ?? 1);
const runs = Number(values.runs);
const data = randomBytes(total);
const expected = createHash('sha256').update(data).digest('hex');

/** Sends `data` on a new stream of `connection`; resolves with Mbit/s as the receiver saw it. */
async function transfer(connection: Connection, receiver: Endpoint, incoming: Promise<Connection>): Promise<number> {
  const peer = await incoming;
  const done = new Promise<number>((resolve, reject) => {
    peer.once('stream', (stream: PunchlineStream) => {
      const hash = createHash('sha256');
      stream.on('error', () => undefined); // destroyed when the endpoints close
      let first = 0;
      stream.on('data', (chunk: Buffer) => {
        first ||= performance.now();
        hash.update(chunk);
      });
      stream.on('end', () => {
        if (hash.digest('hex') !== expected) reject(new Error('hash mismatch'));
        else resolve((total * 8) / ((performance.now() - first) * 1000));
      });
    });
  });
  void receiver;
  const stream = connection.openStream();
  stream.on('error', () => undefined);
  stream.end(data);
  return done;
}

async function byAddress(): Promise<number> {
  const a = await Endpoint.bind({ host: '127.0.0.1', keyPair: generateKeyPair() });
  const b = await Endpoint.bind({ host: '127.0.0.1', keyPair: generateKeyPair() });
  try {
    const incoming = new Promise<Connection>((r) => b.once('connection', r));
    const c = await a.connect({ host: '127.0.0.1', port: b.address().port, publicKey: b.publicKey });
    return await transfer(c, b, incoming);
  } finally {
    await a.close();
    await b.close();
  }
}

async function byKey(server: string): Promise<number> {
  const a = await Endpoint.bind({ host: '127.0.0.1', keyPair: generateKeyPair(), server });
  const b = await Endpoint.bind({ host: '127.0.0.1', keyPair: generateKeyPair(), server });
  try {
    const incoming = new Promise<Connection>((r) => b.once('connection', r));
    const c = await a.connect(b.publicKey);
    const end = Date.now() + 10_000;
    while (c.path.kind !== 'direct' && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    if (c.path.kind !== 'direct') throw new Error('never went direct');
    return await transfer(c, b, incoming);
  } finally {
    await a.close();
    await b.close();
  }
}

const dataDir = await mkdtemp(join(tmpdir(), 'punchline-bench-upgrade-'));
const server = await PunchlineServer.start({ host: '127.0.0.1', udpPort: 0, port: 0, metricsPort: null, dataDir });
const results = { 'by-address': [] as number[], 'by-key-direct': [] as number[] };
try {
  for (let i = 0; i < runs; i++) {
    results['by-address'].push(await byAddress());
    results['by-key-direct'].push(await byKey(server.info.address));
  }
} finally {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const anchor = median(results['by-address']);
console.log(`upgrade goodput, ${total} bytes, ${runs} runs each (loopback, one process)`);
console.log('variant          median Mbit/s   ratio');
for (const [variant, xs] of Object.entries(results)) {
  const mbps = median(xs);
  console.log(`${variant.padEnd(16)} ${mbps.toFixed(0).padStart(13)}   ${(mbps / anchor).toFixed(3)}`);
}
for (const [variant, xs] of Object.entries(results)) {
  const mbps = median(xs);
  console.log(
    JSON.stringify({
      bench: 'upgrade',
      variant,
      bytes: total,
      mbps: Math.round(mbps),
      runs: xs.map(Math.round),
      ratio: Number((mbps / anchor).toFixed(3)),
    }),
  );
}
process.exit(0);
