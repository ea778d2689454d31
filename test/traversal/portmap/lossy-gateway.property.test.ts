/**
 * The PCP and NAT-PMP mapping lifecycle over a lossy link to a scripted gateway (seeded by
 * fast-check; no sockets, no clock): whatever is lost, the client never believes in a mapping the
 * gateway does not hold, never sends more than its schedule allows, keeps the mapping through
 * renewals when the link is good, and leaves nothing behind after a deletion that got through.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayMappingClient } from '../../../src/traversal/portmap/index.js';
import { CLIENT_IP, counterRandom, GATEWAY, natPmpAddressReply, natPmpMapReply, pcpMapReply } from './helpers.js';

const RUNS = Number(process.env['PUNCHLINE_PROPERTY_RUNS'] ?? 200);
const PORT = 40000;
const LIFETIME_S = 20;

/** A gateway holding at most one mapping (ours): until when it holds it, and its epoch clock. */
class ScriptedGateway {
  holdsUntil = -Infinity;
  private bootedAt = -100_000;

  restart(now: number): void {
    this.holdsUntil = -Infinity;
    this.bootedAt = now;
  }

  answer(request: Uint8Array, now: number): Uint8Array[] {
    const epoch = Math.floor((now - this.bootedAt) / 1000);
    const view = new DataView(request.buffer, request.byteOffset, request.byteLength);
    if (request[0] === 0 && request[1] === 0) return [natPmpAddressReply(0, epoch)];
    if (request[0] === 0) {
      const lifetime = view.getUint32(8);
      this.holdsUntil = lifetime === 0 ? -Infinity : now + lifetime * 1000;
      return [natPmpMapReply(0, epoch, PORT, lifetime === 0 ? 0 : 50000, lifetime)];
    }
    const lifetime = view.getUint32(4);
    this.holdsUntil = lifetime === 0 ? -Infinity : now + lifetime * 1000;
    return [pcpMapReply(request, { lifetimeS: lifetime, epoch, externalPort: 50000 })];
  }
}

describe('mapping lifecycle over a lossy link (property)', () => {
  for (const protocol of ['pcp', 'nat-pmp'] as const) {
    it(`${protocol}: beliefs stay true, sends stay bounded, renewals hold on a good link`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 0, max: 99 }), { minLength: 50, maxLength: 400 }),
          fc.integer({ min: 0, max: 80 }),
          fc.option(fc.integer({ min: 5_000, max: 100_000 }), { nil: undefined }),
          (dice, lossPercent, restartAt) => {
            let roll = 0;
            const lost = (): boolean => (dice[roll++ % dice.length] as number) < lossPercent;
            const gateway = new ScriptedGateway();
            const client = new GatewayMappingClient({
              protocol,
              gateway: GATEWAY.host,
              clientIp: CLIENT_IP,
              internalPort: PORT,
              random: counterRandom(),
              lifetime: { requestS: LIFETIME_S },
              retryAfterMs: 5_000,
            });
            let sends = 0;
            const pump = (now: number): void => {
              client.onTimeout(now);
              for (let t = client.pollTransmit(now); t; t = client.pollTransmit(now)) {
                sends++;
                if (lost()) continue;
                for (const reply of gateway.answer(t.data, now)) if (!lost()) client.receive(reply, GATEWAY, now);
              }
              while (client.pollEvent());
            };
            client.map(0);
            const end = 120_000;
            for (let now = 0; now <= end; now += 50) {
              if (restartAt !== undefined && now === restartAt) gateway.restart(now);
              pump(now);
              const believed = client.mapping;
              const restarted = restartAt !== undefined && now >= restartAt;
              // Until a restart (which only the next renewal can reveal): never a belief the gateway
              // does not back (zero delay on this link), never beyond the lifetime granted.
              if (believed && !restarted) {
                expect(gateway.holdsUntil).toBeGreaterThanOrEqual(Math.min(now, believed.expiresAt));
                expect(believed.expiresAt).toBeLessThanOrEqual(now + LIFETIME_S * 1000);
              }
              // On a clean link a restart is repaired by the next renewal (half the lifetime).
              if (restartAt !== undefined && lossPercent === 0 && now >= restartAt + (LIFETIME_S * 1000) / 2 + 1000) {
                expect(gateway.holdsUntil).toBeGreaterThan(now);
              }
            }
            // At most 2 requests (NAT-PMP: address + map) per attempt, attempts at ≥ 250 ms apart.
            expect(sends).toBeLessThanOrEqual(2 * (end / 250 + 1));
            if (lossPercent === 0 && restartAt === undefined) {
              expect(client.mapping).not.toBeNull();
              expect(sends).toBeLessThanOrEqual(
                (protocol === 'nat-pmp' ? 2 : 1) * (end / ((LIFETIME_S * 1000) / 2) + 1),
              );
            }
            client.unmap(end);
            for (let now = end; now <= end + 5_000; now += 50) pump(now);
            if (lossPercent === 0) expect(gateway.holdsUntil).toBe(-Infinity);
          },
        ),
        { numRuns: RUNS },
      );
    });
  }
});
