/** `punchline nat-check`'s port-mapping test: one short test mapping by each protocol, deleted again. */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import type { Address } from '../transport/api.js';
import type { PortmapError, PortmapProtocol } from '../traversal/portmap/index.js';
import { PRIORITY, PortMapper } from './port-mapper.js';
import type { PortMapperLog } from './port-mapper-types.js';

/** One protocol's answer to `checkPortMapping`. */
export interface PortMappingCheck {
  readonly protocol: PortmapProtocol;
  /** The gateway answered this protocol's discovery. */
  readonly offered: boolean;
  /** The external address of the test mapping, when one was granted (it is deleted again). */
  readonly external: Address | undefined;
  readonly lifetimeS: number | undefined;
  /** From bind to the grant, ms. */
  readonly elapsedMs: number | undefined;
  /** Why there is no mapping (silent, refused, ...). */
  readonly reason: string | undefined;
}

/**
 * Asks the gateway for a short test mapping by each protocol at once — each from its own socket, so
 * the mappings never share an internal port — reports what each granted, and deletes them again.
 * `punchline nat-check` runs it.
 */
export async function checkPortMapping(
  options: {
    readonly gateway?: string;
    readonly protocols?: readonly PortmapProtocol[];
    readonly timeoutMs?: number;
    readonly log?: PortMapperLog;
  } = {},
): Promise<PortMappingCheck[]> {
  const protocols = options.protocols ?? PRIORITY;
  const timeoutMs = options.timeoutMs ?? 2000;
  return Promise.all(
    protocols.map(async (protocol): Promise<PortMappingCheck> => {
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, resolve));
      const started = performance.now();
      let mapper: PortMapper | undefined;
      try {
        mapper = PortMapper.open({
          socket: {
            port: socket.address().port,
            send: (data, to) => socket.send(data, to.port, to.host),
          },
          protocols: [protocol],
          lifetimeS: 120,
          discoveryTimeoutMs: timeoutMs,
          retryAfterMs: Infinity,
          ...(options.gateway === undefined ? {} : { gateway: options.gateway }),
          ...(options.log === undefined ? {} : { log: options.log }),
        });
        const m = mapper;
        socket.on('message', (message, from) => m.receive(message, from));
        let reason: string | undefined;
        mapper.once('unavailable', (error: PortmapError) => {
          reason = error.message;
        });
        const mapping = await mapper.whenMapped(timeoutMs + 4000);
        const elapsedMs = mapping ? Math.round(performance.now() - started) : undefined;
        const offer = mapper.offers().find((o) => o.protocol === protocol);
        return {
          protocol,
          offered: offer?.status === 'answered',
          external: mapping?.external,
          lifetimeS: mapping?.lifetimeS,
          elapsedMs,
          reason: mapping
            ? undefined
            : offer?.status === 'answered'
              ? (reason ?? 'no mapping granted')
              : offer?.status === 'refused'
                ? (offer.reason ?? 'refused')
                : `no answer within ${timeoutMs} ms`,
        };
      } finally {
        await mapper?.close();
        socket.close();
      }
    }),
  );
}
