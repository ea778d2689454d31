/**
 * Stateless reset (RFC 9000 §10.3, spec/wire.md §5.3.2), sans-IO.
 *
 * **Token derivation** (RFC 9000 §10.3.2): token = BLAKE2b-128 keyed with the endpoint's reset key,
 * over the connection ID. The reset key is derived from the endpoint's static private key, so an
 * endpoint that restarted with the same identity computes the same token for a connection ID its
 * previous incarnation issued, and can end the peer's stale connection at once; nobody without the
 * private key can compute a token (a token is sent only inside encrypted NEW_CONNECTION_ID frames).
 *
 * **Sending** (`StatelessResetSender`): for a short-header datagram that matches no connection, a
 * datagram that looks like a short-header packet (first byte `0b01xxxxxx`, random bytes) and ends
 * with the token for its destination connection ID. It is smaller than the datagram that triggered
 * it (RFC 9000 §10.3.3, so two endpoints cannot loop), at least 27 bytes (spec/wire.md §5.3.2), 40
 * and more when the trigger allows, and rate-limited (a token bucket), so it cannot be used to
 * amplify or to flood.
 *
 * **Detection** (RFC 9000 §10.3.1): a short-header datagram that routes to no connection, or that
 * fails to authenticate on the connection it routes to, is compared by its last 16 bytes (in
 * constant time) with the tokens of the connection IDs the peer issued; a hit ends that connection
 * without a reply. Only tokens of IDs in use or used count: "An endpoint MUST NOT check for any
 * stateless reset tokens associated with connection IDs it has not used or for connection IDs that
 * have been retired." The connection's own list (connection-ids.ts, `endsWithToken`) is the
 * authority; `ResetTokenTable` is the endpoint's index from a token to its connection, for datagrams
 * that route to none.
 */
import { type RandomSource, sodium } from '../crypto/sodium.js';
import { CONNECTION_ID_LENGTH } from '../wire/types.js';

export const RESET_TOKEN_LENGTH = 16;
/** The smallest short-header packet (spec/wire.md §5.3): 1 + 8 + 1 + 1 + 16. */
export const MIN_STATELESS_RESET_LENGTH = 27;
/** spec/wire.md §5.3.2: SHOULD be at least this long (indistinguishable from real packets). */
export const PREFERRED_STATELESS_RESET_LENGTH = 40;
const RESET_KEY_CONTEXT = new TextEncoder().encode('punchline stateless reset key v1');
const RESET_KEY_LENGTH = 32;

/** The endpoint's reset key from its static private key (32 bytes). */
export function deriveResetKey(staticPrivateKey: Uint8Array): Uint8Array {
  const key = new Uint8Array(RESET_KEY_LENGTH);
  sodium.crypto_generichash(key, RESET_KEY_CONTEXT, staticPrivateKey);
  return key;
}

/** The stateless reset token for a connection ID we issue. */
export function resetToken(resetKey: Uint8Array, connectionId: Uint8Array, out?: Uint8Array): Uint8Array {
  const token = out ?? new Uint8Array(RESET_TOKEN_LENGTH);
  sodium.crypto_generichash(token, connectionId.subarray(0, CONNECTION_ID_LENGTH), resetKey);
  return token;
}

export interface StatelessResetSenderOptions {
  readonly resetKey: Uint8Array;
  readonly random: RandomSource;
  /** Resets per second on average (token bucket rate, default 20). */
  readonly ratePerSecond?: number;
  /** Bucket size (default 10). */
  readonly burst?: number;
}

export class StatelessResetSender {
  private readonly resetKey: Uint8Array;
  private readonly random: RandomSource;
  private readonly rate: number;
  private readonly burst: number;
  private tokens: number;
  private refilledAt = -Infinity;
  private readonly token = new Uint8Array(RESET_TOKEN_LENGTH);
  private readonly oneByte = new Uint8Array(1);
  /** Resets written. */
  sent = 0;
  /** Resets withheld by the rate limit or because the trigger was too small. */
  suppressed = 0;

  constructor(options: StatelessResetSenderOptions) {
    this.resetKey = options.resetKey;
    this.random = options.random;
    this.rate = options.ratePerSecond ?? 20;
    this.burst = options.burst ?? 10;
    this.tokens = this.burst;
  }

