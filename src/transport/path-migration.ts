/**
 * What the connection does about its peer's addresses (RFC 9000 §8.2, §9), sans-IO: a packet from a
 * new address starts validation (as the migration policy allows), probePath validates an address of
 * our choosing, a PATH_RESPONSE switches the active path — restarting congestion control and RTT
 * estimation when the host changed — and a validation that times out leaves the connection where it
 * was. The paths (paths.ts) keep the per-path state; the connection only routes frames and timers here
 * and rotates its connection ID on a switch.
 */
import type { Address, RandomSource } from './api.js';
import { congestionControllerFor, type TransportConfig } from './config.js';
import type { RemoteConnectionIds } from './connection-ids.js';
import { MigrationPolicy } from './migration.js';
import type { Path } from './path.js';
import type { Paths } from './paths.js';
import type { PathMtuDiscovery } from './pmtud.js';
import type { LossDetection } from './recovery/loss-detection.js';
import type { RttEstimator } from './recovery/rtt-estimator.js';

export class PathMigration {
  /** What a packet from a new peer address may change (RFC 9000 §9.3, §9.4). */
  private readonly policy = new MigrationPolicy();

  constructor(
    private readonly paths: Paths,
    private readonly rtt: RttEstimator,
    private readonly recovery: LossDetection,
    private readonly pmtud: PathMtuDiscovery | null,
    private readonly config: TransportConfig,
    private readonly random: RandomSource,
    /** The peer's connection IDs once the handshake issued them (null before). */
    private readonly remoteIds: () => RemoteConnectionIds | null,
  ) {}

  /**
   * An authenticated packet from an address other than the active path's (RFC 9000 §9.3). It moves
   * nothing: the address is validated first (PATH_CHALLENGE outside the congestion window, on the
   * probe timer), the connection keeps sending to the validated address meanwhile, and switches only
   * when the PATH_RESPONSE arrives. So a copy of a genuine packet re-sent from an attacker's address
   * (or a spoofed victim's) gains nothing, and a real NAT rebinding costs one round trip. Returns
   * false when the packet is to be ignored (a reordered one from an old path: `pn` not above the
   * largest received).
   */
  onPacketFromNewAddress(from: Address, pn: number, largestReceived: number, length: number, now: number): boolean {
    const probed = this.paths.probed(from);
    if (probed !== null) {
      probed.onReceived(length); // more anti-amplification budget for the challenge (RFC 9000 §8)
      return true;
    }
    if (pn <= largestReceived) return false; // reordered packet from an old path: ignore rather than flap
    if (!this.policy.onPacketFromNewAddress(from, now)) return true;
    this.startValidation(from, false, now);
    this.paths.probed(from)?.onReceived(length);
    return true;
  }

  /** Probes `remote` (probePath's timers, RFC 9000 §8.2.4); `chosenLocally` false: amplification-limited. */
  startValidation(remote: Address, chosenLocally: boolean, now: number): void {
    const maxAckDelay = this.recovery.peerMaxAckDelay;
    const pto = this.rtt.pto(maxAckDelay);
    const initialPto = 3 * this.config.initialRttMs + maxAckDelay;
    // A path probed again keeps its ID; a new one gets an unused ID of the peer, so that even its first
    // PATH_CHALLENGE carries no ID seen on another path (RFC 9000 §9.5).
    const kept = this.paths.probed(remote)?.connectionId ?? null;
    if (!this.paths.probe(remote, this.random, now, pto, 3 * Math.max(pto, initialPto), chosenLocally)) return;
    const id = kept ?? this.remoteIds()?.reserve() ?? null;
    if (id !== null) this.paths.probed(remote)?.useConnectionId(id);
  }

  /**
   * A PATH_RESPONSE. Returns the new active address when it validated a probed path, else null.
   * RFC 9000 §9.4: congestion control and RTT estimation start over on a new path — but only when
   * the host changed: a port-only change is a NAT rebinding on the same network path, and restarting
   * from the initial window would only stall.
   */
  onPathResponse(data: Uint8Array, now: number): Path | null {
    const previous = this.paths.active.remote;
    const validated = this.paths.onResponse(data, now);
    if (validated === null) return null;
    const { resetCongestion } = this.policy.onValidated(previous, validated.remote);
    if (resetCongestion) this.restartPathEstimates(now);
    return validated;
  }

  /**
   * What one path taught says nothing about another: RTT estimation and congestion control start
   * over (RFC 9000 §9.4), path MTU discovery too (RFC 8899 §4.3). After a validated move to a new
   * host, and when the adapter moved the connection onto another network path behind the same
   * address (a relay ↔ direct switch).
   */
  restartPathEstimates(now: number): void {
    this.pmtud?.reset(now);
    this.rtt.reset();
    this.recovery.resetCongestion(congestionControllerFor(this.config, this.config.maxUdpPayloadSize));
  }

  /** The path-validation timer: the addresses whose validation failed (the connection stayed). */
  onTimeout(now: number): Address[] {
    const failed: Address[] = [];
    for (const path of this.paths.onTimeout(now)) {
      // Its ID was seen on the failed path: never use it on another (RFC 9000 §9.5).
      if (path.connectionId !== null) this.remoteIds()?.release(path.connectionId.sequence);
      this.policy.onValidationFailed(path.remote);
      failed.push(path.remote);
    }
    return failed;
  }
}
