/** Shared by bench/core-alloc.ts and bench/node-alloc.ts: read the V8 heap without allocating. */
import v8 from 'node:v8';

/**
 * used_heap_size without allocating a result object: the Float64Array behind v8.getHeapStatistics()
 * (process.binding('v8'), deprecated but present in Node 20; checked against the public API, else
 * process.memoryUsage() is used).
 */
export function heapReader(): { read: () => number; name: string } {
  const USED_HEAP_SIZE = 4; // index of used_heap_size (node_v8.cc HEAP_STATISTICS_PROPERTIES)
  const quiet = process.noDeprecation;
  try {
    process.noDeprecation = true;
    const binding = (process as unknown as { binding(name: string): unknown }).binding('v8') as {
      heapStatisticsBuffer?: Float64Array;
      updateHeapStatisticsBuffer?: () => void;
    };
    const buf = binding.heapStatisticsBuffer;
    const update = binding.updateHeapStatisticsBuffer;
    if (buf instanceof Float64Array && typeof update === 'function') {
      v8.getHeapStatistics(); // compiled and warm before comparing
      update();
      const viaBuffer = buf[USED_HEAP_SIZE] as number;
      const viaApi = v8.getHeapStatistics().used_heap_size;
      if (Math.abs(viaApi - viaBuffer) < 65536) {
        return {
          name: 'v8 heap statistics buffer',
          read: () => {
            update();
            return buf[USED_HEAP_SIZE] as number;
          },
        };
      }
    }
  } catch {
    // fall through
  } finally {
    process.noDeprecation = quiet === true;
  }
  return { name: 'process.memoryUsage()', read: () => process.memoryUsage().heapUsed };
}
