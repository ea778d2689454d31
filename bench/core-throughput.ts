/**
 * The sans-IO core alone (no sockets, no simulator): two endpoints in one thread, datagrams handed
 * across in memory, encryption included. Prints goodput (both ends on one core), per-datagram cost
 * (wall clock, and CPU time, which a busy machine disturbs less) and RSS — the ceiling the Node
 * adapter works under. Run: npm run bench:core
 * PUNCHLINE_PERF_BYTES sets the volume (default 256 MiB); PUNCHLINE_PERF_READ the most the
 * application reads per read() (default 64 KiB, the Node adapter's high-water mark; 0 reads
 * everything readable at once, which with multi-megabyte windows makes each read a fresh
 * multi-megabyte allocation and copy).
 */
import { generateKeyPair } from '../src/crypto/keys.js';
import { systemRandom } from '../src/crypto/sodium.js';
import type { Address, ConnectionHandle } from '../src/transport/api.js';
import { useOpensslAead } from '../src/node/openssl-aead.js';
import { TransportEndpoint } from '../src/transport/endpoint.js';

// Addresses only label the two in-memory ends; nothing is sent on a network.
const A: Address = { host: '192.0.2.1', port: 1000 };
const B: Address = { host: '192.0.2.2', port: 2000 };

const total = Number(process.env.PUNCHLINE_PERF_BYTES ?? 256 * 1024 * 1024);
const readChunk = Number(process.env.PUNCHLINE_PERF_READ ?? 64 * 1024) || Infinity;
const config = { maxUdpPayloadSize: 1452, pacing: false };
const serverKeys = generateKeyPair(systemRandom);
// The packet AEAD as a node endpoint runs it: OpenSSL where the add-on loads (spec/crypto.md §5.1).
useOpensslAead();
const a = new TransportEndpoint({ staticKeyPair: generateKeyPair(systemRandom), random: systemRandom, config });
const b = new TransportEndpoint({ staticKeyPair: serverKeys, random: systemRandom, config });
let now = 0;
const conn = a.connect(B, { remotePublicKey: serverKeys.publicKey }, now);
const txA = new Uint8Array(2048);
const txB = new Uint8Array(2048);
let packets = 0;
const pump = (src: TransportEndpoint, dst: TransportEndpoint, from: typeof A, buf: Uint8Array): number => {
  let n = 0;
  for (let t = src.pollTransmit(now, buf); t; t = src.pollTransmit(now, buf)) {
    dst.receive(buf.subarray(0, t.length), from, now);
    n++;
  }
  packets += n;
  return n;
};
const chunk = new Uint8Array(65536);
let sid = -1;
let written = 0;
let received = 0;
let server: ConnectionHandle | null = null;
const t0 = performance.now();
const cpu0 = process.cpuUsage();
while (received < total) {
  now = performance.now();
  if (sid < 0 && conn.state === 'established') sid = conn.openStream(false);
  if (sid >= 0) {
    while (written < total) {
      const n = conn.write(sid, chunk.subarray(0, Math.min(chunk.length, total - written)));
      if (n === 0) break;
      written += n;
    }
  }
  const x = pump(a, b, A, txA);
  const y = pump(b, a, B, txB);
  for (let e = b.pollEvent(); e; e = b.pollEvent()) if (e.type === 'incoming') server = e.connection;
  while (a.pollEvent());
  if (server && sid >= 0) {
    for (let r = server.read(sid, readChunk); r.kind === 'data'; r = server.read(sid, readChunk))
      received += r.data.length;
  }
  if (x === 0 && y === 0) {
    now = Math.max(now, Math.min(a.nextDeadline(), b.nextDeadline()));
    a.onTimeout(now);
    b.onTimeout(now);
  }
}
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const mbit = (total * 8) / seconds / 1e6;
console.log(
  `core: ${(total / 1048576).toFixed(0)} MiB in ${seconds.toFixed(2)} s = ${mbit.toFixed(0)} Mbit/s (both ends, one thread); ` +
    `${packets} datagrams, ${((seconds * 1e6) / packets).toFixed(1)} µs each (CPU ${((cpuSeconds * 1e6) / packets).toFixed(1)} µs); ` +
    `reads ≤ ${readChunk === Infinity ? 'all' : `${readChunk / 1024} KiB`}; rss ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB`,
);
if (received !== total) {
  console.error(`core: received ${received} of ${total} bytes`);
  process.exitCode = 1;
}
