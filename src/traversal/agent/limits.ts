/**
 * Timers and limits of the traversal agent, in one place (spec/traversal.md §Timers and limits).
 * Every probe the agent may send is counted against one of these bounds, so a confused or hostile
 * peer cannot make it send more (spec/traversal.md §Bounds).
 */
export interface TraversalLimits {
  /** Pacing of connectivity checks: at most one probe per this many ms (RFC 8445 §14.2's Ta). */
  readonly checkPacingMs: number;
  /** First retransmission timeout of a pair's probe; doubled on each retransmission. */
  readonly checkRtoMs: number;
  /** Probes per pair per attempt (the first and its retransmissions). */
  readonly checkTransmissions: number;
  /** An attempt without a validated pair ends after this long (birthday attempts: birthdayDurationMs). */
  readonly attemptTimeoutMs: number;
  /** Extra sockets the hard side opens for a birthday search (RFC 4787 symmetric NATs). */
  readonly birthdaySockets: number;
  /** IP TTL of each extra socket's first datagram: enough to open its own NAT(s), not to reach the peer. */
  readonly birthdayTtl: number;
  /** Probes per second the easy side sprays at the hard side's random ports. */
  readonly birthdaySprayRate: number;
  /** Extra sockets the hard side opens per second (each sends its one low-TTL datagram). */
  readonly birthdayOpenRate: number;
  /** Time cap of one birthday search. */
  readonly birthdayDurationMs: number;
  /** The extra sockets stay open this long after the first validated pair (the peer's pick may differ). */
  readonly birthdayGraceMs: number;
  /** Lowest port sprayed (NATs allocate from the dynamic range; 1024 covers Linux's default). */
  readonly birthdayMinPort: number;
  /** Consent freshness on the selected pair (RFC 7675 §5.1): one probe per this interval... */
  readonly consentIntervalMs: number;
  /** ...and the pair is lost when no reply came for this long. */
  readonly consentTimeoutMs: number;
  /** Peer-reflexive pairs learnt from checks (RFC 8445 §7.3.1.3) per attempt. */
  readonly maxPeerReflexive: number;
  /** Replies to authenticated probes: token bucket rate (per s) and burst. */
  readonly replyRate: number;
  readonly replyBurst: number;
  /** Hard cap on probes sent by one session over its whole life (checks, spray, consent). */
  readonly maxProbes: number;
}

export const DEFAULT_TRAVERSAL_LIMITS: TraversalLimits = {
  checkPacingMs: 5,
  checkRtoMs: 100,
  checkTransmissions: 7,
  attemptTimeoutMs: 6_000,
  birthdaySockets: 256,
  birthdayTtl: 3,
  birthdaySprayRate: 1000,
  birthdayOpenRate: 2000,
  birthdayDurationMs: 14_000,
  birthdayGraceMs: 1_000,
  birthdayMinPort: 1024,
  consentIntervalMs: 2_000,
  consentTimeoutMs: 8_000,
  maxPeerReflexive: 8,
  replyRate: 400,
  replyBurst: 400,
  maxProbes: 20_000,
};
