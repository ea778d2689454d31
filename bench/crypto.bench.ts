/**
 * `npm run bench:crypto` — packet protection and handshake throughput.
 *
 * Measures, in one run on the same machine:
 *   - PacketProtection.seal / .open of 1400-byte payloads with a 13-byte short header as AAD
 *     (ChaCha20-Poly1305 IETF through Node's OpenSSL where the add-on is built, else sodium-native;
 *     in place, preallocated nonces; the table says which);
 *   - the node:crypto baseline doing the same AEAD work per packet (createCipheriv/createDecipheriv
 *     'chacha20-poly1305', setAAD, update, final, auth tag) — Node 20 has no one-shot AEAD call;
 *   - full Noise IK handshakes (both sides, 2 messages, split) per second.
 * Prints a table and the seal+open ratio. BENCH_SECONDS (default 1) sets the time per measurement,
 * BENCH_ROUNDS (default 3) the number of alternating sodium/node rounds (medians are reported).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { generateKeyPair, HandshakeState, makePrologue, PacketProtection, systemRandom } from '../src/crypto/index.js';
import { packetAead } from '../src/crypto/sodium.js';
import { useOpensslAead } from '../src/node/openssl-aead.js';

// The packet AEAD as the product runs it: Node's OpenSSL where the add-on is built (spec/crypto.md §5.1).
const AEAD = useOpensslAead() === null ? 'libsodium' : 'OpenSSL';

const PAYLOAD = 1400;
const HEADER = 13;
const TAG = 16;
/** Packet buffers per batch: 64 × 1.4 KB stays cache-resident, as a transport's few reused buffers would. */
const BATCH = 64;
/** Batches per timed sample for seal and seal+open (keeps each CPU-time sample ≳ 1 ms). */
const REPEAT = 8;
const SECONDS = Number(process.env.BENCH_SECONDS ?? '1');

/** Packets per second for seal, open and seal+open. */
interface SealOpenFigures {
  seal: number;
  open: number;
  sealOpen: number;
}

/** Runs `batch()` (which processes `perBatch` items and returns the ns it wants counted) for ~SECONDS of wall time. */
function measure(perBatch: number, batch: () => number): number {
  for (let i = 0; i < 3; i++) batch(); // warm-up
  let counted = 0;
  let items = 0;
  const deadline = process.hrtime.bigint() + BigInt(Math.round(SECONDS * 1e9));
  while (process.hrtime.bigint() < deadline) {
    counted += batch();
    items += perBatch;
  }
  return items / (counted / 1e9);
}

/**
 * BENCH_CLOCK=cpu (default) counts the process's CPU time (user + system, all threads — GC helpers
 * included) so that figures stay comparable on a shared, overloaded machine; BENCH_CLOCK=wall counts
 * elapsed time. Returns nanoseconds.
 */
const CLOCK = process.env.BENCH_CLOCK === 'wall' ? 'wall' : 'cpu';
function timed(fn: () => void): number {
  if (CLOCK === 'wall') {
    const t0 = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - t0);
  }
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) * 1000;
}

function makePackets(): Uint8Array[] {
  return Array.from({ length: BATCH }, () => {
    const p = new Uint8Array(HEADER + PAYLOAD + TAG);
    p.set(randomBytes(HEADER + PAYLOAD));
    p[0] = 0x43;
    return p;
  });
}

// ---- PacketProtection (OpenSSL or sodium-native) -------------------------------------------------------
function benchSodium(): SealOpenFigures {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const a = new PacketProtection({ sendKey: k1, receiveKey: k2 });
  const b = new PacketProtection({ sendKey: k2, receiveKey: k1 });
  const packets = makePackets();
  let pn = 0;
  const sealAll = (): void => {
    for (const p of packets) a.seal(p, HEADER, PAYLOAD, pn++);
  };
  let expect = pn;
  const openAll = (): void => {
    for (const p of packets) {
      if (b.open(p, HEADER, HEADER + PAYLOAD + TAG, expect++, 0) !== PAYLOAD) throw new Error('open failed');
    }
  };
  return measureSealOpen(sealAll, openAll, () => (expect = pn));
}

