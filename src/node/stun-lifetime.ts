/**
 * Node binding of the RFC 5780 §4.6 binding-lifetime probe (src/traversal/stun/lifetime-probe.ts):
 * two sockets of our own, one timer.
 */
import type dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import type { Address, RandomSource } from '../transport/api.js';
import {
  BindingLifetimeProbe,
  normalizeHost,
  StunError,
  StunErrorCode,
  type LifetimeProbeOptions,
  type LifetimeResult,
} from '../traversal/stun/index.js';
import { systemRandom } from '../crypto/sodium.js';
import { abortError, bindSocketFor } from './stun-client.js';

export interface LifetimeCallOptions extends Omit<LifetimeProbeOptions, 'server' | 'random'> {
  readonly signal?: AbortSignal;
  /** Background work: its sockets and timer do not keep the process alive. */
  readonly background?: boolean;
  readonly random?: RandomSource;
  /** Called when a trial of `ms` of silence starts. */
  readonly onTrial?: (ms: number) => void;
}

/**
 * RFC 5780 §4.6 binding-lifetime probe on two sockets of our own (takes minutes: the binding must
 * stay silent for each trial). Resolves with the bracket [aliveMs, expiredMs).
 */
export async function probeBindingLifetime(
  server: Address,
  options: LifetimeCallOptions = {},
): Promise<LifetimeResult> {
  const x = await bindSocketFor(server);
  let y: dgram.Socket | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    y = await bindSocketFor(server);
    const { signal, onTrial, random, background, ...rest } = options;
    const core = new BindingLifetimeProbe({ server, random: random ?? systemRandom, ...rest }, performance.now());
    const sockets = { x, y };
    return await new Promise<LifetimeResult>((resolve, reject) => {
      let lastTrial = -1;
      const service = (): void => {
        const now = performance.now();
        core.onTimeout(now);
        for (let t = core.pollTransmit(now); t; t = core.pollTransmit(now))
          sockets[t.socket].send(t.data, t.destination.port, t.destination.host);
        if (core.currentTrialMs !== lastTrial && !core.done) {
          lastTrial = core.currentTrialMs;
          onTrial?.(lastTrial);
        }
        if (core.done) {
          signal?.removeEventListener('abort', onAbort);
          const r = core.result();
          return r
            ? resolve(r)
            : reject(core.error ?? new StunError(StunErrorCode.Timeout, 'binding lifetime probe failed'));
        }
        clearTimeout(timer);
        const deadline = core.nextDeadline();
        if (deadline !== Infinity) {
          timer = setTimeout(service, Math.max(0, Math.ceil(deadline - performance.now())));
          if (background) timer.unref();
        }
      };
      const onAbort = (): void => reject(abortError());
      // A send error (e.g. the route went away) ends the measurement instead of escaping uncaught.
      const onError = (error: Error): void => reject(error);
      x.on('error', onError);
      y?.on('error', onError);
      if (background) {
        x.unref();
        y?.unref();
      }
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      x.on('message', (msg, rinfo) => {
        core.receive(msg, { host: normalizeHost(rinfo.address), port: rinfo.port }, performance.now(), 'x');
        service();
      });
      service();
    });
  } finally {
    clearTimeout(timer);
    x.close();
    y?.close();
  }
}
