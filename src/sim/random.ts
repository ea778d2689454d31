/**
 * Seeded randomness for the simulator: one seed decides every loss, delay and endpoint key of a run.
 *
 * A `SimRandom` wraps pure-rand's xoroshiro128+. `derive(label)` makes an independent stream named by a
 * label (seed and label are hashed into the new state), so each consumer — a link's loss decisions, a
 * link's jitter, an endpoint's key generation — has its own stream and changing one knob does not
 * reshuffle the others. `source` is a `RandomSource` for endpoints.
 */
import { createHash } from 'node:crypto';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomSource } from '../transport/api.js';

type Generator = ReturnType<typeof xoroshiro128plusFromState>;

/** 128 bits of generator state from sha256(seed, label); never all zero. */
function stateFor(seed: number, label: string): number[] {
  const digest = createHash('sha256').update(`punchline-sim\0${seed}\0${label}`).digest();
  const state = [0, 1, 2, 3].map((i) => digest.readInt32LE(i * 4));
  if (state.every((word): boolean => word === 0)) state[0] = 1;
  return state;
}

export class SimRandom {
  readonly seed: number;
  readonly label: string;
  readonly #rng: Generator;

  constructor(seed: number, label = '') {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    this.seed = seed;
    this.label = label;
    this.#rng = xoroshiro128plusFromState(stateFor(seed, label));
  }

  /** An independent stream for `label` (relative to this stream's label); same seed+label → same stream. */
  derive(label: string): SimRandom {
    return new SimRandom(this.seed, this.label === '' ? label : `${this.label}/${label}`);
  }

  /** Uniform unsigned 32-bit integer. */
  next(): number {
    return this.#rng.next() >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return uniformFloat64(this.#rng);
  }

  /** Uniform integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return uniformInt(this.#rng, lo, hi);
  }

  /** true with probability p. Always draws one number, so the stream does not depend on p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** Fills `buffer` with random bytes. */
  bytes(buffer: Uint8Array): void {
    for (let i = 0; i < buffer.length; i += 4) {
      let word = this.next();
      for (let j = i; j < i + 4 && j < buffer.length; j++) {
        buffer[j] = word & 0xff;
        word >>>= 8;
      }
    }
  }

  /** This stream as a `RandomSource` for an endpoint (bound; pass it around freely). */
  readonly source: RandomSource = (buffer) => this.bytes(buffer);
}
