/**
 * The waits and errors of a dial by public key (spec/traversal.md §Node integration): rendezvous
 * failures mapped to the connect-by-key typed errors, a promise bounded by the dial's deadline and
 * abort signal, and the host candidates of the endpoint's socket.
 */
import { networkInterfaces } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Address } from '../transport/api.js';
import { TraversalError, TraversalErrorCode } from '../traversal/agent/errors.js';
import { RendezvousError, RendezvousErrorCode } from '../traversal/rendezvous/errors.js';

/** Maps rendezvous failures to the connect-by-key contract's typed errors. */
export function traversalErrorFrom(error: unknown, what: string): Error {
  if (error instanceof TraversalError) return error;
  if (error instanceof RendezvousError) {
    switch (error.code) {
      case RendezvousErrorCode.PeerOffline:
        return new TraversalError(TraversalErrorCode.PeerOffline, `${what}: the peer is offline`, { cause: error });
      case RendezvousErrorCode.ServerIdentity:
      case RendezvousErrorCode.AuthFailed:
        return new TraversalError(TraversalErrorCode.WrongServerKey, `${what}: ${error.message}`, { cause: error });
      case RendezvousErrorCode.Timeout:
        return new TraversalError(TraversalErrorCode.PeerOffline, `${what}: the peer did not answer`, {
          cause: error,
        });
      default:
        return new TraversalError(TraversalErrorCode.ServerUnreachable, `${what}: ${error.message}`, { cause: error });
    }
  }
  return new TraversalError(TraversalErrorCode.ServerUnreachable, `${what}: ${(error as Error)?.message}`, {
    cause: error,
  });
}

/**
 * `promise`, or a NoPath error when `deadline` (performance.now() ms) passes or `signal` aborts first
 * (the same errors as a dial's own wait for a route).
 */
export function untilDeadline<T>(promise: Promise<T>, deadline: number, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const settle = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      settle();
      reject(new TraversalError(TraversalErrorCode.NoPath, 'connect was aborted', { cause: signal?.reason }));
    };
    const timer = setTimeout(
      () => {
        settle();
        reject(new TraversalError(TraversalErrorCode.NoPath, 'no relay and no direct path to the peer in time'));
      },
      Math.max(0, deadline - performance.now()),
    );
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        settle();
        resolve(value);
      },
      (error: unknown) => {
        settle();
        reject(error);
      },
    );
  });
}

/** Every non-loopback interface address of the socket's family (host candidates, RFC 8445 §5.1.1.1). */
export function interfaceAddresses(bound: { host: string; port: number; family: 'IPv4' | 'IPv6' }): Address[] {
  if (bound.host !== '0.0.0.0' && bound.host !== '::') return [{ host: bound.host, port: bound.port }];
  const out: Address[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      if (info.internal || info.family !== bound.family) continue;
      if (info.family === 'IPv6' && info.address.startsWith('fe80')) continue; // link-local needs a scope
      out.push({ host: info.address, port: bound.port });
    }
  }
  return out;
}
