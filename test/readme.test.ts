import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

/**
 * The README's library example must run as printed: extract its ```ts block, point the package
 * imports at the sources, run it, and check it echoed.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(root, 'test', '.readme-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('README', () => {
  it('library example runs and echoes', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block, 'README has a ```ts example').toBeDefined();
    const source = block!.replace(/from 'punchline\/(\w+)'/g, (_match, layer: string) => {
      const target = pathToFileURL(join(root, 'src', layer, 'index.ts')).href;
      return `from '${target}'`;
    });
    expect(source).not.toContain("'punchline");
    const file = join(scratch, 'example.ts');
    writeFileSync(file, source);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await import(pathToFileURL(file).href);
      expect(log.mock.calls.map((call) => String(call[0])).join('')).toBe('hello');
    } finally {
      log.mockRestore();
    }
  });
});
