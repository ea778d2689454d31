/**
 * Bounds on connections that never become rendezvous sessions: a TCP connection that does not
 * finish its TLS handshake, or an HTTP/2 connection that stays silent, is closed after a short time
 * instead of Node's defaults (120 s TLS handshake, no HTTP/2 idle limit). Without these a client
 * holds server memory with connections that cost it nothing (spec/rendezvous.md §Limits).
 */
export interface HandshakeTimeouts {
  /** TLS handshake must complete within this, ms. */
  readonly tlsHandshakeMs: number;
  /** An HTTP/2 connection with no frame for this long is closed, ms (above the client's 15 s ping). */
  readonly idleMs: number;
}

const DEFAULT_HANDSHAKE_TIMEOUTS: HandshakeTimeouts = { tlsHandshakeMs: 5_000, idleMs: 30_000 };

interface TlsLikeServer {
  setTimeout?(ms: number, callback?: () => void): unknown;
}

/**
 * Applies the timeouts to the Node `http2.Http2SecureServer` a WebTransport library created
 * internally (it does not pass `handshakeTimeout` through). Node keeps the TLS handshake timeout in
 * a symbol-keyed field read per connection; returns false when this Node version has no such field.
 */
export function applyHandshakeTimeouts(
  server: unknown,
  timeouts: HandshakeTimeouts = DEFAULT_HANDSHAKE_TIMEOUTS,
): boolean {
  if (server === null || typeof server !== 'object') return false;
  const s = server as TlsLikeServer & Record<symbol, unknown>;
  s.setTimeout?.(timeouts.idleMs);
  const field = Object.getOwnPropertySymbols(s).find((sym) => sym.description === 'handshake-timeout');
  if (field === undefined) return false;
  s[field] = timeouts.tlsHandshakeMs;
  return true;
}
