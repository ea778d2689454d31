/**
 * FIFO of a sans-IO core's outputs, drained by its adapter with poll() (quinn-proto's poll_* style).
 * A head index instead of Array#shift keeps polling O(1); the array is reset whenever it empties.
 */
export class OutputQueue<T> {
  private items: T[] = [];
  private head = 0;

  push(item: T): void {
    this.items.push(item);
  }

  poll(): T | null {
    if (this.head >= this.items.length) {
      if (this.items.length > 0) {
        this.items.length = 0;
        this.head = 0;
      }
      return null;
    }
    return this.items[this.head++] ?? null;
  }
}
