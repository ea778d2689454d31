/** `punchline demo` end to end: a generated tree sent by code through a local server, every file verified. */
import { describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/commands/demo.js';

describe('punchline demo', () => {
  it('sends a generated tree by code, verifies every file and says where it ran', async () => {
    const lines: string[] = [];
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await run(['--bytes', '3M'])).toBe(0);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    const text = lines.join('');
    expect(text).toMatch(/running over loopback with a local server/);
    expect(text).toMatch(/\$ punchline receive \d+-[a-z]+-[a-z]+ --out/);
    expect(text).toMatch(/verified all (\d+) files against their source \(BLAKE2b\)/);
  }, 60_000);

  it('rejects bad options with exit code 2', async () => {
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await run(['--bytes', '0'])).toBe(2);
      expect(await run(['--bogus', '1'])).toBe(2);
    } finally {
      spy.mockRestore();
    }
  });
});
