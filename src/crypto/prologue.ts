/**
 * Noise prologue (Noise rev 34 §6) binding the protocol version: both peers mix the same bytes into h,
 * so a downgrade or a version mismatch makes the first authenticated message fail.
 *
 *   prologue = ASCII "punchline/1" (11 bytes) ‖ protocol version (uint32 big-endian, the long-header
 *              version field, 0x504e4c01 for version 1)
 */
import { PROTOCOL_VERSION } from '../wire/types.js';

const PREFIX = new TextEncoder().encode('punchline/1');

export function makePrologue(version: number = PROTOCOL_VERSION): Uint8Array {
  const out = new Uint8Array(PREFIX.length + 4);
  out.set(PREFIX);
  new DataView(out.buffer).setUint32(PREFIX.length, version >>> 0, false);
  return out;
}
