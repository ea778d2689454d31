/**
 * Can this machine run the lab? Root, working network namespaces and nftables. Tests use this to
 * skip with the reason instead of silently passing.
 */
import { exec } from './exec.js';

export interface Availability {
  readonly available: boolean;
  /** Why the lab cannot run (empty when available). */
  readonly reason: string;
}

export async function labAvailability(): Promise<Availability> {
  if (process.platform !== 'linux') return { available: false, reason: 'the NAT lab needs Linux network namespaces' };
  if (process.getuid?.() !== 0)
    return { available: false, reason: 'the NAT lab needs root (network namespaces and nftables)' };
  for (const tool of [
    ['ip', '-V'],
    ['nft', '--version'],
    ['tc', '-V'],
  ]) {
    try {
      await exec(tool);
    } catch {
      return { available: false, reason: `'${tool[0] ?? ''}' is not installed (apt-get install iproute2 nftables)` };
    }
  }
  const probe = `plchk-${process.pid}`;
  try {
    await exec(['ip', 'netns', 'add', probe]);
    await exec(['ip', 'netns', 'exec', probe, 'nft', 'list', 'ruleset']);
  } catch (error) {
    return {
      available: false,
      reason: `network namespaces or nftables unusable: ${error instanceof Error ? error.message : String(error)}`,
    };
  } finally {
    await exec(['ip', 'netns', 'delete', probe]).catch(() => undefined);
  }
  return { available: true, reason: '' };
}