  /**
   * Writes a stateless reset answering `trigger` (a short-header datagram of `triggerLength` bytes
   * whose destination connection ID matches no connection) into `out`; returns its length, or 0
   * when none may be sent (too small a trigger, rate limit).
   */
  write(trigger: Uint8Array, triggerLength: number, now: number, out: Uint8Array): number {
    // Smaller than the trigger, so a reset can never trigger a reset of the same size (RFC 9000 §10.3.3).
    const max = Math.min(triggerLength - 1, out.length);
    if (max < MIN_STATELESS_RESET_LENGTH || triggerLength < 1 + CONNECTION_ID_LENGTH) {
      this.suppressed++;
      return 0;
    }
    if (!this.take(now)) {
      this.suppressed++;
      return 0;
    }
    let length = max;
    if (max > PREFERRED_STATELESS_RESET_LENGTH) {
      // Random length between the preferred minimum and the cap, as real packets vary.
      this.random(this.oneByte);
      const span = Math.min(max, PREFERRED_STATELESS_RESET_LENGTH + 32) - PREFERRED_STATELESS_RESET_LENGTH;
      length = PREFERRED_STATELESS_RESET_LENGTH + ((this.oneByte[0] as number) % (span + 1));
    }
    const body = out.subarray(0, length - RESET_TOKEN_LENGTH);
    this.random(body);
    // 0b01xxxxxx: a short header (fixed bit set, form bit clear), random low bits (RFC 9000 §10.3).
    out[0] = 0x40 | ((out[0] as number) & 0x3f);
    resetToken(this.resetKey, trigger.subarray(1, 1 + CONNECTION_ID_LENGTH), this.token);
    out.set(this.token, length - RESET_TOKEN_LENGTH);
    this.sent++;
    return length;
  }

  private take(now: number): boolean {
    if (this.refilledAt === -Infinity) this.refilledAt = now;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * The stateless reset tokens peers announced, each tied to its owner (a connection). Keyed by the
 * token's first four bytes (a small integer: no allocation per lookup), then compared whole in
 * constant time.
 */
export class ResetTokenTable<Owner> {
  private readonly byPrefix = new Map<number, { token: Uint8Array; owner: Owner }[]>();
  private size = 0;

  get count(): number {
    return this.size;
  }

  add(token: Uint8Array, owner: Owner): void {
    const key = prefix(token, 0);
    let list = this.byPrefix.get(key);
    if (list === undefined) {
      list = [];
      this.byPrefix.set(key, list);
    }
    for (const e of list) if (e.owner === owner && sodium.sodium_memcmp(e.token, token)) return;
    list.push({ token: token.slice(0, RESET_TOKEN_LENGTH), owner });
    this.size++;
  }

  remove(token: Uint8Array, owner: Owner): void {
    const key = prefix(token, 0);
    const list = this.byPrefix.get(key);
    if (list === undefined) return;
    for (let i = 0; i < list.length; i++) {
      const e = list[i] as { token: Uint8Array; owner: Owner };
      if (e.owner === owner && sodium.sodium_memcmp(e.token, token)) {
        list.splice(i, 1);
        this.size--;
        break;
      }
    }
    if (list.length === 0) this.byPrefix.delete(key);
  }

  /** Forgets every token of `owner` (the connection ended). */
  removeOwner(owner: Owner): void {
    for (const [key, list] of this.byPrefix) {
      for (let i = list.length - 1; i >= 0; i--) {
        if ((list[i] as { owner: Owner }).owner === owner) {
          list.splice(i, 1);
          this.size--;
        }
      }
      if (list.length === 0) this.byPrefix.delete(key);
    }
  }

  /**
   * The owner whose token ends `datagram[0..length)`, or null. Only for datagrams that could be a
   * stateless reset: a short header (0b01xxxxxx) of at least 27 bytes that no connection accepted.
   */
  match(datagram: Uint8Array, length: number = datagram.length): Owner | null {
    if (length < MIN_STATELESS_RESET_LENGTH || ((datagram[0] as number) & 0xc0) !== 0x40) return null;
    const start = length - RESET_TOKEN_LENGTH;
    const list = this.byPrefix.get(prefix(datagram, start));
    if (list === undefined) return null;
    const tail = datagram.subarray(start, length);
    for (const e of list) if (sodium.sodium_memcmp(e.token, tail)) return e.owner;
    return null;
  }
}

/**
 * Whether `datagram[0..length)` could be a stateless reset (a short header, 0b01xxxxxx, of at least
 * 27 bytes) that ends with `token`. Compared in constant time (RFC 9000 §10.3.1: "without leaking
 * information about the value of the token"): every byte is looked at, whatever the first mismatch.
 */
export function endsWithToken(datagram: Uint8Array, length: number, token: Uint8Array): boolean {
  if (length < MIN_STATELESS_RESET_LENGTH || ((datagram[0] as number) & 0xc0) !== 0x40) return false;
  const start = length - RESET_TOKEN_LENGTH;
  let diff = 0;
  for (let i = 0; i < RESET_TOKEN_LENGTH; i++) diff |= (token[i] as number) ^ (datagram[start + i] as number);
  return diff === 0;
}

function prefix(b: Uint8Array, at: number): number {
  return (
    (((b[at] as number) << 24) |
      ((b[at + 1] as number) << 16) |
      ((b[at + 2] as number) << 8) |
      (b[at + 3] as number)) >>>
    0
  );
}
