/**
 * A set of integers stored as sorted, disjoint, non-adjacent half-open ranges [start, end).
 * Used for received stream bytes, acknowledged/lost send ranges and received packet numbers.
 * Plain arrays that are reused: no allocation in steady state (hot path).
 */
export class RangeSet {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private n = 0;

  /** Optional cap on the number of ranges; when exceeded the lowest ranges are dropped. */
  constructor(private readonly maxRanges: number = Infinity) {}

  get count(): number {
    return this.n;
  }
  get isEmpty(): boolean {
    return this.n === 0;
  }
  start(i: number): number {
    return this.starts[i] as number;
  }
  end(i: number): number {
    return this.ends[i] as number;
  }
  /** Smallest element (NaN when empty). */
  get min(): number {
    return this.n === 0 ? NaN : (this.starts[0] as number);
  }
  /** One past the largest element (NaN when empty). */
  get max(): number {
    return this.n === 0 ? NaN : (this.ends[this.n - 1] as number);
  }

  clear(): void {
    this.n = 0;
  }

  /** Index of the first range whose end >= x (ranges that may touch x). Binary search. */
  private lowerBound(x: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ends[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  has(x: number): boolean {
    const i = this.lowerBound(x + 1);
    return i < this.n && (this.starts[i] as number) <= x && x < (this.ends[i] as number);
  }

  /** true when every element of [start, end) is in the set. */
  covers(start: number, end: number): boolean {
    if (end <= start) return true;
    const i = this.lowerBound(start + 1);
    return i < this.n && (this.starts[i] as number) <= start && end <= (this.ends[i] as number);
  }

  /** Adds [start, end); returns how many new elements were added. */
  add(start: number, end: number): number {
    if (end <= start) return 0;
    const i = this.lowerBound(start); // first range with end >= start (touching or after)
    let j = i;
    let added = end - start;
    let s = start;
    let e = end;
    while (j < this.n && (this.starts[j] as number) <= end) {
      const rs = this.starts[j] as number;
      const re = this.ends[j] as number;
      added -= Math.max(0, Math.min(re, end) - Math.max(rs, start));
      if (rs < s) s = rs;
      if (re > e) e = re;
      j++;
    }
    const removed = j - i;
    if (removed === 0) {
      this.insertAt(i, s, e);
    } else {
      this.starts[i] = s;
      this.ends[i] = e;
      this.removeAt(i + 1, removed - 1);
    }
    if (this.n > this.maxRanges) this.removeAt(0, this.n - this.maxRanges);
    return added;
  }

  /** Removes [start, end) from the set. */
  remove(start: number, end: number): void {
    if (end <= start || this.n === 0) return;
    let i = this.lowerBound(start + 1); // first range with end > start
    while (i < this.n && (this.starts[i] as number) < end) {
      const rs = this.starts[i] as number;
      const re = this.ends[i] as number;
      if (rs < start && re > end) {
        // split
        this.ends[i] = start;
        this.insertAt(i + 1, end, re);
        return;
      }
      if (rs < start) {
        this.ends[i] = start;
        i++;
      } else if (re > end) {
        this.starts[i] = end;
        return;
      } else {
        this.removeAt(i, 1);
      }
    }
  }

  /** Removes every element below x. */
  removeBelow(x: number): void {
    let k = 0;
    while (k < this.n && (this.ends[k] as number) <= x) k++;
    if (k > 0) this.removeAt(0, k);
    if (this.n > 0 && (this.starts[0] as number) < x) this.starts[0] = x;
  }

  /** End of the range that contains x, or x when x is not in the set. */
  contiguousEnd(x: number): number {
    const i = this.lowerBound(x + 1);
    if (i < this.n && (this.starts[i] as number) <= x) return this.ends[i] as number;
    return x;
  }

  private insertAt(i: number, s: number, e: number): void {
    for (let k = this.n; k > i; k--) {
      this.starts[k] = this.starts[k - 1] as number;
      this.ends[k] = this.ends[k - 1] as number;
    }
    this.starts[i] = s;
    this.ends[i] = e;
    this.n++;
  }

  private removeAt(i: number, count: number): void {
    if (count <= 0) return;
    for (let k = i; k + count < this.n; k++) {
      this.starts[k] = this.starts[k + count] as number;
      this.ends[k] = this.ends[k + count] as number;
    }
    this.n -= count;
  }

  toArray(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.n; i++) out.push([this.starts[i] as number, this.ends[i] as number]);
    return out;
  }
}
