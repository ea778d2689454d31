/**
 * Which punching technique an attempt uses, from both sides' NAT mapping behaviour
 * (spec/traversal.md §Strategy). Both sides run the same rules with "local" and "remote" swapped,
 * so they always agree on their roles without another message.
 *
 *   local \ remote   eim / unknown                 edm (hard)
 *   eim / unknown    simultaneous open             birthday: we spray the peer's ports
 *   edm (hard)       birthday: we open sockets     relay only (no port is predictable)
 *
 * A port mapping (NAT-PMP/PCP/UPnP) makes a side reachable at a fixed address: it counts as eim.
 * A side whose UDP does not reach the server cannot punch at all: relay only. Every attempt also
 * runs the ordinary checks over all candidate pairs (same LAN, same NAT with hairpinning, public
 * hosts), so the technique only adds to them.
 */
import type { MappingKind } from './nat-behaviour.js';

export type Technique = 'simultaneous-open' | 'birthday-spray' | 'birthday-sockets' | 'relay-only';

export interface SideProfile {
  readonly mapping: MappingKind;
  readonly udp: boolean;
  /** Sockets the side consents to open for a birthday search. */
  readonly birthdaySockets: number;
  /** The side offered a port-mapped candidate. */
  readonly mapped: boolean;
}

/** Most attempts per connection before the agent settles for the relay (each uses fresh pairs). */
export const MAX_ATTEMPTS = 3;

function hard(side: SideProfile): boolean {
  return side.mapping === 'edm' && !side.mapped;
}

/** The technique of attempt `attempt` (0-based); retries switch technique where another one exists. */
export function chooseTechnique(local: SideProfile, remote: SideProfile, attempt: number): Technique {
  if (!local.udp || !remote.udp) return 'relay-only';
  const localHard = hard(local);
  const remoteHard = hard(remote);
  if (localHard && remoteHard) return 'relay-only';
  if (localHard) return remote.birthdaySockets >= 0 && local.birthdaySockets > 0 ? 'birthday-sockets' : 'relay-only';
  if (remoteHard) return remote.birthdaySockets > 0 ? 'birthday-spray' : 'relay-only';
  // Both easy (or unknown): a plain simultaneous open; if it failed twice, one unknown side may be
  // hard after all — the side that did not measure sprays, which costs the other side nothing.
  if (attempt >= 2 && local.mapping === 'eim' && remote.mapping === 'unknown' && remote.birthdaySockets > 0)
    return 'birthday-spray';
  if (attempt >= 2 && local.mapping === 'unknown' && remote.mapping === 'eim' && local.birthdaySockets > 0)
    return 'birthday-sockets';
  return 'simultaneous-open';
}
