/**
 * `npm run fuzz`: coverage-guided fuzzing of every parser target (fuzz/targets), one worker thread
 * per target under a hang watchdog. Prints inputs executed, speed, corpus and block coverage per
 * target as a table and one JSON line per target; writes each finding (crash or broken invariant)
 * and each hang to fuzz/findings/<target>/ with its input, and keeps the corpus in .fuzz/corpus/.
 * Exit status 1 when anything was found.
 *
 *   npm run fuzz -- [--time SECONDS per target (20)] [--inputs N per target] [--targets a,b]
 *                   [--jobs N (1)] [--seed N] [--hang-ms MS (10000)] [--corpus-dir DIR] [--no-corpus]
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { inputName, type Finding } from './engine/fuzzer.js';
import type { WorkerMessage, WorkerRequest } from './engine/worker.js';
import { TARGETS } from './targets/index.js';

const { values } = parseArgs({
  options: {
    time: { type: 'string', default: '20' },
    inputs: { type: 'string' },
    targets: { type: 'string' },
    jobs: { type: 'string', default: '1' },
    seed: { type: 'string' },
    'hang-ms': { type: 'string', default: '10000' },
    'corpus-dir': { type: 'string', default: '.fuzz/corpus' },
    'findings-dir': { type: 'string', default: 'fuzz/findings' },
    'no-corpus': { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
  },
  strict: true,
});

if (values.list) {
  for (const t of TARGETS) console.log(`${t.name.padEnd(22)} ${t.description}`);
  process.exit(0);
}

const timeMs = Number(values.time) * 1000;
const maxInputs = values.inputs === undefined ? Number.POSITIVE_INFINITY : Number(values.inputs);
const hangMs = Number(values['hang-ms']);
const jobs = Math.max(1, Number(values.jobs));
const baseSeed = values.seed === undefined ? Date.now() & 0x7fffffff : Number(values.seed);
const selected =
  values.targets === undefined ? TARGETS : TARGETS.filter((t) => values.targets!.split(',').includes(t.name));
if (selected.length === 0 || !(timeMs > 0) || !(maxInputs > 0)) {
  console.error('fuzz: no target selected, or --time/--inputs not positive (see --list)');
  process.exit(2);
}

/** Workers do not inherit tsx's loader hooks on Node 20: the worker registers them itself. */
const WORKER_BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => {
  tsx.register();
  return import(${JSON.stringify(new URL('./engine/worker.ts', import.meta.url).href)});
});`;

interface TargetResult {
  target: string;
  inputs: number;
  ms: number;
  corpus: number;
  blocksCovered: number;
  blocksSeen: number;
  findings: number;
  hangs: number;
}

function loadCorpus(target: string): Uint8Array[] {
  if (values['no-corpus']) return [];
  const dir = join(values['corpus-dir']!, target);
  try {
    return readdirSync(dir).map((f) => Uint8Array.from(readFileSync(join(dir, f))));
  } catch {
    return [];
  }
}

function saveCorpus(target: string, corpus: Uint8Array[]): void {
  if (values['no-corpus']) return;
  const dir = join(values['corpus-dir']!, target);
  mkdirSync(dir, { recursive: true });
  for (const input of corpus) writeFileSync(join(dir, inputName(input)), input);
}

function saveFinding(target: string, kind: 'crash' | 'hang', input: Uint8Array, text: string): string {
  const dir = join(values['findings-dir']!, target);
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${kind}-${inputName(input)}`);
  writeFileSync(`${base}.bin`, input);
  writeFileSync(`${base}.txt`, `${text}\n`);
  return `${base}.bin`;
}

