/** Crafted gateway replies for the port-mapping unit tests (byte layouts of RFC 6886 §3 and RFC 6887 §7). */
import type { RandomSource } from '../../../src/transport/api.js';
import type { MappingEvent } from '../../../src/traversal/portmap/index.js';

// The gateway replies the fuzzer also seeds with live in fuzz/ (fuzz does not depend on test/).
export { natPmpAddressReply, natPmpMapReply, pcpAnnounceReply } from '../../../fuzz/targets/portmap-replies.js';

export const GATEWAY = { host: '192.168.1.1', port: 5351 };
export const CLIENT_IP = '192.168.1.11';

/** Deterministic "random" bytes: a counter, so nonces are predictable in tests. */
export function counterRandom(seed = 1): RandomSource {
  let n = seed;
  return (buffer) => {
    for (let i = 0; i < buffer.length; i++) buffer[i] = n++ & 0xff;
  };
}

/** A PCP MAP response echoing `request`'s nonce (bytes 24..36) unless `nonce` is given. */
export function pcpMapReply(
  request: Uint8Array,
  fields: {
    result?: number;
    lifetimeS: number;
    epoch: number;
    externalPort: number;
    external?: string;
    internalPort?: number;
    protocol?: number;
    nonce?: Uint8Array;
  },
): Uint8Array {
  const out = new Uint8Array(60);
  const v = new DataView(out.buffer);
  out[0] = 2;
  out[1] = 0x81;
  out[3] = fields.result ?? 0;
  v.setUint32(4, fields.lifetimeS);
  v.setUint32(8, fields.epoch);
  out.set(fields.nonce ?? request.subarray(24, 36), 24);
  out[36] = fields.protocol ?? 17;
  v.setUint16(40, fields.internalPort ?? new DataView(request.buffer, request.byteOffset).getUint16(40));
  v.setUint16(42, fields.externalPort);
  out[54] = 0xff;
  out[55] = 0xff;
  out.set((fields.external ?? '203.0.113.10').split('.').map(Number), 56);
  return out;
}

/** Drains a core's events. */
export function drain(core: { pollEvent(): MappingEvent | null }): MappingEvent[] {
  const out: MappingEvent[] = [];
  for (let e = core.pollEvent(); e; e = core.pollEvent()) out.push(e);
  return out;
}

/** Drains a core's transmissions. */
export function sent(core: { pollTransmit(now: number): { data: Uint8Array } | null }, now: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let t = core.pollTransmit(now); t; t = core.pollTransmit(now)) out.push(t.data);
  return out;
}
