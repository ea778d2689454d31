/**
 * NAT mapping behaviour learnt cheaply on the endpoint's own socket (spec/traversal.md §Behaviour):
 * the server-reflexive address seen by two server addresses (RFC 5780 §4.3 test II, minus the
 * CHANGE-REQUEST round trips). The same external address towards both means endpoint-independent
 * mapping (RFC 4787 §4.1, "easy"); a different one means the NAT maps per destination ("hard":
 * address- or address-and-port-dependent). No NAT at all (the reflexive address is one of ours)
 * counts as endpoint-independent.
 */
import type { Address } from '../../transport/api.js';

export type MappingKind = 'eim' | 'edm' | 'unknown';

export function classifyMapping(
  primary: Address | null,
  alternate: Address | null,
  localAddresses: readonly Address[] = [],
): MappingKind {
  if (primary && localAddresses.some((a) => a.host === primary.host && a.port === primary.port)) return 'eim';
  if (!primary || !alternate) return 'unknown';
  return primary.host === alternate.host && primary.port === alternate.port ? 'eim' : 'edm';
}
