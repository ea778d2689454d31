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
