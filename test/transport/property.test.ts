/**
 * For any writes on any number of streams and any impairment within bounds (loss
 * ≤ 30 %, reordering, duplication, jitter, corruption), every stream delivers exactly the bytes
 * written, in order, once; flow-control limits are never exceeded; the connection closes cleanly.
 *
 * Runs PUNCHLINE_PROPERTY_RUNS cases (default 40) with writes up to PUNCHLINE_PROPERTY_MAX_WRITE
 * bytes (default 12 000). Soak: `PUNCHLINE_PROPERTY_RUNS=1000 PUNCHLINE_PROPERTY_MAX_WRITE=200000
 * npx vitest run test/transport/property.test.ts`. A failure prints the case (seed, link, streams)
 * and the simulator's reproduction(); rerun exactly that case with PUNCHLINE_PROPERTY_CASE='<JSON>'.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ConnectionHandle, StreamRead } from '../../src/transport/api.js';
import type { TransportConnection } from '../../src/transport/connection.js';
import { impairedLink, simSeed, withReproduction, type LinkConfig } from '../sim/index.js';
import { B, makePair, pattern } from './helpers.js';

interface StreamPlan {
  fromClient: boolean;
  bidi: boolean;
  writes: number[];
  /** End with RESET_STREAM (code 77) instead of FIN. */
  reset: boolean;
  /** Bidirectional streams: bytes the peer writes back on the same stream. */
  reply: number;
}

interface Case {
  seed: number;
  pattern: 'IK' | 'XX';
  link: LinkConfig;
  streams: StreamPlan[];
  smallWindows: boolean;
}

const RUNS = Number(process.env.PUNCHLINE_PROPERTY_RUNS ?? 40);
/** Largest single write (bytes); raise for a heavier soak, e.g. PUNCHLINE_PROPERTY_MAX_WRITE=200000. */
const MAX_WRITE = Number(process.env.PUNCHLINE_PROPERTY_MAX_WRITE ?? 12_000);

const caseArb: fc.Arbitrary<Case> = fc.record({
  seed: simSeed(),
  pattern: fc.constantFrom('IK' as const, 'XX' as const),
  // delay 1–150 ms, jitter, loss ≤ 30 % (independent or bursty), reordering, duplication,
  // corruption, and a bandwidth bottleneck with a finite queue (test/sim/arbitraries.ts).
  link: impairedLink({ bottleneck: true }),
  streams: fc.array(
    fc.record({
      fromClient: fc.boolean(),
      bidi: fc.boolean(),
      writes: fc.array(fc.integer({ min: 0, max: MAX_WRITE }), { minLength: 0, maxLength: 4 }),
      reset: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
      reply: fc.integer({ min: 0, max: MAX_WRITE * 2 }),
    }),
    { minLength: 1, maxLength: 6 },
  ),
  smallWindows: fc.boolean(),
});

/** Checks the receive-side flow-control invariant on every stream of a connection. */
function checkFlowControl(conn: ConnectionHandle): void {
  const c = conn as TransportConnection;
  let sum = 0;
  for (const s of c.streams.all.values()) {
    if (s.recv && s.recvFc) {
      expect(s.recv.highestReceived).toBeLessThanOrEqual(s.recvFc.limit);
      sum += s.recv.highestReceived;
    }
  }
  expect(c.streams.receiveFlow.received).toBeLessThanOrEqual(c.streams.receiveFlow.limit);
  void sum;
}

function runCase(k: Case): void {
  const windows = k.smallWindows
    ? {
        initialStreamWindow: 4096,
        maxStreamWindow: 16384,
        initialConnectionWindow: 8192,
        maxConnectionWindow: 32768,
        sendBufferSize: 8192,
      }
    : {};
  // The simulator's burst-loss chain advances per datagram, so a direction that carries only ACKs
  // (about one per second while the other side probes) can stay in its bad state for tens of
  // seconds. The property is about delivery semantics, not the idle timeout (liveness.test.ts), so
  // the idle timeout here is long enough that such outages end first.
  const config = { ...windows, idleTimeoutMs: 300_000, handshakeTimeoutMs: 60_000 };
  const trace = process.env.PUNCHLINE_PROPERTY_TRACE !== undefined;
  const p = makePair({
    seed: k.seed,
    link: k.link,
    pattern: k.pattern,
    clientConfig: config,
    serverConfig: config,
    trace,
  });
  const net = p.net;
  try {
    runPair(k, p);
  } catch (e) {
    // PUNCHLINE_PROPERTY_TRACE=N: append the last N simulator trace lines to the failure.
    if (trace)
      (e as Error).message += `\n${net.traceLog.slice(-Number(process.env.PUNCHLINE_PROPERTY_TRACE || 80)).join('\n')}`;
    throw e;
  }
}

