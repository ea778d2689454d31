/**
 * Heap bytes per relayed datagram on the receive path of the Node adapter: EndpointIo.onDatagram for
 * a relay datagram (0x12 ‖ channel ‖ inner, spec/wire.md §Relay) from the server, through Traversal
 * to the link that owns the channel, up to the hand-off to the core (a counting sink here, so the
 * figure is the adapter's own cost; bench/core-alloc.ts measures the core).
 *
 *   node --expose-gc --import tsx bench/relay-alloc.ts [--links 4] [--datagrams 2000] [--windows 50]
 *
 * The real EndpointIo, Traversal and PeerLink methods run on objects made without their constructors
 * (no socket, no server): only the fields the relay path reads are set. Datagrams are views into one
 * 1 MiB "arena" at the places the native backend uses (16 GRO buffers of 64 KiB, 1461-byte
 * datagrams), one view object per place as the native socket hands them out. Each window: forced GC,
 * then N datagrams, then the used-heap delta. Windows are short (2000 datagrams) so that few
 * overlap a scavenge; one that did shows a smaller (or negative) delta, so the median and the
 * maximum are reported (negative windows dropped). Prints them and one JSON line.
 */
import { EndpointIo } from '../src/node/endpoint-io.js';
import { PeerLink } from '../src/node/peer-link.js';
import { RelayViews } from '../src/node/relay-views.js';
import { Traversal } from '../src/node/traversal.js';
import { heapReader } from './lib/heap-reader.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('relay-alloc: run with node --expose-gc --import tsx');
  process.exit(2);
}
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const LINKS = arg('links', 4);
const PER_WINDOW = arg('datagrams', 2_000);
const WINDOWS = arg('windows', 50);
const SIZE = 1461;
const server = Object.freeze({ host: '192.0.2.1', port: 3478 });

// Links: each with its own channel; the datagrams name the last one (the worst case of the search).
const links = new Set<PeerLink>();
let target: Uint8Array = new Uint8Array(8);
for (let l = 0; l < LINKS; l++) {
  const link = Object.create(PeerLink.prototype) as PeerLink;
  const channel = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, l + 1]);
  (link as unknown as { relay: unknown }).relay = { channel, route: null, stream: null };
  (link as { virtual: unknown }).virtual = Object.freeze({ host: `100::${l + 1}`, port: 1 });
  links.add(link);
  target = channel;
}
let delivered = 0;
let checksum = 0;
const traversal = Object.create(Traversal.prototype) as Traversal & Record<string, unknown>;
Object.assign(traversal, {
  closed: false,
  serverUdp: server,
  links,
  registered: false,
  endpoint: {
    deliver(datagram: Uint8Array) {
      delivered++;
      checksum += datagram[datagram.length - 1]!;
    },
  },
});
const arena = Buffer.alloc(16 * 65_536);
const io = Object.create(EndpointIo.prototype) as EndpointIo & Record<string, unknown>;
Object.assign(io, {
  traversal,
  handlers: new Map(),
  counters: { datagramsReceived: 0, datagramsSent: 0, bytesReceived: 0, bytesSent: 0, datagramsDropped: 0 },
  receivedByKind: { stun: 0, 'punch-probe': 0, relay: 0, short: 0, long: 0, unknown: 0 },
  relayViews: new RelayViews(),
  // The native backend's receive arena (the relay view cache caches only its datagrams).
  socket: { receiveArena: arena.buffer },
  socketClosed: false,
  // wake() (the old path calls it) then schedules nothing: no event loop turn runs in the windows.
  serviceScheduled: true,
});
type OnDatagram = (this: unknown, msg: Buffer, from: unknown, family: string) => void;
const onDatagram = (EndpointIo.prototype as unknown as Record<string, OnDatagram>)['onDatagram']!;

const views: Buffer[] = [];
for (let block = 0; block < 16; block++) {
  for (let i = 0; (i + 1) * SIZE <= 65_536; i++) {
    const offset = block * 65_536 + i * SIZE;
    arena[offset] = 0x12;
    arena.set(target, offset + 1);
    arena[offset + 9] = 0x41; // a short-header transport packet
    views.push(arena.subarray(offset, offset + SIZE));
  }
}

const heap = heapReader();
const run = (n: number): void => {
  for (let i = 0; i < n; i++) onDatagram.call(io, views[i % views.length]!, server, 'IPv4');
};
run(200_000); // warm-up: optimised code, caches filled
const results: number[] = [];
for (let w = 0; w < WINDOWS; w++) {
  gc();
  const before = heap.read();
  run(PER_WINDOW);
  const after = heap.read();
  if (after >= before) results.push((after - before) / PER_WINDOW);
}
if (delivered === 0 || checksum < 0) throw new Error('nothing delivered: the relay path did not run');
results.sort((a, b) => a - b);
const median = results[Math.floor(results.length / 2)] ?? Number.NaN;
const max = results[results.length - 1] ?? Number.NaN;
console.log(
  `relay receive path, ${LINKS} links: ${median.toFixed(1)} B/datagram median, ${max.toFixed(1)} max ` +
    `(${results.length}/${WINDOWS} windows with a non-negative delta; ${heap.name})`,
);
console.log(
  JSON.stringify({
    bench: 'relay-alloc',
    links: LINKS,
    bytesPerDatagram: median,
    max,
    windows: results.length,
    delivered,
  }),
);
