/**
 * The coverage-guided loop: mutate a corpus entry, run it, keep it when it reaches a block nothing
 * reached before. Inputs run in batches whose coverage is taken once (a take costs ~0.5 ms, an input
 * a few µs); a batch that found something is re-run one input at a time to find which inputs to keep.
 * The batch grows while nothing new turns up and drops back to one input when something does.
 */
import { createHash } from 'node:crypto';
import { BlockCoverage } from './coverage.js';
import { Mutator } from './mutator.js';
import { FuzzRandom } from './random.js';
import type { FuzzTarget } from './target.js';

const MAX_BATCH = 512;

export interface Finding {
  readonly target: string;
  readonly input: Uint8Array;
  /** First line of the error and the frame it was thrown from. */
  readonly signature: string;
  readonly error: string;
}

export interface FuzzOptions {
  readonly seed: number;
  /** Stop after this many generated inputs. */
  readonly maxInputs: number;
  /** Stop after this many milliseconds. */
  readonly timeMs: number;
  /** Extra starting inputs (a saved corpus). */
  readonly corpus?: readonly Uint8Array[];
  /** Called once per distinct finding. */
  readonly onFinding?: (finding: Finding) => void;
  /** Called before each input runs (the watchdog's view of what is running). */
  readonly onInput?: (input: Uint8Array) => void;
  /** Which scripts count as coverage (default: the project's src/). */
  readonly include?: (url: string) => boolean;
}

export interface FuzzReport {
  readonly target: string;
  readonly inputs: number;
  readonly ms: number;
  readonly corpus: Uint8Array[];
  readonly blocksCovered: number;
  readonly blocksSeen: number;
  readonly findings: number;
}

const SOURCE = /\/src\/(?!.*node_modules)/;

export function fuzz(target: FuzzTarget, options: FuzzOptions): FuzzReport {
  const random = new FuzzRandom(options.seed);
  const mutator = new Mutator(random, target.maxLength, target.dictionary ?? []);
  const coverage = new BlockCoverage(options.include ?? ((url) => SOURCE.test(url)));
  const signatures = new Set<string>();
  let findings = 0;
  const execute = (input: Uint8Array, report: boolean): void => {
    options.onInput?.(input);
    try {
      target.run(input);
    } catch (e) {
      if (!report) return;
      const finding = describe(target.name, input, e);
      if (signatures.has(finding.signature)) return;
      signatures.add(finding.signature);
      findings++;
      options.onFinding?.(finding);
    }
  };

  const started = performance.now();
  const corpus: Uint8Array[] = [];
  coverage.reset();
  for (const seed of [...target.seeds(), ...(options.corpus ?? [])]) {
    const input = seed.length > target.maxLength ? seed.slice(0, target.maxLength) : seed;
    execute(input, true);
    coverage.take(true);
    corpus.push(input);
  }
  if (corpus.length === 0) corpus.push(new Uint8Array(0));

  let inputs = 0;
  let batchSize = 1;
  const batch: Uint8Array[] = [];
  while (inputs < options.maxInputs && performance.now() - started < options.timeMs) {
    batch.length = 0;
    const n = Math.min(batchSize, options.maxInputs - inputs);
    for (let i = 0; i < n; i++) {
      const input = mutator.mutate(pickParent(random, corpus), corpus);
      batch.push(input);
      execute(input, true);
    }
    inputs += n;
    if (coverage.take(false) === 0) {
      batchSize = Math.min(batchSize * 2, MAX_BATCH);
      continue;
    }
    for (const input of batch) {
      execute(input, false);
      if (coverage.take(true) > 0) corpus.push(input);
    }
    batchSize = 1;
  }
  const report: FuzzReport = {
    target: target.name,
    inputs,
    ms: performance.now() - started,
    corpus,
    blocksCovered: coverage.coveredCount,
    blocksSeen: coverage.knownCount,
    findings,
  };
  coverage.close();
  return report;
}

/** Newer entries (the frontier) are picked more often than old ones. */
function pickParent(random: FuzzRandom, corpus: readonly Uint8Array[]): Uint8Array {
  if (corpus.length > 8 && random.chance(2)) {
    const recent = Math.max(1, corpus.length >> 2);
    return corpus[corpus.length - 1 - random.below(recent)] as Uint8Array;
  }
  return corpus[random.below(corpus.length)] as Uint8Array;
}

function describe(target: string, input: Uint8Array, e: unknown): Finding {
  const error = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : `non-Error thrown: ${String(e)}`;
  const frame = (e instanceof Error ? (e.stack ?? '') : '').split('\n').find((line) => line.includes('/src/')) ?? '';
  const kind = e instanceof Error ? `${e.name}:${e.message.replace(/\d+/g, 'N').slice(0, 80)}` : 'non-Error';
  return { target, input: Uint8Array.from(input), signature: `${kind}@${frame.trim()}`, error };
}

export function inputName(input: Uint8Array): string {
  return createHash('sha1').update(input).digest('hex').slice(0, 16);
}
