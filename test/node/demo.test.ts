/** `punchline demo` end to end (real core): transfers, verifies, exits 0; bad flags exit 2. */
import { describe, it, expect, vi } from 'vitest';
import { run } from '../../src/cli/commands/demo.js';

describe('punchline demo', () => {
  it('transfers over several streams, verifies and prints stats', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const code = await run(['--bytes', '4M', '--streams', '3']);
      expect(code).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const out = lines.join('');
    expect(out).toContain('all 3 streams verified');
    expect(out).toMatch(/transferred 4\.0 MiB in [\d.]+ s: [\d.]+ [MG]bit\/s/);
    expect(out).toMatch(/RTT\s+smoothed [\d.]+ ms/);
    expect(out).toMatch(/cwnd\s+\d+ KiB/);
  });

  it('rejects bad options with exit code 2', async () => {
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await run(['--streams', '0'])).toBe(2);
      expect(await run(['--bogus', '1'])).toBe(2);
    } finally {
      spy.mockRestore();
    }
  });
});
