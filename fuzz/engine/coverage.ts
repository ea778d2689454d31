/**
 * Coverage feedback from V8's own block coverage (the inspector's Profiler.takePreciseCoverage with
 * call counts and block granularity), taken in-process through node:inspector. No instrumentation
 * pass: V8 counts blocks in interpreted and optimized code alike.
 *
 * Taking coverage resets V8's counters, so each take covers exactly the inputs run since the last
 * one. V8 reports a nested block range only while its count differs from its function's, so a block
 * is covered when it is reported with a count > 0, or when its function ran and the block (known from
 * an earlier report) is absent from this one. Coverage of a batch is then exactly the union of its
 * inputs' coverage, which lets the loop run inputs in batches and re-run a batch one input at a time
 * only when the batch found something new.
 */
import { Session } from 'node:inspector';

interface CoverageRange {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface FunctionCoverage {
  ranges: CoverageRange[];
}
interface ScriptCoverage {
  scriptId: string;
  url: string;
  functions: FunctionCoverage[];
}

export class BlockCoverage {
  private readonly session = new Session();
  /** Feature index: "script:start:end" → dense id. */
  private readonly ids = new Map<string, number>();
  /** Every block range ever reported per function ("script:start"), covered or not. */
  private readonly knownBlocks = new Map<string, { id: number; start: number; end: number }[]>();
  private readonly covered = new Set<number>();
  private readonly scratch: number[] = [];

  constructor(private readonly include: (url: string) => boolean) {
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  /** Blocks covered so far (functions count as their body block). */
  get coveredCount(): number {
    return this.covered.size;
  }

  /** Blocks seen in the code this target reached, covered or not. */
  get knownCount(): number {
    return this.ids.size;
  }

  /** Discards the counts of everything run since the last take. */
  reset(): void {
    this.post('Profiler.takePreciseCoverage');
  }

  /**
   * Takes the coverage of what ran since the last take; returns how many blocks were covered for
   * the first time, adding them to the covered set only when `commit` is true.
   */
  take(commit: boolean): number {
    const features = this.collect();
    let fresh = 0;
    for (const id of features) {
      if (this.covered.has(id)) continue;
      fresh++;
      if (commit) this.covered.add(id);
    }
    return fresh;
  }

  close(): void {
    this.post('Profiler.stopPreciseCoverage');
    this.session.disconnect();
  }

  private collect(): number[] {
    const result = this.post('Profiler.takePreciseCoverage') as { result: ScriptCoverage[] };
    const out = this.scratch;
    out.length = 0;
    for (const script of result.result) {
      if (!this.include(script.url)) continue;
      for (const fn of script.functions) {
        const [body, ...blocks] = fn.ranges;
        if (body === undefined) continue;
        const fnKey = `${script.scriptId}:${body.startOffset}`;
        const bodyId = this.id(`${fnKey}:${body.endOffset}`);
        let known = this.knownBlocks.get(fnKey);
        if (known === undefined) {
          known = [];
          this.knownBlocks.set(fnKey, known);
        }
        const reported = new Set<number>();
        for (const block of blocks) {
          const blockId = this.id(`${fnKey}:${block.startOffset}:${block.endOffset}`);
          if (!known.some((k) => k.id === blockId)) {
            known.push({ id: blockId, start: block.startOffset, end: block.endOffset });
          }
          reported.add(blockId);
          if (block.count > 0) out.push(blockId);
        }
        if (body.count === 0) continue;
        out.push(bodyId);
        // A known block absent from this report ran as often as the innermost reported range around
        // it (V8 merges a range into its parent when their counts are equal).
        for (const k of known) {
          if (reported.has(k.id)) continue;
          let count = body.count;
          let width = Number.POSITIVE_INFINITY;
          for (const block of blocks) {
            if (
              block.startOffset <= k.start &&
              block.endOffset >= k.end &&
              block.endOffset - block.startOffset < width
            ) {
              width = block.endOffset - block.startOffset;
              count = block.count;
            }
          }
          if (count > 0) out.push(k.id);
        }
      }
    }
    return out;
  }

  private id(key: string): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(key, id);
    }
    return id;
  }

  private post(method: string, params: object = {}): unknown {
    let error: Error | null = null;
    let value: unknown;
    // The in-thread inspector session answers synchronously.
    this.session.post(method, params, (e, r) => {
      error = e;
      value = r;
    });
    if (error !== null) throw error;
    return value;
  }
}
