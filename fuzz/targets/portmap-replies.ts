/**
 * Well-formed port-mapping gateway replies (byte layouts of RFC 6886 §3.2/§3.3 and RFC 6887 §7/§8):
 * the seeds of the portmap fuzz targets, and the replies the port-mapping unit tests craft.
 */

/** NAT-PMP external address response (RFC 6886 §3.2): opcode 128. */
export function natPmpAddressReply(result: number, epoch: number, external = '203.0.113.10'): Uint8Array {
  const out = new Uint8Array(12);
  const v = new DataView(out.buffer);
  out[1] = 128;
  v.setUint16(2, result);
  v.setUint32(4, epoch);
  out.set(external.split('.').map(Number), 8);
  return out;
}

/** NAT-PMP mapping response (RFC 6886 §3.3): opcode 129 (UDP) unless `op` says otherwise. */
export function natPmpMapReply(
  result: number,
  epoch: number,
  internalPort: number,
  externalPort: number,
  lifetimeS: number,
  op = 129,
): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  out[1] = op;
  v.setUint16(2, result);
  v.setUint32(4, epoch);
  v.setUint16(8, internalPort);
  v.setUint16(10, externalPort);
  v.setUint32(12, lifetimeS);
  return out;
}

/** PCP ANNOUNCE response (RFC 6887 §14.1): version 2, opcode 0x80. */
export function pcpAnnounceReply(epoch: number, result = 0): Uint8Array {
  const out = new Uint8Array(24);
  out[0] = 2;
  out[1] = 0x80;
  out[3] = result;
  new DataView(out.buffer).setUint32(8, epoch);
  return out;
}
