const bufferCopy = Buffer.prototype.copy;

/**
 * Copies src[srcStart, srcEnd) to dst at dstStart (memcpy via Buffer#copy, which accepts any
 * Uint8Array). One place for the hot-path byte copies of the stream buffers, so a cheaper primitive
 * can be dropped in later.
 */
export function copyBytes(src: Uint8Array, srcStart: number, srcEnd: number, dst: Uint8Array, dstStart: number): void {
  bufferCopy.call(src, dst, dstStart, srcStart, srcEnd);
}
