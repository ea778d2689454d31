/**
 * Token buckets keyed by source IP, with injected time. Bounded memory: at most `maxSources`
 * buckets, least recently used evicted first (an evicted source simply starts with a full bucket).
 */
export interface RateLimitOptions {
  /** Sustained requests per second per source IP. */
  readonly ratePerSecond: number;
  /** Bucket size: requests a source may send in a burst. */
  readonly burst: number;
  /** Most sources tracked at once. */
  readonly maxSources: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitOptions = { ratePerSecond: 20, burst: 40, maxSources: 10_000 };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class SourceRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(readonly options: RateLimitOptions = DEFAULT_RATE_LIMIT) {}

  /** Takes one token for `source`; false means drop this datagram. */
  allow(source: string, now: number): boolean {
    const { ratePerSecond, burst, maxSources } = this.options;
    let bucket = this.buckets.get(source);
    if (bucket) {
      this.buckets.delete(source); // re-insert below: Map order is our LRU order
      bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.updatedAt) * ratePerSecond) / 1000);
      bucket.updatedAt = now;
    } else {
      bucket = { tokens: burst, updatedAt: now };
      if (this.buckets.size >= maxSources) {
        const oldest = this.buckets.keys().next();
        if (!oldest.done) this.buckets.delete(oldest.value);
      }
    }
    this.buckets.set(source, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  get trackedSources(): number {
    return this.buckets.size;
  }
}
