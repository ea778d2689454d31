/**
 * The one string a client needs to reach a `punchline server`:
 *
 *   punchline://<server public key, z-base-32>@<host>:<udp port>?wt=<port>&alt=<host>:<port>
 *
 * - the userinfo is the server's static X25519 public key: the client authenticates the server by
 *   it (the rendezvous proof), never by a certificate pin, so the string does not go stale when the
 *   short-lived TLS certificate is renewed;
 * - host and port are the server's UDP address (STUN, UDP relay);
 * - `wt` is the TCP port of the WebTransport (HTTP/2) rendezvous when it differs from the UDP port;
 * - `alt` is the server's second address for RFC 5780 behaviour discovery (§4.2: OTHER-ADDRESS), when
 *   it has one.
 * IPv6 hosts are written in brackets, as in URLs (RFC 3986 §3.2.2). Parsing is strict: any other
 * parameter, a missing part or a malformed key is an error, so a mistyped string fails at once.
 */
import { isIPv6 } from 'node:net';
import { decodePublicKey, encodePublicKey } from '../../crypto/key-text.js';
import { PunchlineError } from '../../errors.js';
import type { Address } from '../../transport/api.js';

export const ServerAddressErrorCode = { Invalid: 'ERR_PUNCHLINE_INVALID_SERVER_ADDRESS' } as const;
export type ServerAddressErrorCode = (typeof ServerAddressErrorCode)[keyof typeof ServerAddressErrorCode];

/** A server address string that cannot be parsed. */
export class ServerAddressError extends PunchlineError<ServerAddressErrorCode> {}

export interface ServerAddress {
  /** The server's static X25519 public key (32 bytes). */
  readonly publicKey: Uint8Array;
  /** UDP: STUN and the UDP relay. */
  readonly udp: Address;
  /** TCP port of the WebTransport rendezvous on the same host. */
  readonly webTransportPort: number;
  /** Second address for RFC 5780 discovery, if the server has one. */
  readonly alternate: Address | null;
}

const SCHEME = 'punchline:';

function invalid(text: string, why: string): ServerAddressError {
  return new ServerAddressError(ServerAddressErrorCode.Invalid, `invalid server address '${text}': ${why}`);
}

function hostText(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function parsePort(text: string, value: string, what: string): number {
  if (!/^[0-9]{1,5}$/.test(value)) throw invalid(text, `${what} port must be a number`);
  const port = Number(value);
  if (port < 1 || port > 65535) throw invalid(text, `${what} port ${port} is outside 1..65535`);
  return port;
}

/** Splits `host:port` / `[v6]:port` and checks that the host is an IP literal. */
function parseHostPort(text: string, value: string, what: string): Address {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):([0-9]+)$/.exec(value);
  if (!m) throw invalid(text, `${what} must be ip:port or [ipv6]:port`);
  const host = (m[1] ?? m[2]) as string;
  // Brackets are for IPv6 only: `[21]:7000` would format back as `21:7000`, which is not an address.
  if (m[1] !== undefined && !isIPv6(host)) throw invalid(text, `${what} host '[${host}]' is not an IPv6 address`);
  if (m[2] !== undefined && !/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(host))
    throw invalid(text, `${what} host '${host}' is not an IPv4 address`);
  return { host: host.toLowerCase(), port: parsePort(text, m[3] as string, what) };
}

/** decodeURIComponent, with a malformed escape (`%zz`) refused as a ServerAddressError, not a URIError. */
function decodeComponent(text: string, value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw invalid(text, `malformed %-escape in '${value}'`);
  }
}

export function formatServerAddress(address: ServerAddress): string {
  const params: string[] = [];
  if (address.webTransportPort !== address.udp.port) params.push(`wt=${address.webTransportPort}`);
  if (address.alternate) params.push(`alt=${hostText(address.alternate.host)}:${address.alternate.port}`);
  const query = params.length > 0 ? `?${params.join('&')}` : '';
  return `punchline://${encodePublicKey(address.publicKey)}@${hostText(address.udp.host)}:${address.udp.port}${query}`;
}

/** Parses a server address string; throws ServerAddressError (ERR_PUNCHLINE_INVALID_SERVER_ADDRESS). */
export function parseServerAddress(text: string): ServerAddress {
  if (typeof text !== 'string') throw invalid(String(text), 'not a string');
  const trimmed = text.trim();
  if (!trimmed.toLowerCase().startsWith(`${SCHEME}//`)) throw invalid(text, `must start with ${SCHEME}//`);
  const rest = trimmed.slice(SCHEME.length + 2);
  const at = rest.indexOf('@');
  if (at < 0) throw invalid(text, 'missing the server public key before @');
  let publicKey: Uint8Array;
  try {
    publicKey = decodePublicKey(rest.slice(0, at));
  } catch (e) {
    throw invalid(text, `bad server public key (${(e as Error).message})`);
  }
  const q = rest.indexOf('?', at);
  const hostPort = q < 0 ? rest.slice(at + 1) : rest.slice(at + 1, q);
  const udp = parseHostPort(text, hostPort.replace(/\/$/, ''), 'server');
  let webTransportPort = udp.port;
  let alternate: Address | null = null;
  const seen = new Set<string>();
  if (q >= 0) {
    for (const pair of rest.slice(q + 1).split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      const value = eq < 0 ? '' : decodeComponent(text, pair.slice(eq + 1));
      if (seen.has(key)) throw invalid(text, `parameter '${key}' given twice`);
      seen.add(key);
      if (key === 'wt') webTransportPort = parsePort(text, value, 'wt');
      else if (key === 'alt') alternate = parseHostPort(text, value, 'alt');
      else throw invalid(text, `unknown parameter '${key}'`);
    }
  }
  return { publicKey, udp, webTransportPort, alternate };
}
