/** `punchline demo` end to end: a generated tree sent by code through a local server, every file verified. */
import { describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/commands/demo.js';
import { labAvailability } from '../../src/lab/availability.js';

const lab = await labAvailability();

async function demo(argv: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await run(argv);
    return { code, text: lines.join('') };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('punchline demo', () => {
  it('loopback: sends a generated tree by code, verifies every file and says where it ran', async () => {
    const { code, text } = await demo(['--bytes', '3M', '--loopback']);
    expect(code).toBe(0);
    expect(text).toMatch(/running over loopback with a local server \(--loopback\)/);
    expect(text).toMatch(/\$ punchline receive \d+-[a-z]+-[a-z]+ --out/);
    expect(text).toMatch(/verified all (\d+) files against their source \(BLAKE2b\)/);
  }, 60_000);

  it.runIf(lab.available)(
    'lab: easy NAT to hard NAT, commands in their own namespaces',
    async () => {
      const { code, text } = await demo(['--bytes', '2M']);
      expect(code).toBe(0);
      expect(text).toMatch(/lab: sender behind an easy NAT/);
      expect(text).toMatch(/rcv-host1\$ punchline receive \d+-[a-z]+-[a-z]+/);
      expect(text).toMatch(/verified all (\d+) files against their source \(BLAKE2b\): .*(direct|relay)/);
    },
    180_000,
  );

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