/** Runs one worker to completion or hang; returns what it did. */
function runWorker(
  target: string,
  seed: number,
  budgetMs: number,
  budgetInputs: number,
  corpus: Uint8Array[],
): Promise<{
  inputs: number;
  ms: number;
  corpus: Uint8Array[];
  covered: number;
  seen: number;
  findings: number;
  hang: Uint8Array | null;
}> {
  const shared = new SharedArrayBuffer(8 + 70_000);
  const counters = new Int32Array(shared, 0, 2);
  const request: WorkerRequest = { target, seed, maxInputs: budgetInputs, timeMs: budgetMs, corpus, shared };
  const worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: request });
  const started = performance.now();
  let findings = 0;
  return new Promise((resolve, reject) => {
    let lastCount = -1;
    let lastMove = performance.now();
    const watchdog = setInterval(() => {
      const count = Atomics.load(counters, 0);
      if (count !== lastCount) {
        lastCount = count;
        lastMove = performance.now();
        return;
      }
      if (performance.now() - lastMove < hangMs || count === 0) return;
      clearInterval(watchdog);
      const input = new Uint8Array(shared, 8, Atomics.load(counters, 1)).slice();
      void worker.terminate();
      resolve({
        inputs: count,
        ms: performance.now() - started,
        corpus: [],
        covered: 0,
        seen: 0,
        findings,
        hang: input,
      });
    }, 250);
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'finding') {
        findings++;
        const f: Finding = message.finding;
        const path = saveFinding(target, 'crash', f.input, `${f.signature}\n\n${f.error}`);
        console.error(`fuzz: ${target}: FINDING ${f.signature.split('\n')[0]} -> ${path}`);
        return;
      }
      clearInterval(watchdog);
      resolve({
        inputs: message.inputs,
        ms: message.ms,
        corpus: message.corpus,
        covered: message.blocksCovered,
        seen: message.blocksSeen,
        findings,
        hang: null,
      });
    });
    worker.on('error', (e) => {
      clearInterval(watchdog);
      reject(e);
    });
  });
}

async function fuzzTarget(index: number): Promise<TargetResult> {
  const target = selected[index]!;
  const corpus = loadCorpus(target.name);
  const result: TargetResult = {
    target: target.name,
    inputs: 0,
    ms: 0,
    corpus: 0,
    blocksCovered: 0,
    blocksSeen: 0,
    findings: 0,
    hangs: 0,
  };
  let seed = baseSeed + index * 7919;
  while (result.ms < timeMs && result.inputs < maxInputs) {
    const r = await runWorker(target.name, seed++, timeMs - result.ms, maxInputs - result.inputs, corpus);
    result.inputs += r.inputs;
    result.ms += r.ms;
    result.findings += r.findings;
    if (r.hang !== null) {
      result.hangs++;
      const path = saveFinding(target.name, 'hang', r.hang, `no progress for ${hangMs} ms on this input`);
      console.error(`fuzz: ${target.name}: HANG -> ${path}`);
      continue;
    }
    corpus.push(...r.corpus);
    saveCorpus(target.name, r.corpus);
    result.corpus = r.corpus.length;
    result.blocksCovered = r.covered;
    result.blocksSeen = r.seen;
    break;
  }
  return result;
}

const results: TargetResult[] = new Array(selected.length);
let next = 0;
async function lane(): Promise<void> {
  while (next < selected.length) {
    const i = next++;
    results[i] = await fuzzTarget(i);
    const r = results[i]!;
    console.error(`fuzz: ${r.target}: ${r.inputs} inputs in ${(r.ms / 1000).toFixed(1)} s, ${r.blocksCovered} blocks`);
  }
}
console.error(`fuzz: ${selected.length} targets, ${values.time} s each, seed ${baseSeed}, ${jobs} job(s)`);
await Promise.all(Array.from({ length: jobs }, lane));

const header = ['target', 'inputs', 'inputs/s', 'corpus', 'blocks covered', 'blocks seen', 'findings', 'hangs'];
const rows = results.map((r) => [
  r.target,
  String(r.inputs),
  String(Math.round(r.inputs / (r.ms / 1000))),
  String(r.corpus),
  String(r.blocksCovered),
  String(r.blocksSeen),
  String(r.findings),
  String(r.hangs),
]);
const total = results.reduce(
  (a, r) => ({ inputs: a.inputs + r.inputs, findings: a.findings + r.findings, hangs: a.hangs + r.hangs }),
  { inputs: 0, findings: 0, hangs: 0 },
);
rows.push(['TOTAL', String(total.inputs), '', '', '', '', String(total.findings), String(total.hangs)]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(line(header));
for (const row of rows) console.log(line(row));
for (const r of results)
  console.log(
    JSON.stringify({ bench: 'fuzz', seed: baseSeed, ...r, inputsPerSecond: Math.round(r.inputs / (r.ms / 1000)) }),
  );
process.exitCode = total.findings > 0 || total.hangs > 0 ? 1 : 0;
