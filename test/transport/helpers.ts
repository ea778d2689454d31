/**
 * Ten-line setup of two endpoints over the deterministic simulator (test/sim), plus small helpers to
 * move bytes through the ConnectionHandle API.
 */
import { generateKeyPair } from '../../src/crypto/keys.js';
import type { Address, ConnectionEvent, ConnectionHandle } from '../../src/transport/api.js';
import type { TransportConfig } from '../../src/transport/config.js';
import { TransportEndpoint } from '../../src/transport/endpoint.js';
import { SimNetwork, type LinkConfig } from '../sim/index.js';

export const A: Address = { host: '10.0.0.1', port: 1000 };
export const B: Address = { host: '10.0.0.2', port: 2000 };

export interface PairOptions {
  seed?: number;
  link?: LinkConfig;
  pattern?: 'IK' | 'XX';
  clientConfig?: Partial<TransportConfig>;
  serverConfig?: Partial<TransportConfig>;
  psk?: Uint8Array;
  /** Server psk when different from `psk` (null: none). */
  serverPsk?: Uint8Array | null;
  trace?: boolean;
}

export interface Pair {
  net: SimNetwork;
  client: TransportEndpoint;
  server: TransportEndpoint;
  conn: ConnectionHandle;
  /** The server side of `conn` (after the handshake reached the server). */
  serverConn(): ConnectionHandle;
  events(addr: Address, type?: ConnectionEvent['type']): ConnectionEvent[];
}

export function makePair(o: PairOptions = {}): Pair {
  const net = new SimNetwork({
    seed: o.seed ?? 1,
    link: o.link ?? { delayMs: 10 },
    ...(o.trace ? { trace: true } : {}),
  });
  const clientRandom = net.randomSource('A');
  const serverRandom = net.randomSource('B');
  const serverKeys = generateKeyPair(serverRandom);
  const serverPsk = o.serverPsk === undefined ? o.psk : o.serverPsk;
  const client = net.addEndpoint(
    A,
    new TransportEndpoint({
      staticKeyPair: generateKeyPair(clientRandom),
      random: clientRandom,
      config: o.clientConfig ?? {},
    }),
  );
  const server = net.addEndpoint(
    B,
    new TransportEndpoint({
      staticKeyPair: serverKeys,
      random: serverRandom,
      config: o.serverConfig ?? {},
      ...(serverPsk ? { psk: serverPsk } : {}),
    }),
  );
  const conn = client.connect(
    B,
    {
      ...((o.pattern ?? 'IK') === 'IK' ? { remotePublicKey: serverKeys.publicKey } : {}),
      ...(o.psk ? { psk: o.psk } : {}),
    },
    net.now,
  );
  return {
    net,
    client,
    server,
    conn,
    serverConn() {
      const c =
        [...server.connections.values()][0] ??
        (net.events(B).find((e) => e.type === 'incoming')?.connection as ConnectionHandle | undefined);
      if (!c) throw new Error('no server connection');
      return c;
    },
    events(addr, type) {
      const all = net.events(addr);
      return type === undefined ? all : all.filter((e) => e.type === type);
    },
  };
}

/** Deterministic test payload: byte i of stream s is a function of (s, i). */
export function pattern(streamSeed: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (streamSeed * 31 + (offset + i) * 7 + ((offset + i) >> 8)) & 0xff;
  return out;
}

/** Reads everything currently readable from a stream; returns [bytes, finished, resetCode]. */
export function drain(conn: ConnectionHandle, streamId: number, sink: number[]): { fin: boolean; reset: number } {
  for (;;) {
    const r = conn.read(streamId);
    if (r.kind === 'data') {
      for (const b of r.data) sink.push(b);
      continue;
    }
    if (r.kind === 'fin') return { fin: true, reset: -1 };
    if (r.kind === 'reset') return { fin: false, reset: r.errorCode };
    return { fin: false, reset: -1 };
  }
}
