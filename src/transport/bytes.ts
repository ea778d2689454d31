/**
 * Copies src[srcStart, srcEnd) to dst at dstStart (memcpy via TypedArray#set). One place for the
 * hot-path byte copies of the stream buffers. A whole-array source is copied as is; a part of one
 * needs a temporary subarray view (Node 20 has no offset-taking memcpy that allocates nothing; its
 * Buffer#copy makes the same view internally).
 */
export function copyBytes(src: Uint8Array, srcStart: number, srcEnd: number, dst: Uint8Array, dstStart: number): void {
  if (srcStart === 0 && srcEnd === src.length) dst.set(src, dstStart);
  else dst.set(src.subarray(srcStart, srcEnd), dstStart);
}

/**
 * Moves the live bytes [from, to) of a ring of capacity oldCap into a new ring of capacity cap
 * (a power of two, >= to - from) placed at the start of a fresh buffer of cap + spare bytes; each
 * byte lands at its offset modulo the new capacity. Growth path only (it allocates the new buffer).
 */
export function regrowRing(
  old: Uint8Array,
  oldCap: number,
  from: number,
  to: number,
  cap: number,
  spare: number,
): Uint8Array {
  const next = new Uint8Array(cap + spare);
  for (let off = from; off < to; ) {
    const src = off % oldCap;
    const dst = off % cap;
    const run = Math.min(to - off, oldCap - src, cap - dst);
    next.set(old.subarray(src, src + run), dst);
    off += run;
  }
  return next;
}
