/** LabGuard (helpers.ts): a lab is taken down however late it comes up. Needs no root (fake labs). */
import { describe, expect, it } from 'vitest';
import { LabGuard } from './helpers.js';

function fakeLab() {
  let resolve!: (lab: { down(): Promise<void>; downs: number }) => void;
  const lab = {
    downs: 0,
    async down() {
      this.downs++;
    },
  };
  const up = new Promise<typeof lab>((r) => {
    resolve = r;
  });
  return { lab, up, comeUp: () => resolve(lab) };
}

describe('LabGuard', () => {
  it('takes down a lab that was up', async () => {
    const guard = new LabGuard();
    const f = fakeLab();
    f.comeUp();
    await guard.track(f.up);
    await guard.down();
    expect(f.lab.downs).toBe(1);
    await guard.down(); // idempotent
    expect(f.lab.downs).toBe(1);
  });

  it('waits for a lab still coming up when the tests end (beforeAll timed out) and takes it down', async () => {
    const guard = new LabGuard();
    const f = fakeLab();
    const tracked = guard.track(f.up);
    tracked.catch(() => undefined);
    const down = guard.down();
    f.comeUp();
    await down;
    expect(f.lab.downs).toBe(1);
    await expect(tracked).rejects.toThrow(/came up after its tests ended/);
  });

  it('a lab that comes up after down() stopped waiting takes itself down', async () => {
    const guard = new LabGuard();
    const f = fakeLab();
    const tracked = guard.track(f.up);
    tracked.catch(() => undefined);
    const down = guard.down();
    // afterAll's own timeout: the hook gives up on `down`; the lab comes up later
    await Promise.race([down, new Promise((r) => setTimeout(r, 10))]);
    expect(f.lab.downs).toBe(0);
    f.comeUp();
    await tracked.catch(() => undefined);
    expect(f.lab.downs).toBe(1);
  });
});