function runPair(k: Case, p: ReturnType<typeof makePair>): void {
  const net = p.net;
  withReproduction(net, () => {
    net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0, { maxTimeMs: 120_000 });
    const client = p.conn;
    const server = p.serverConn();
    type W = {
      conn: ConnectionHandle;
      peer: ConnectionHandle;
      id: number;
      data: Uint8Array;
      written: number;
      finished: boolean;
      got: number[];
      fin: boolean;
      reset: boolean;
      resetSeen: boolean;
    };
    const work: W[] = [];
    k.streams.forEach((plan, i) => {
      const conn = plan.fromClient ? client : server;
      const peer = plan.fromClient ? server : client;
      const id = conn.openStream(plan.bidi);
      const total = plan.writes.reduce((a, b) => a + b, 0);
      work.push({
        conn,
        peer,
        id,
        data: pattern(i + 1, 0, total),
        written: 0,
        finished: false,
        got: [],
        fin: false,
        reset: plan.reset,
        resetSeen: false,
      });
      if (plan.bidi) {
        // The peer answers on the same stream once it knows it (its writes throw until then).
        work.push({
          conn: peer,
          peer: conn,
          id,
          data: pattern(i + 101, 0, plan.reply),
          written: 0,
          finished: false,
          got: [],
          fin: false,
          reset: false,
          resetSeen: false,
        });
      }
    });
    const step = (): boolean => {
      let all = true;
      for (const w of work) {
        try {
          if (w.written < w.data.length) w.written += w.conn.write(w.id, w.data.subarray(w.written));
          if (w.written === w.data.length && !w.finished) {
            if (w.reset) w.conn.resetStream(w.id, 77);
            else w.conn.finish(w.id);
            w.finished = true;
          }
        } catch (e) {
          // Only the answering side of a bidirectional stream may write before the stream exists here.
          if ((e as { code?: string }).code !== 'ERR_PUNCHLINE_UNKNOWN_STREAM') throw e;
        }
        if (!w.fin) {
          let r: StreamRead;
          try {
            r = w.peer.read(w.id);
          } catch {
            r = { kind: 'blocked' as const };
          }
          while (r.kind === 'data') {
            for (const b of r.data) w.got.push(b);
            r = w.peer.read(w.id);
          }
          if (r.kind === 'reset') {
            if (!w.reset || r.errorCode !== 77) throw new Error(`stream ${w.id} reset with ${r.errorCode}`);
            w.resetSeen = true;
            w.fin = true;
          }
          if (r.kind === 'fin') w.fin = true;
        }
        if (!w.fin) all = false;
      }
      if (client.state === 'established' || client.state === 'closing') checkFlowControl(client);
      if (server.state === 'established' || server.state === 'closing') checkFlowControl(server);
      for (const e of p.events(B, 'closed').concat(p.events({ host: '10.0.0.1', port: 1000 }, 'closed'))) {
        if (e.type === 'closed') throw new Error(`connection closed early: ${JSON.stringify(e.reason)}`);
      }
      return all;
    };
    net.runUntil(step, { maxTimeMs: 1_800_000 });
    for (const w of work) {
      if (w.resetSeen) {
        // A reset stream delivers a prefix of what was written, then the reset.
        expect(w.got.length).toBeLessThanOrEqual(w.data.length);
        expect(Buffer.from(w.got).equals(Buffer.from(w.data.subarray(0, w.got.length)))).toBe(true);
        continue;
      }
      expect(w.got.length).toBe(w.data.length);
      expect(Buffer.from(w.got).equals(Buffer.from(w.data))).toBe(true);
    }
    client.close();
    const closed = (addr: typeof B) => p.events(addr, 'closed')[0];
    net.runUntil(() => closed(B) !== undefined && closed({ host: '10.0.0.1', port: 1000 }) !== undefined, {
      maxTimeMs: 600_000,
    });
    const rb = closed(B)!;
    expect(rb.type === 'closed' && rb.reason).toMatchObject({ errorCode: 0, application: true });
  });
}

describe('property: exact delivery under impairment', () => {
  const single = process.env.PUNCHLINE_PROPERTY_CASE;
  if (single) {
    it('reproduces PUNCHLINE_PROPERTY_CASE', () => runCase(JSON.parse(single) as Case));
    return;
  }
  it(
    'every stream delivers exactly the bytes written, once, in order; clean close',
    () => {
      let executed = 0;
      fc.assert(
        fc.property(caseArb, (k) => {
          executed++;
          try {
            runCase(k);
          } catch (e) {
            (e as Error).message = `case (PUNCHLINE_PROPERTY_CASE='${JSON.stringify(k)}')\n${(e as Error).message}`;
            throw e;
          }
        }),
        {
          numRuns: RUNS,
          seed: process.env.PUNCHLINE_PROPERTY_SEED ? Number(process.env.PUNCHLINE_PROPERTY_SEED) : undefined,
        } as fc.Parameters<[Case]>,
      );
      expect(executed).toBeGreaterThanOrEqual(RUNS);
    },
    Math.max(60_000, RUNS * 5_000),
  );
});
