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

/**
 * Takes down the labs of one describe block whatever the timing: `lab = await labs.track(Lab.up(...))`
 * in beforeAll, `await labs.down()` in afterAll. A beforeAll that timed out leaves Lab.up running and
 * `lab` unassigned, so `lab?.down()` in afterAll did nothing and the lab came up after its tests had
 * ended (namespaces, nftables rules and processes left behind). Here afterAll waits for every lab still
 * coming up and takes it down, and a lab that comes up after afterAll gave up waiting (its own timeout)
 * takes itself down.
 */
export class LabGuard {
  readonly #pending = new Set<Promise<unknown>>();
  readonly #labs = new Set<{ down(): Promise<void> }>();
  #closed = false;

  track<L extends { down(): Promise<void> }>(up: Promise<L>): Promise<L> {
    const tracked = up.then(async (lab) => {
      if (this.#closed) {
        await lab.down();
        throw new Error('the lab came up after its tests ended: taken down');
      }
      this.#labs.add(lab);
      return lab;
    });
    const settled = tracked.catch(() => undefined);
    this.#pending.add(settled);
    void settled.finally(() => this.#pending.delete(settled));
    return tracked;
  }

  /** Takes down every lab tracked, waiting for those still coming up. Idempotent. */
  async down(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#pending);
    const labs = [...this.#labs];
    this.#labs.clear();
    await Promise.all(labs.map((lab) => lab.down()));
  }
}
