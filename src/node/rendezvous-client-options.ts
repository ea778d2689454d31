/**
 * What `RendezvousClient.connect` accepts, and the checks that reject bad options before anything is
 * opened (typed ERR_PUNCHLINE_INVALID_ARGUMENT errors).
 */
import type { RandomSource } from '../crypto/sodium.js';
import type { KeyPair } from '../crypto/keys.js';
import { bytesEqual } from '../traversal/rendezvous/messages.js';
import { parseServerAddress, type ServerAddress } from '../traversal/rendezvous/server-address.js';
import { invalidArgument } from './endpoint-errors.js';

export interface RendezvousClientOptions {
  /**
   * The server: its address string (`punchline://KEY@host:port?wt=…`, printed by `punchline server`)
   * or the parsed ServerAddress. The client authenticates the server by the key in it.
   */
  readonly server?: string | ServerAddress;
  /** Lower-level alternative to `server`: e.g. https://127.0.0.1:4433/punchline. */
  readonly url?: string;
  /**
   * With `url` only: SHA-256 of the server's certificate, pinned (and used as the channel binding).
   * Without it the client observes the certificate the server presents (see the module comment).
   */
  readonly serverCertificateHash?: Uint8Array;
  /** With `url` only: the server's static public key (pinned). Implied by `server`. */
  readonly serverPublicKey?: Uint8Array;
  readonly keyPair: KeyPair;
  /** Sends a datagram to the server's UDP port from the endpoint's shared socket. */
  readonly udp?: { send(datagram: Uint8Array): void };
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly random?: RandomSource;
}

function check32(name: string, value: unknown): void {
  if (!(value instanceof Uint8Array) || value.length !== 32) {
    const got = value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
    throw invalidArgument(`${name} must be a 32-byte Uint8Array, got ${got}`);
  }
}

/** The URL path of the rendezvous WebTransport endpoint (as the server serves it). */
const RENDEZVOUS_PATH = '/punchline';

/**
 * Rejects bad connect() options before anything is opened; returns the URL and the server key to pin
 * (from the address string when one is given).
 */
export function checkClientOptions(options: RendezvousClientOptions): {
  url: string;
  serverPublicKey: Uint8Array | undefined;
} {
  if (options === null || typeof options !== 'object') throw invalidArgument('options must be an object');
  let address: ServerAddress | null = null;
  if (options.server !== undefined) {
    address = typeof options.server === 'string' ? parseServerAddress(options.server) : options.server;
    if (address === null || typeof address !== 'object' || !address.udp)
      throw invalidArgument('server must be a server address string or a ServerAddress');
    check32('server.publicKey', address.publicKey);
    if (options.url !== undefined) throw invalidArgument('give server or url, not both');
  } else if (options.url === undefined) {
    throw invalidArgument('server (the server address string) is required');
  }
  const urlText = address
    ? `https://${address.udp.host.includes(':') ? `[${address.udp.host}]` : address.udp.host}:${address.webTransportPort}${RENDEZVOUS_PATH}`
    : options.url!;
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    throw invalidArgument(`url must be an https:// URL, got '${String(urlText)}'`);
  }
  if (url.protocol !== 'https:') throw invalidArgument(`url must be an https:// URL, got '${urlText}'`);
  if (options.keyPair === null || typeof options.keyPair !== 'object') throw invalidArgument('keyPair is required');
  check32('keyPair.publicKey', options.keyPair.publicKey);
  check32('keyPair.secretKey', options.keyPair.secretKey);
  if (options.serverPublicKey !== undefined) check32('serverPublicKey', options.serverPublicKey);
  if (options.serverCertificateHash !== undefined) check32('serverCertificateHash', options.serverCertificateHash);
  for (const name of ['connectTimeoutMs', 'requestTimeoutMs'] as const) {
    const ms = options[name];
    if (ms !== undefined && !(Number.isFinite(ms) && ms > 0))
      throw invalidArgument(`${name} must be a positive number, got ${String(ms)}`);
  }
  if (address && options.serverPublicKey && !bytesEqual(address.publicKey, options.serverPublicKey))
    throw invalidArgument('serverPublicKey differs from the key in the server address');
  return { url: url.href, serverPublicKey: address?.publicKey ?? options.serverPublicKey };
}
