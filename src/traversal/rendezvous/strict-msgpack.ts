/**
 * A bounded structural pre-check of MessagePack bytes (https://github.com/msgpack/msgpack/blob/master/spec.md)
 * run before msgpackr decodes anything that arrived from the network.
 *
 * msgpackr understands many extension types (records that define decoder-wide structures, bundled
 * strings, RegExp, Error, typed arrays, structured-clone references...). A rendezvous message needs
 * none of them, and some make the decoder stateful across messages. This walker accepts exactly
 * one value built from nil, booleans, integers, floats, str, bin, array and map, with bounded
 * nesting depth and element counts, and which spans the whole buffer. Anything else is rejected
 * before msgpackr sees it. Work is linear in the input length (every step consumes ≥ 1 byte).
 */

export interface StrictMsgpackLimits {
  readonly maxDepth: number;
  /** Most elements (array items + map entries) over the whole value. */
  readonly maxElements: number;
}

/** Returns null when the bytes are one plain, bounded value; otherwise a short reason. */
export function checkPlainMsgpack(bytes: Uint8Array, limits: StrictMsgpackLimits): string | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let elements = 0;
  // Explicit stack of "values still to read" per nesting level: no recursion on hostile input.
  const pending: number[] = [1];
  while (pending.length > 0) {
    const top = pending.length - 1;
    if (pending[top] === 0) {
      pending.pop();
      continue;
    }
    pending[top]! -= 1;
    if (pos >= bytes.length) return 'truncated';
    const b = bytes[pos++]!;
    let skip = 0;
    let children = -1;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
      // positive/negative fixint, nil, false, true
    } else if (b >= 0x80 && b <= 0x8f) {
      children = (b & 0x0f) * 2;
    } else if (b >= 0x90 && b <= 0x9f) {
      children = b & 0x0f;
    } else if (b >= 0xa0 && b <= 0xbf) {
      skip = b & 0x1f;
    } else {
      switch (b) {
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xce:
        case 0xd2:
        case 0xca:
          skip = 4;
          break;
        case 0xcf:
        case 0xd3:
        case 0xcb:
          skip = 8;
          break;
        case 0xc4:
        case 0xd9: // bin8, str8
          if (pos + 1 > bytes.length) return 'truncated';
          skip = bytes[pos]!;
          pos += 1;
          break;
        case 0xc5:
        case 0xda: // bin16, str16
          if (pos + 2 > bytes.length) return 'truncated';
          skip = view.getUint16(pos);
          pos += 2;
          break;
        case 0xc6:
        case 0xdb: // bin32, str32
          if (pos + 4 > bytes.length) return 'truncated';
          skip = view.getUint32(pos);
          pos += 4;
          break;
        case 0xdc: // array16
          if (pos + 2 > bytes.length) return 'truncated';
          children = view.getUint16(pos);
          pos += 2;
          break;
        case 0xdd: // array32
          if (pos + 4 > bytes.length) return 'truncated';
          children = view.getUint32(pos);
          pos += 4;
          break;
        case 0xde: // map16
          if (pos + 2 > bytes.length) return 'truncated';
          children = view.getUint16(pos) * 2;
          pos += 2;
          break;
        case 0xdf: // map32
          if (pos + 4 > bytes.length) return 'truncated';
          children = view.getUint32(pos) * 2;
          pos += 4;
          break;
        default:
          // 0xc1 (never used), ext 0xc7–0xc9, fixext 0xd4–0xd8
          return `type 0x${b.toString(16)} not allowed`;
      }
    }
    if (skip > 0) {
      if (pos + skip > bytes.length) return 'truncated';
      pos += skip;
    }
    if (children >= 0) {
      elements += children;
      if (elements > limits.maxElements) return 'too many elements';
      // Each child needs at least one byte: a cheap early rejection of lying length prefixes.
      if (children > bytes.length - pos) return 'truncated';
      if (children > 0) {
        if (pending.length >= limits.maxDepth) return 'too deep';
        pending.push(children);
      }
    }
  }
  if (pos !== bytes.length) return 'trailing bytes';
  return null;
}