// ---- the primitive alone (no PacketProtection): how much our wrapper adds ---------------------
function benchRawSeal(): number {
  const key = randomBytes(32);
  const nonce = new Uint8Array(12);
  const packets = makePackets();
  return measure(BATCH, () =>
    timed(() => {
      for (const p of packets)
        packetAead.seal(
          p.subarray(HEADER, HEADER + PAYLOAD),
          p.subarray(HEADER + PAYLOAD),
          p.subarray(0, HEADER),
          nonce,
          key,
        );
    }),
  );
}

// ---- node:crypto baseline ------------------------------------------------------------------------
function benchNode(): SealOpenFigures {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const nonce = Buffer.alloc(12);
  const setNonce = (pn: number): Buffer => {
    iv.copy(nonce);
    nonce.writeUInt32BE((nonce.readUInt32BE(4) ^ Math.floor(pn / 2 ** 32)) >>> 0, 4);
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ pn) >>> 0, 8);
    return nonce;
  };
  const packets = makePackets().map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  let pn = 0;
  const sealAll = (): void => {
    for (const p of packets) {
      const c = createCipheriv('chacha20-poly1305', key, setNonce(pn++), { authTagLength: TAG });
      c.setAAD(p.subarray(0, HEADER), { plaintextLength: PAYLOAD });
      const body = p.subarray(HEADER, HEADER + PAYLOAD);
      c.update(body).copy(body);
      c.final();
      c.getAuthTag().copy(p, HEADER + PAYLOAD);
    }
  };
  let expect = 0;
  const openAll = (): void => {
    for (const p of packets) {
      const d = createDecipheriv('chacha20-poly1305', key, setNonce(expect++), { authTagLength: TAG });
      d.setAAD(p.subarray(0, HEADER), { plaintextLength: PAYLOAD });
      d.setAuthTag(p.subarray(HEADER + PAYLOAD));
      const body = p.subarray(HEADER, HEADER + PAYLOAD);
      const plain = d.update(body);
      d.final(); // throws if the tag does not verify
      plain.copy(body);
    }
  };
  return measureSealOpen(sealAll, openAll, () => (expect = pn));
}

/** Seal, open and seal+open of one batch, timed the same way for every implementation. */
function measureSealOpen(sealAll: () => void, openAll: () => void, rewind: () => void): SealOpenFigures {
  const seal = measure(BATCH * REPEAT, () =>
    timed(() => {
      for (let r = 0; r < REPEAT; r++) sealAll();
    }),
  );
  const open = measure(BATCH, () => {
    rewind(); // the opener has not seen these packet numbers yet
    sealAll();
    return timed(openAll);
  });
  const sealOpen = measure(BATCH * REPEAT, () =>
    timed(() => {
      for (let r = 0; r < REPEAT; r++) {
        rewind();
        sealAll();
        openAll();
      }
    }),
  );
  return { seal, open, sealOpen };
}

// ---- handshakes ----------------------------------------------------------------------------------
function benchHandshake(): number {
  const alice = generateKeyPair();
  const bob = generateKeyPair();
  const prologue = makePrologue();
  const payload = new Uint8Array(64);
  const once = (): void => {
    const i = HandshakeState.initiator({
      pattern: 'IK',
      staticKeyPair: alice,
      remoteStaticKey: bob.publicKey,
      prologue,
      random: systemRandom,
    });
    const r = HandshakeState.responder({ pattern: 'IK', staticKeyPair: bob, prologue, random: systemRandom });
    r.readMessage(i.writeMessage(payload));
    i.readMessage(r.writeMessage(payload));
    i.split();
    r.split();
  };
  return measure(16, () =>
    timed(() => {
      for (let k = 0; k < 16; k++) once();
    }),
  );
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '3');
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(12);
const gbps = (pps: number): string => ((pps * PAYLOAD * 8) / 1e9).toFixed(2).padStart(7);

