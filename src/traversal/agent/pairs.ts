/**
 * Candidate pairs and their order (RFC 8445 §6.1.2). The endpoint has ONE socket, so every local
 * candidate has the same base and pruning (§6.1.2.4) leaves one pair per remote address: the pair's
 * local side is the socket, and its priority uses the local candidate the peer would see on that
 * pair (our host candidate towards a host candidate, our public candidate otherwise). Pair priority
 * (§6.1.2.3), G the controlling agent's candidate priority and D the controlled one's:
 *
 *   pair priority = 2^32 · MIN(G, D) + 2 · MAX(G, D) + (G > D ? 1 : 0)
 */
import { isIP } from 'node:net';
import type { Address } from '../../transport/api.js';
import type { Candidate } from '../rendezvous/messages.js';
import { candidatePriority, isUsableRemote, type LocalCandidateType } from './candidates.js';

export type Role = 'controlling' | 'controlled';

export interface CandidatePair {
  readonly remote: Address;
  readonly remoteType: LocalCandidateType;
  readonly localType: LocalCandidateType;
  readonly priority: number;
}

/** RFC 8445 §6.1.2.3. */
export function pairPriority(role: Role, local: number, remote: number): number {
  const g = role === 'controlling' ? local : remote;
  const d = role === 'controlling' ? remote : local;
  return 2 ** 32 * Math.min(g, d) + 2 * Math.max(g, d) + (g > d ? 1 : 0);
}

function bestOf(local: readonly Candidate[], types: readonly string[]): Candidate | undefined {
  let best: Candidate | undefined;
  for (const c of local) if (types.includes(c.type) && (!best || (c.priority ?? 0) > (best.priority ?? 0))) best = c;
  return best;
}

/**
 * Forms and orders the check list: one pair per remote candidate of our socket's address family,
 * highest priority first (§6.1.2.5 ordering; the list is already pruned, see above).
 */
export function formPairs(
  role: Role,
  family: 4 | 6,
  local: readonly Candidate[],
  remote: readonly Candidate[],
): CandidatePair[] {
  const localHost = bestOf(local, ['host']);
  const localPublic = bestOf(local, ['mapped', 'srflx']) ?? localHost;
  const pairs: CandidatePair[] = [];
  const seen = new Set<string>();
  for (const r of remote) {
    if (isIP(r.host) !== family || !isUsableRemote(r)) continue;
    const k = `${r.host}|${r.port}`;
    if (seen.has(k)) continue;
    seen.add(k);
    const l = r.type === 'host' ? localHost : localPublic;
    const localType = (l?.type ?? 'host') as LocalCandidateType;
    const lp = l?.priority ?? candidatePriority(localType, 0);
    const rp = r.priority ?? candidatePriority(r.type, 0);
    pairs.push({
      remote: { host: r.host, port: r.port },
      remoteType: r.type,
      localType,
      priority: pairPriority(role, lp, rp),
    });
  }
  return pairs.sort((a, b) => b.priority - a.priority);
}

/** A peer-reflexive pair learnt from an authenticated check from an unknown address (§7.3.1.3). */
export function peerReflexivePair(role: Role, remote: Address, localPriority: number): CandidatePair {
  return {
    remote: { host: remote.host, port: remote.port },
    remoteType: 'prflx',
    localType: 'srflx',
    priority: pairPriority(role, localPriority, candidatePriority('prflx', 0)),
  };
}
