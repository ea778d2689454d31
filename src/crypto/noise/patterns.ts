/**
 * The Noise handshake patterns punchline uses (Noise rev 34 §7.5 and §9.4), and their one-byte ids
 * carried as the first byte of the long-header payload (spec/crypto.md §Handshake messages).
 *
 *   IK:      <- s   ...   -> e, es, s, ss        <- e, ee, se
 *   IKpsk2:  <- s   ...   -> e, es, s, ss        <- e, ee, se, psk
 *   XX:      -> e           <- e, ee, s, es      -> s, se
 *   XXpsk3:  -> e           <- e, ee, s, es      -> s, se, psk
 */

export type HandshakePattern = 'IK' | 'XX';
type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss' | 'psk';

export interface PatternDefinition {
  /** Full pattern name including psk modifier, e.g. "IKpsk2". */
  readonly name: string;
  /** The base pattern (what HandshakeState.initiator/responder take, with `psk` when usesPsk). */
  readonly base: HandshakePattern;
  /** Byte 0 of each handshake long-header payload. */
  readonly id: number;
  readonly usesPsk: boolean;
  /** Pre-message: does the initiator know the responder's static key? */
  readonly responderStaticPremessage: boolean;
  /** messages[i] is sent by the initiator when i is even. */
  readonly messages: readonly (readonly Token[])[];
}

export const PATTERNS: Readonly<Record<string, PatternDefinition>> = {
  IK: {
    name: 'IK',
    base: 'IK',
    id: 0x01,
    usesPsk: false,
    responderStaticPremessage: true,
    messages: [
      ['e', 'es', 's', 'ss'],
      ['e', 'ee', 'se'],
    ],
  },
  XX: {
    name: 'XX',
    base: 'XX',
    id: 0x02,
    usesPsk: false,
    responderStaticPremessage: false,
    messages: [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']],
  },
  IKpsk2: {
    name: 'IKpsk2',
    base: 'IK',
    id: 0x03,
    usesPsk: true,
    responderStaticPremessage: true,
    messages: [
      ['e', 'es', 's', 'ss'],
      ['e', 'ee', 'se', 'psk'],
    ],
  },
  XXpsk3: {
    name: 'XXpsk3',
    base: 'XX',
    id: 0x04,
    usesPsk: true,
    responderStaticPremessage: false,
    messages: [['e'], ['e', 'ee', 's', 'es'], ['s', 'se', 'psk']],
  },
};

/** The pattern for a base pattern with or without a psk: IK→IKpsk2, XX→XXpsk3 (spec/crypto.md). */
export function resolvePattern(pattern: HandshakePattern, withPsk: boolean): PatternDefinition {
  const name = withPsk ? (pattern === 'IK' ? 'IKpsk2' : 'XXpsk3') : pattern;
  return PATTERNS[name]!;
}

/** Looks a pattern up by its wire id; undefined for unknown ids. */
export function patternById(id: number): PatternDefinition | undefined {
  return Object.values(PATTERNS).find((p) => p.id === id);
}

export function protocolName(pattern: PatternDefinition): string {
  return `Noise_${pattern.name}_25519_ChaChaPoly_BLAKE2b`;
}
