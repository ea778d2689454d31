/** The README's simulator example, run exactly as printed (imports resolve to src through vitest's alias). */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

describe('README: punchline/sim example', () => {
  it('runs as printed, in at most ten lines, and delivers its bytes through the impaired link', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /<!-- sim-example[^>]*-->\n```ts\n([\s\S]*?)\n```/.exec(readme)?.[1];
    if (block === undefined) expect.fail('README.md has no sim-example block');
    expect(block.split('\n').length).toBeLessThanOrEqual(10);
    expect(block).toContain("from 'punchline/sim'");
    const file = fileURLToPath(new URL(`./.readme-example-${process.pid}.ts`, import.meta.url));
    writeFileSync(file, block);
    const logged: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      logged.push(args.join(' '));
    });
    try {
      await import(file);
    } finally {
      spy.mockRestore();
      rmSync(file, { force: true });
    }
    expect(logged).toEqual(['hello through loss, reordering and duplication']);
  });
});
