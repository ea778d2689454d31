/**
 * Shared by the lab tests: whether the lab can run here (root, namespaces, nftables) and a one-line
 * reason printed when it cannot, so skipped tests are visible as skipped, never silently passed.
 */
import { labAvailability } from '../../src/lab/availability.js';

const availability = await labAvailability();

export const labAvailable = availability.available;

/** Call at the top of a file whose describe blocks are `describe.skipIf(!labAvailable)`. */
export function reportSkip(file: string): void {
  if (!labAvailable) console.log(`[lab] skipping ${file}: ${availability.reason}`);
}

/** A lab name unique to this test file and process, so parallel files never collide. */
export function labName(file: string): string {
  return `t-${file}-${process.pid}`;
}
