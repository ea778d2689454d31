/**
 * Connect requests the rendezvous core routed and that wait for the addressed peer's answer
 * (spec/rendezvous.md §connect): each expires after the request timeout, and goes when either
 * session closes. The core tells the origin; this only keeps the records.
 */
import type { PendingRequest } from './rendezvous-session.js';

export class ConnectRequests {
  private readonly byId = new Map<number, PendingRequest>();
  private nextId = 1;

  get size(): number {
    return this.byId.size;
  }

  /** Records a request from session `from` (its request `id`) to session `to`; returns its routing id. */
  add(from: number, to: number, id: number, expires: number): number {
    const rid = this.nextId++;
    this.byId.set(rid, { from, to, id, expires });
    return rid;
  }

  /** The request `rid` when it was addressed to session `by` (and forgets it); else null. */
  answer(rid: number, by: number): PendingRequest | null {
    const request = this.byId.get(rid);
    if (!request || request.to !== by) return null;
    this.byId.delete(rid);
    return request;
  }

  /** Forgets a closed session's requests; returns those addressed to it (their origins wait in vain). */
  dropSession(sessionId: number): PendingRequest[] {
    const unanswered: PendingRequest[] = [];
    for (const [rid, request] of this.byId) {
      if (request.from === sessionId) this.byId.delete(rid);
      else if (request.to === sessionId) {
        this.byId.delete(rid);
        unanswered.push(request);
      }
    }
    return unanswered;
  }

  /** Forgets and returns the requests expired at `now`. */
  expire(now: number): PendingRequest[] {
    const expired: PendingRequest[] = [];
    for (const [rid, request] of this.byId) {
      if (now < request.expires) continue;
      this.byId.delete(rid);
      expired.push(request);
    }
    return expired;
  }
}
