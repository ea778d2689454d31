/**
 * The Node adapter hands the core one clock reading per batch of datagrams (endpoint.ts, batchNow)
 * instead of one per datagram. These tests pin what that must keep: the core never sees time go
 * backwards, datagrams still get readings (at most CLOCK_BATCH per reading), and a bulk transfer
 * arrives intact over both UDP backends.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes, createHash } from 'node:crypto';
import type { CoreFactory } from '../../src/node/endpoint.js';
import { createCore } from '../../src/node/endpoint-core.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { systemRandom } from '../../src/crypto/sodium.js';
import type { SansIoEndpoint } from '../../src/transport/api.js';
import { nativeUdpAvailability } from '../../src/node/udp/open.js';
import { connectedPair } from './helpers.js';

interface ClockLog {
  /** Every `now` the core was handed, in call order. */
  readonly times: number[];
  /** receive() and pollTransmit() calls that produced a datagram. */
  datagrams: number;
}

/** The real core, recording each `now` it is given: one log per core (per endpoint). */
function recordingCore(logs: ClockLog[]): CoreFactory {
  return (context) => {
    const core = createCore(context);
    const log: ClockLog = { times: [], datagrams: 0 };
    logs.push(log);
    const record = (now: number): number => {
      log.times.push(now);
      return now;
    };
    const wrapped: SansIoEndpoint = Object.create(core) as SansIoEndpoint;
    Object.assign(wrapped, {
      connect: (remote, options, now) => core.connect(remote, options, record(now)),
      receive: (datagram, from, now) => {
        log.datagrams++;
        core.receive(datagram, from, record(now));
      },
      pollTransmit: (now, buffer) => {
        const transmit = core.pollTransmit(record(now), buffer);
        if (transmit) log.datagrams++;
        return transmit;
      },
      onTimeout: (now) => core.onTimeout(record(now)),
      close: (now) => core.close(record(now)),
      nextDeadline: () => core.nextDeadline(),
      pollEvent: () => core.pollEvent(),
    } satisfies Partial<SansIoEndpoint>);
    return wrapped;
  };
}

const backends = nativeUdpAvailability().available ? (['native', 'dgram'] as const) : (['dgram'] as const);

describe.each(backends)('clock per datagram batch (%s backend)', (udpBackend) => {
  it('never goes backwards, is shared by at most 64 datagrams, and the transfer is intact', async () => {
    const logs: ClockLog[] = [];
    const pair = await connectedPair({
      core: recordingCore(logs),
      keyPair: () => generateKeyPair(systemRandom),
      udpBackend,
    });
    try {
      const data = randomBytes(4 * 1024 * 1024);
      const stream = pair.client.openStream({ bidirectional: false });
      const incoming = pair.server.streams()[Symbol.asyncIterator]().next();
      stream.end(data);
      const peer = (await incoming).value!;
      const hash = createHash('sha256');
      let length = 0;
      for await (const chunk of peer) {
        hash.update(chunk as Buffer);
        length += (chunk as Buffer).length;
      }
      expect(length).toBe(data.length);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));

      expect(logs).toHaveLength(2);
      for (const log of logs) {
        // What one core sees never goes backwards.
        for (let i = 1; i < log.times.length; i++) expect(log.times[i]).toBeGreaterThanOrEqual(log.times[i - 1]!);
        // Runs of one reading: at most 64 datagrams, plus the few non-datagram calls of a service().
        let run = 1;
        let longest = 1;
        for (let i = 1; i < log.times.length; i++) {
          run = log.times[i] === log.times[i - 1] ? run + 1 : 1;
          longest = Math.max(longest, run);
        }
        expect(longest).toBeLessThanOrEqual(64 + 4);
      }
      // Readings are shared: the sender built its datagrams with fewer readings than datagrams.
      const sender = logs[0]!;
      expect(sender.datagrams).toBeGreaterThan(2000);
      expect(new Set(sender.times).size).toBeLessThan(sender.datagrams);
    } finally {
      await pair.close();
    }
  }, 30_000);
});
