/**
 * The server's WebTransport listener (@fails-components/webtransport over HTTP/2, and HTTP/3 when its
 * native add-on loads): starting it with the settings the rendezvous needs, and the small helpers for
 * reading its sessions and closing them.
 */
import { randomBytes } from 'node:crypto';
import { loadWebTransport } from '../node/webtransport-loader.js';
import type { WtSession } from '../node/webtransport-types.js';
import { ServerError, ServerErrorCode } from './errors.js';
import { applyHandshakeTimeouts } from './handshake-timeouts.js';
import type { TlsMaterial } from './identity.js';
import type { Logger } from './log.js';

// ---- the slice of @fails-components/webtransport used here (its d.ts types are loose) ------------

export interface WtServer {
  readonly ready: Promise<void>;
  readonly closed: Promise<void>;
  startServer(): void;
  stopServer(): void;
  /** Replaces the certificate for new TLS connections (Node's setSecureContext). */
  updateCert(cert: string, privKey: string, http2only?: boolean): void;
  address(): { port: number; host: string } | null;
  sessionStream(path: string): {
    getReader(): { read(): Promise<{ done: boolean; value?: WtSession }>; cancel(): Promise<void> };
  };
}

/** WebTransport session-level receive window (see startWebTransport). */
const SESSION_FLOW_CONTROL_WINDOW = 1024 * 1024;

/** Yields a stream reader's values until it ends, errors, or yields nothing. */
export async function* readUntilDone<T>(reader: { read(): Promise<{ done: boolean; value?: T }> }): AsyncGenerator<T> {
  for (;;) {
    let next: { done: boolean; value?: T };
    try {
      next = await reader.read();
    } catch {
      return;
    }
    if (next.done || next.value === undefined) return;
    yield next.value;
  }
}

export function safeClose(wt: WtSession, reason: string): void {
  try {
    wt.close({ closeCode: 0, reason: reason.slice(0, 100) });
  } catch {
    // already closed
  }
}

export async function startWebTransport(
  host: string,
  port: number,
  tls: TlsMaterial,
  mode: 'auto' | 'off',
  logger: Logger,
): Promise<{ server: WtServer; http3: boolean }> {
  const loaded = await loadWebTransport();
  const http3 = mode === 'auto' && loaded.http3;
  const lib = loaded.module as {
    Http2Server: new (init: Record<string, unknown>) => WtServer;
    HttpServer: new (init: Record<string, unknown>) => WtServer;
  };
  const init = {
    port,
    host,
    secret: randomBytes(16).toString('hex'),
    cert: tls.cert,
    privKey: tls.key,
    // A session needs one control stream and a few relay streams (spec/rendezvous.md §Carriers).
    initialBidirectionalStreams: 16,
    initialUnidirectionalStreams: 1,
    // The library's HTTP/2 server advertises initialSessionFlowControlWindow to the client but opens
    // its own receive window at sessionFlowControlWindowSizeLimit, and only sends WT_MAX_DATA once half
    // of *that* is consumed: with different values the client stalls after the advertised 16 KiB
    // (measured: every client→server stream stops at 16 384 bytes). Equal values keep both in step.
    initialSessionFlowControlWindow: SESSION_FLOW_CONTROL_WINDOW,
    sessionFlowControlWindowSizeLimit: SESSION_FLOW_CONTROL_WINDOW,
    defaultDatagramsReadableMode: 'bytes',
  };
  const server = http3 ? new lib.HttpServer({ ...init, reliability: 'both' }) : new lib.Http2Server(init);
  server.startServer();
  try {
    await server.ready;
  } catch (cause) {
    throw new ServerError(ServerErrorCode.Listen, `cannot listen on ${host}:${port}: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (!server.address())
    throw new ServerError(ServerErrorCode.Listen, `WebTransport server on ${host}:${port} has no address`);
  if (!http3) {
    // The library's HTTP/2 server pings every session once a second only to estimate RTT for its
    // flow-control auto-tuning (which falls back to 25 ms without it). At 10 000 peers that is
    // 10 000 PINGs/s of pure overhead; liveness comes from the rendezvous pings (15 s) instead.
    const h2 = (server as unknown as { transportInt?: { serverInt?: { removeAllListeners(event: string): unknown } } })
      .transportInt?.serverInt;
    h2?.removeAllListeners('session');
    applyHandshakeTimeouts(h2);
  }
  logger.debug('webtransport listening', { http3 });
  return { server, http3 };
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The IP of a "host:port" peer address ('' when unknown): sessions are capped per source IP. */
export function sourceHost(peer: string | undefined): string {
  return peer === undefined ? '' : peer.slice(0, Math.max(0, peer.lastIndexOf(':')));
}
