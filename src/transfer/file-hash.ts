/**
 * Integrity (spec/transfer.md §Integrity): a file is cut into CHUNK_SIZE chunks; each chunk has a
 * BLAKE2b-256 (sent with it, checked before it is written), and the file hash is BLAKE2b-256 of
 * its size and the chunk hashes in order (a one-level hash list), so each byte is hashed once per
 * side and a resumed file's hash covers the chunks that were already on disk.
 */
import { sodium } from '../crypto/sodium.js';

/** Bytes per chunk: the unit of hashing, writing and resuming. */
export const CHUNK_SIZE = 1024 * 1024;
export const HASH_BYTES = 32;

export function chunkCount(size: number): number {
  return Math.ceil(size / CHUNK_SIZE);
}

/** BLAKE2b-256 of one chunk into `out` (or a new array). */
export function chunkHash(data: Uint8Array, out: Uint8Array = new Uint8Array(HASH_BYTES)): Uint8Array {
  sodium.crypto_generichash(out, data);
  return out;
}

/** Incremental file hash: H(size as u64 LE ‖ chunk hash 0 ‖ chunk hash 1 ‖ ...). */
export class FileHasher {
  private readonly state = new Uint8Array(sodium.crypto_generichash_STATEBYTES);

  constructor(size: number) {
    sodium.crypto_generichash_init(this.state, null, HASH_BYTES);
    const header = Buffer.alloc(8);
    header.writeBigUInt64LE(BigInt(size));
    sodium.crypto_generichash_update(this.state, header);
  }

  addChunk(hash: Uint8Array): void {
    sodium.crypto_generichash_update(this.state, hash);
  }

  digest(): Uint8Array {
    const out = new Uint8Array(HASH_BYTES);
    sodium.crypto_generichash_final(this.state, out);
    return out;
  }
}
