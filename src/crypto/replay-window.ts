import { CryptoError, CryptoErrorCode } from './errors.js';
/**
 * Anti-replay sliding window of RFC 6479 ("IPsec Anti-Replay Algorithm without Bit Shifting"):
 * a ring of 32-bit blocks; advancing the window clears whole blocks instead of shifting bits, so
 * both check and update are O(1) (amortised) and allocate nothing. Hot path.
 *
 * With B blocks (a power of two) the window covers W = (B − 1) × 32 packet numbers below the largest
 * seen (RFC 6479 §2: one block is kept as slack so a block can be cleared before reuse). Packet
 * numbers are integers in [0, 2^53 − 1].
 */

export const ReplayCheck = {
  /** Not seen before and inside (or ahead of) the window. */
  Ok: 0,
  /** Already accepted. */
  Replayed: -2,
  /** Older than the window: cannot tell, so reject (RFC 6479 §2). */
  TooOld: -3,
} as const;
export type ReplayCheck = (typeof ReplayCheck)[keyof typeof ReplayCheck];

const BLOCK_BITS = 32;

export class ReplayWindow {
  /** Packet numbers this window can still judge below the largest seen (≥ the requested size). */
  readonly size: number;
  private readonly bitmap: Uint32Array;
  private readonly mask: number;
  private largestSeen = -1;

  /** @param minimumSize packet numbers the window must cover (default 2048: reordering deeper than that is loss). */
  constructor(minimumSize = 2048) {
    if (!Number.isInteger(minimumSize) || minimumSize < BLOCK_BITS || minimumSize > 1 << 24) {
      throw new CryptoError(CryptoErrorCode.InvalidArgument, 'ReplayWindow size must be an integer in [32, 2^24]');
    }
    let blocks = 2;
    while ((blocks - 1) * BLOCK_BITS < minimumSize) blocks *= 2;
    this.bitmap = new Uint32Array(blocks);
    this.mask = blocks - 1;
    this.size = (blocks - 1) * BLOCK_BITS;
  }

  /** Largest packet number accepted so far, −1 if none. */
  get largest(): number {
    return this.largestSeen;
  }

  /** Would `packetNumber` be accepted? Does not change the window. */
  check(packetNumber: number): ReplayCheck {
    if (packetNumber > this.largestSeen) return ReplayCheck.Ok;
    if (this.largestSeen - packetNumber >= this.size) return ReplayCheck.TooOld;
    const block = Math.floor(packetNumber / BLOCK_BITS) & this.mask;
    // `& 31` keeps the low bits of numbers ≥ 2^32 too (ToInt32 is reduction modulo 2^32).
    const bit = 1 << (packetNumber & (BLOCK_BITS - 1));
    return (this.bitmap[block]! & bit) !== 0 ? ReplayCheck.Replayed : ReplayCheck.Ok;
  }

  /** Marks `packetNumber` as seen. Call only after check() returned Ok (and the packet authenticated). */
  update(packetNumber: number): void {
    if (packetNumber > this.largestSeen) {
      const current = Math.floor(this.largestSeen / BLOCK_BITS);
      const target = Math.floor(packetNumber / BLOCK_BITS);
      const advance = Math.min(target - current, this.bitmap.length);
      for (let i = 1; i <= advance; i++) this.bitmap[(current + i) & this.mask] = 0;
      this.largestSeen = packetNumber;
    }
    this.bitmap[Math.floor(packetNumber / BLOCK_BITS) & this.mask]! |= 1 << (packetNumber & (BLOCK_BITS - 1));
  }

  /** check() then, if Ok, update(). */
  checkAndUpdate(packetNumber: number): ReplayCheck {
    const result = this.check(packetNumber);
    if (result === ReplayCheck.Ok) this.update(packetNumber);
    return result;
  }
}
