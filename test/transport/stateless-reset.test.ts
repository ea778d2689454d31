import { describe, expect, it } from 'vitest';
import { systemRandom } from '../../src/crypto/sodium.js';
import {
  deriveResetKey,
  MIN_STATELESS_RESET_LENGTH,
  PREFERRED_STATELESS_RESET_LENGTH,
  RESET_TOKEN_LENGTH,
  ResetTokenTable,
  resetToken,
  StatelessResetSender,
} from '../../src/transport/stateless-reset.js';

const privateA = new Uint8Array(32).fill(7);
const privateB = new Uint8Array(32).fill(9);
const cid = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);

function shortPacket(length: number, dcid = cid): Uint8Array {
  const p = new Uint8Array(length);
  systemRandom(p);
  p[0] = 0x40 | ((p[0] as number) & 0x07);
  p.set(dcid, 1);
  return p;
}

describe('stateless reset (RFC 9000 §10.3, spec/wire.md §5.3.2)', () => {
  it('the token depends on the identity and the connection ID, and survives a restart', () => {
    const t1 = resetToken(deriveResetKey(privateA), cid);
    expect(t1.length).toBe(RESET_TOKEN_LENGTH);
    // the same identity after a restart derives the same token
    expect(resetToken(deriveResetKey(privateA.slice()), cid)).toEqual(t1);
    expect(resetToken(deriveResetKey(privateB), cid)).not.toEqual(t1);
    expect(resetToken(deriveResetKey(privateA), Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 9]))).not.toEqual(t1);
  });

  it('a restarted endpoint answers a packet of an old connection with a reset the peer recognises', () => {
    const key = deriveResetKey(privateA);
    const table = new ResetTokenTable<string>();
    table.add(resetToken(key, cid), 'connection to A');
    const sender = new StatelessResetSender({ resetKey: deriveResetKey(privateA), random: systemRandom });
    const out = new Uint8Array(1500);
    const trigger = shortPacket(1200);
    const n = sender.write(trigger, trigger.length, 0, out);
    expect(n).toBeGreaterThanOrEqual(PREFERRED_STATELESS_RESET_LENGTH);
    expect(n).toBeLessThan(trigger.length);
    expect((out[0] as number) & 0xc0).toBe(0x40); // looks like a short header
    expect(table.match(out, n)).toBe('connection to A');
  });

  it('is always smaller than its trigger and never below 27 bytes', () => {
    const sender = new StatelessResetSender({ resetKey: deriveResetKey(privateA), random: systemRandom, burst: 100 });
    const out = new Uint8Array(1500);
    for (const len of [28, 30, 40, 41, 45, 100]) {
      const n = sender.write(shortPacket(len), len, 0, out);
      expect(n).toBeLessThan(len);
      expect(n).toBeGreaterThanOrEqual(MIN_STATELESS_RESET_LENGTH);
    }
    expect(sender.write(shortPacket(27), 27, 0, out)).toBe(0);
    expect(sender.write(shortPacket(9), 9, 0, out)).toBe(0);
  });

  it('is rate-limited', () => {
    const sender = new StatelessResetSender({
      resetKey: deriveResetKey(privateA),
      random: systemRandom,
      burst: 5,
      ratePerSecond: 10,
    });
    const out = new Uint8Array(1500);
    let sent = 0;
    for (let i = 0; i < 100; i++) if (sender.write(shortPacket(200), 200, 0, out) > 0) sent++;
    expect(sent).toBe(5);
    for (let i = 0; i < 100; i++) if (sender.write(shortPacket(200), 200, 1000, out) > 0) sent++;
    expect(sent).toBe(10);
    expect(sender.suppressed).toBe(190);
  });

  it('detection ignores long headers, short datagrams and unknown tokens; forgets closed connections', () => {
    const key = deriveResetKey(privateA);
    const table = new ResetTokenTable<number>();
    const token = resetToken(key, cid);
    table.add(token, 1);
    table.add(token, 1);
    expect(table.count).toBe(1);
    const reset = shortPacket(50);
    reset.set(token, 50 - RESET_TOKEN_LENGTH);
    expect(table.match(reset)).toBe(1);
    const long = reset.slice();
    long[0] = 0xc0;
    expect(table.match(long)).toBeNull();
    expect(table.match(reset.subarray(reset.length - 26))).toBeNull();
    const other = reset.slice();
    other[other.length - 1] = ((other[other.length - 1] as number) ^ 1) & 0xff;
    expect(table.match(other)).toBeNull();
    table.removeOwner(1);
    expect(table.match(reset)).toBeNull();
    expect(table.count).toBe(0);
    table.add(token, 2);
    table.remove(token, 2);
    expect(table.count).toBe(0);
  });
});
