/**
 * A small unbounded push/pull queue behind the `for await` iterators of the Node adapter
 * (incoming connections of an endpoint, incoming streams of a connection). Items pushed while no one
 * iterates are kept until someone does; `end()` finishes every current and future iterator.
 * The queue is bounded in practice by what feeds it (the peer's stream limit, the handshake rate).
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<(result: IteratorResult<T>) => void> = [];
  private ended = false;

  push(item: T): void {
    if (this.ended) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter({ value: item, done: false });
    else this.items.push(item);
  }

  /** No more items: pending and future `next()` calls report done once the buffered items are taken. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const waiter of this.waiters.splice(0)) waiter({ value: undefined, done: true });
  }

  get size(): number {
    return this.items.length;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift() as T, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      // Breaking out of a for-await loop must not end the queue for other consumers.
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }
}
