/**
 * One target's fuzzing loop in a worker thread, so the parent can watch it: before each input the
 * worker bumps a shared counter and copies the input into shared memory; when the counter stops
 * moving the parent terminates the worker and keeps the input as a hang.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { targetByName } from '../targets/index.js';
import { fuzz, type Finding } from './fuzzer.js';

export interface WorkerRequest {
  readonly target: string;
  readonly seed: number;
  readonly maxInputs: number;
  readonly timeMs: number;
  readonly corpus: Uint8Array[];
  /** Int32 [0] = inputs started, [1] = length of the current input; bytes after 8 = the input. */
  readonly shared: SharedArrayBuffer;
}

export type WorkerMessage =
  | { readonly type: 'finding'; readonly finding: Finding }
  | {
      readonly type: 'done';
      readonly inputs: number;
      readonly ms: number;
      readonly corpus: Uint8Array[];
      readonly blocksCovered: number;
      readonly blocksSeen: number;
    };

const request = workerData as WorkerRequest;
const counters = new Int32Array(request.shared, 0, 2);
const current = new Uint8Array(request.shared, 8);
const target = targetByName(request.target);
const report = fuzz(target, {
  seed: request.seed,
  maxInputs: request.maxInputs,
  timeMs: request.timeMs,
  corpus: request.corpus,
  onInput(input) {
    const n = Math.min(input.length, current.length);
    current.set(input.subarray(0, n));
    Atomics.store(counters, 1, n);
    Atomics.add(counters, 0, 1);
  },
  onFinding(finding) {
    parentPort!.postMessage({ type: 'finding', finding } satisfies WorkerMessage);
  },
});
parentPort!.postMessage({
  type: 'done',
  inputs: report.inputs,
  ms: report.ms,
  corpus: report.corpus,
  blocksCovered: report.blocksCovered,
  blocksSeen: report.blocksSeen,
} satisfies WorkerMessage);