// Rounds alternate sodium / node so that load from other processes hits both alike; medians reported.
const rounds: { sodium: ReturnType<typeof benchSodium>; node: ReturnType<typeof benchNode>; ratio: number }[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const s = benchSodium();
  const n = benchNode();
  rounds.push({ sodium: s, node: n, ratio: s.sealOpen / n.sealOpen });
  if (process.env.BENCH_VERBOSE) console.error(`round ${r}: sodium ${JSON.stringify(s)} node ${JSON.stringify(n)}`);
}
const handshakes = benchHandshake();
const rawSeal = benchRawSeal();
const pick = (side: 'sodium' | 'node', key: 'seal' | 'open' | 'sealOpen'): number =>
  median(rounds.map((r) => r[side][key]));
const sodium = { seal: pick('sodium', 'seal'), open: pick('sodium', 'open'), sealOpen: pick('sodium', 'sealOpen') };
const node = { seal: pick('node', 'seal'), open: pick('node', 'open'), sealOpen: pick('node', 'sealOpen') };

console.log(
  `punchline crypto bench — ${PAYLOAD}-byte payload, ${HEADER}-byte header AAD, node ${process.version}, ` +
    `${ROUNDS} alternating rounds x ${SECONDS}s per figure (medians), clock: ${CLOCK === 'cpu' ? 'process CPU time' : 'wall'}, ` +
    `AEAD path: ${packetAead.kind}`,
);
console.log('');
console.log(`| measurement                    | packets/${CLOCK === 'cpu' ? 'CPU-s' : 's    '} |  Gbit/s |`);
console.log('| ------------------------------ | ------------ | ------- |');
console.log(`| ${`PacketProtection seal (${AEAD})`.padEnd(36)} | ${fmt(sodium.seal)} | ${gbps(sodium.seal)} |`);
console.log(`| ${`PacketProtection open (${AEAD})`.padEnd(36)} | ${fmt(sodium.open)} | ${gbps(sodium.open)} |`);
console.log(
  `| ${`PacketProtection seal+open (${AEAD})`.padEnd(36)} | ${fmt(sodium.sealOpen)} | ${gbps(sodium.sealOpen)} |`,
);
console.log(`| raw libsodium seal (reference) | ${fmt(rawSeal)} | ${gbps(rawSeal)} |`);
console.log(`| node:crypto seal (baseline)    | ${fmt(node.seal)} | ${gbps(node.seal)} |`);
console.log(`| node:crypto open (baseline)    | ${fmt(node.open)} | ${gbps(node.open)} |`);
console.log(`| node:crypto seal+open          | ${fmt(node.sealOpen)} | ${gbps(node.sealOpen)} |`);
console.log(`| Noise IK handshakes/s (both)   | ${fmt(handshakes)} |         |`);
console.log('');
console.log(
  `ratio PacketProtection/node:crypto (medians): seal ${(sodium.seal / node.seal).toFixed(2)}x, open ${(sodium.open / node.open).toFixed(2)}x, ` +
    `seal+open ${(sodium.sealOpen / node.sealOpen).toFixed(2)}x (target >= 4x); ` +
    `per-round seal+open ratios: ${rounds.map((r) => r.ratio.toFixed(2)).join(', ')}`,
);
// Best-of-rounds (timeit style: the least-disturbed measurement of each side).
const best = (side: 'sodium' | 'node', key: 'seal' | 'open' | 'sealOpen'): number =>
  Math.max(...rounds.map((r) => r[side][key]));
console.log(
  `ratio PacketProtection/node:crypto (best of ${ROUNDS}): seal ${(best('sodium', 'seal') / best('node', 'seal')).toFixed(2)}x, ` +
    `open ${(best('sodium', 'open') / best('node', 'open')).toFixed(2)}x, seal+open ${(best('sodium', 'sealOpen') / best('node', 'sealOpen')).toFixed(2)}x`,
);
