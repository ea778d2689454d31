/**
 * Server epoch validation (RFC 6887 §8.5, the same rule NAT-PMP states in RFC 6886 §3.6): a gateway
 * that lost its state (reboot, daemon restart, new WAN address) restarts its epoch counter, and the
 * client must then re-create its mappings at once instead of waiting for the next renewal.
 *
 * The first epoch seen is accepted. After that an epoch is invalid — the gateway restarted — when
 * it went back by more than one second, or when the time that passed for the server and for us
 * differ by more than 1/16 plus 2 seconds in either direction.
 */
export class EpochTracker {
  private previousServer: number | undefined;
  private previousClientMs = 0;

  /** Feeds the epoch of a valid response at `nowMs`; true when it reveals a gateway restart. */
  observe(serverEpoch: number, nowMs: number): boolean {
    const previous = this.previousServer;
    const previousClient = this.previousClientMs;
    this.previousServer = serverEpoch;
    this.previousClientMs = nowMs;
    if (previous === undefined) return false;
    if (serverEpoch + 1 < previous) return true;
    const clientDelta = (nowMs - previousClient) / 1000;
    const serverDelta = serverEpoch - previous;
    return clientDelta + 2 < serverDelta - serverDelta / 16 || serverDelta + 2 < clientDelta - clientDelta / 16;
  }

  /** Forget the history (a new gateway). */
  reset(): void {
    this.previousServer = undefined;
    this.previousClientMs = 0;
  }
}
