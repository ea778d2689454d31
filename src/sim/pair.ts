/**
 * Two transport endpoints on a SimNetwork with one connection between them (cf. quinn-proto's test
 * `Pair`): the client dials the server's static key (Noise IK). Keys and randomness come from the
 * network's seed, so a run is reproduced from `net.reproduction()`.
 */
import { generateKeyPair } from '../crypto/keys.js';
import type { Address, ConnectionHandle } from '../transport/api.js';
import type { TransportConfig } from '../transport/config.js';
import { TransportEndpoint } from '../transport/endpoint.js';
import type { SimNetwork } from './network.js';

export interface TransportPairOptions {
  /** Default 10.0.0.1:1000. */
  readonly client?: Address;
  /** Default 10.0.0.2:2000. */
  readonly server?: Address;
  readonly clientConfig?: Partial<TransportConfig>;
  readonly serverConfig?: Partial<TransportConfig>;
}

export interface TransportPair {
  readonly client: TransportEndpoint;
  readonly server: TransportEndpoint;
  /** The client's connection (dialled at once; run the network to complete the handshake). */
  readonly conn: ConnectionHandle;
  /** The server's side of `conn`, once the server accepted it. */
  accepted(): ConnectionHandle | null;
}

export function transportPair(net: SimNetwork, options: TransportPairOptions = {}): TransportPair {
  const clientAddress = options.client ?? { host: '10.0.0.1', port: 1000 };
  const serverAddress = options.server ?? { host: '10.0.0.2', port: 2000 };
  const clientRandom = net.randomSource(`client ${clientAddress.host}:${clientAddress.port}`);
  const serverRandom = net.randomSource(`server ${serverAddress.host}:${serverAddress.port}`);
  const serverKeys = generateKeyPair(serverRandom);
  const client = net.addEndpoint(
    clientAddress,
    new TransportEndpoint({
      staticKeyPair: generateKeyPair(clientRandom),
      random: clientRandom,
      config: options.clientConfig ?? {},
    }),
  );
  const server = net.addEndpoint(
    serverAddress,
    new TransportEndpoint({ staticKeyPair: serverKeys, random: serverRandom, config: options.serverConfig ?? {} }),
  );
  const conn = client.connect(serverAddress, { remotePublicKey: serverKeys.publicKey }, net.now);
  return {
    client,
    server,
    conn,
    accepted: () => server.connections.values().next().value ?? null,
  };
}

/**
 * Everything a stream delivered once it is finished (FIN read), else null: also while the stream is
 * not open yet on this side, or `conn` is null. Reads what is readable each time it is called.
 */
export function readStream(conn: ConnectionHandle | null, streamId: number): Uint8Array | null {
  if (conn === null) return null;
  let state = streams.get(conn);
  if (state === undefined) {
    state = new Map();
    streams.set(conn, state);
  }
  const chunks = state.get(streamId) ?? [];
  state.set(streamId, chunks);
  for (;;) {
    let r: ReturnType<ConnectionHandle['read']>;
    try {
      r = conn.read(streamId);
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_PUNCHLINE_UNKNOWN_STREAM') return null; // not opened yet
      throw e;
    }
    if (r.kind === 'data') chunks.push(r.data);
    else if (r.kind === 'fin') break;
    else if (r.kind === 'reset') throw new Error(`stream ${streamId} was reset (error code ${r.errorCode})`);
    else return null;
  }
  state.delete(streamId);
  return Buffer.concat(chunks);
}

/** Bytes read so far per connection and stream (readStream is called repeatedly until FIN). */
const streams = new WeakMap<ConnectionHandle, Map<number, Uint8Array[]>>();
