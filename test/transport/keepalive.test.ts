import { describe, expect, it } from 'vitest';
import {
  KEEPALIVE_MAX_MS,
  KEEPALIVE_MIN_MS,
  KeepAliveSchedule,
  ReceiveGapProbe,
} from '../../src/transport/keepalive.js';

/**
 * A NAT that forgets a mapping after `lifetimeMs` of quiet, driven by keepalives alone for
 * `durationMs`. Returns the keepalives sent and how long the mapping was absent.
 */
function idleBehindNat(k: KeepAliveSchedule, lifetimeMs: number, durationMs: number) {
  let now = 0;
  let sent = 0;
  let absentMs = 0;
  while (now < durationMs) {
    const gap = k.intervalMs;
    now += gap;
    sent++;
    if (gap >= lifetimeMs) {
      absentMs += gap - lifetimeMs;
      k.onMappingLost(gap);
    } else k.onQuietSurvived(gap);
  }
  return { sent, absentMs, intervalMs: k.intervalMs };
}

describe('keepalive interval matched to the NAT', () => {
  it('behind a 5 s NAT, learns an interval below the lifetime within a few keepalives', () => {
    const k = new KeepAliveSchedule({ initialMs: 15_000 });
    k.limitToIdleTimeout(30_000);
    const first = idleBehindNat(k, 5_000, 40_000);
    expect(k.intervalMs).toBeLessThan(5_000);
    // from then on the mapping lapses at most briefly while the cautious growth finds the edge, then
    // never again
    const after = idleBehindNat(k, 5_000, 600_000);
    expect(after.absentMs).toBeLessThan(1_000);
    expect(k.intervalMs).toBeLessThan(5_000);
    expect(idleBehindNat(k, 5_000, 600_000).absentMs).toBe(0);
    expect(first.absentMs).toBeGreaterThan(0);
    expect(k.stats().mappingLostMs).toBeLessThanOrEqual(15_000);
  });

  it('behind a 120 s NAT, grows to at most one keepalive per ~25 s and never loses the mapping', () => {
    const k = new KeepAliveSchedule({ initialMs: 15_000 });
    k.limitToIdleTimeout(30_000);
    const r = idleBehindNat(k, 120_000, 600_000);
    expect(r.absentMs).toBe(0);
    expect(k.intervalMs).toBe(25_000);
    const later = idleBehindNat(k, 120_000, 600_000);
    expect(later.sent).toBeLessThanOrEqual(Math.ceil(600_000 / 25_000));
  });

  it('seeded from a measured lifetime, starts below it without losing the mapping once', () => {
    const k = new KeepAliveSchedule({ initialMs: 15_000 });
    k.limitToIdleTimeout(30_000);
    k.seed(5_000, 10_000); // the lifetime probe: alive at 5 s, gone at 10 s
    expect(k.intervalMs).toBeLessThan(5_000);
    expect(idleBehindNat(k, 7_000, 120_000).absentMs).toBe(0);
  });

  it('a seed that outlived the probe maximum keeps a long interval', () => {
    const k = new KeepAliveSchedule({ initialMs: 15_000 });
    k.seed(300_000, null);
    expect(k.intervalMs).toBe(KEEPALIVE_MAX_MS);
  });

  it('shortens fast, lengthens slowly, never into a gap that lost the mapping', () => {
    const k = new KeepAliveSchedule({ initialMs: 10_000 });
    k.onMappingLost(10_000);
    const short = k.intervalMs;
    // once a mapping was lost, one success is not enough to grow
    expect(short).toBeLessThan(5_000);
    k.onQuietSurvived(short);
    k.onQuietSurvived(short);
    expect(k.intervalMs).toBe(short); // one success is not enough
    for (let i = 0; i < 30; i++) k.onQuietSurvived(k.intervalMs);
    expect(k.intervalMs).toBeLessThan(10_000);
  });

  it('a NAT that changed (a longer gap survives) lifts the old ceiling', () => {
    const k = new KeepAliveSchedule({ initialMs: 10_000 });
    k.onMappingLost(8_000);
    k.onQuietSurvived(20_000);
    expect(k.stats().mappingLostMs).toBe(Infinity);
    expect(k.stats().mappingAliveMs).toBe(20_000);
  });

  it('stays within its floor and ceiling and below the idle timeout', () => {
    const k = new KeepAliveSchedule({ initialMs: 15_000 });
    for (let i = 0; i < 10; i++) k.onMappingLost(100);
    expect(k.intervalMs).toBe(KEEPALIVE_MIN_MS);
    const l = new KeepAliveSchedule({ initialMs: 60_000 });
    l.limitToIdleTimeout(10_000);
    expect(l.intervalMs).toBe(5_000);
    l.onMappingLost(Number.NaN);
    l.onQuietSurvived(-1);
    expect(l.intervalMs).toBe(5_000);
  });
});

describe('receive-gap probe (a silent receiver whose NAT forgot the mapping)', () => {
  it('speaks up after 2 PTO (≥ 200 ms) of silence mid-transfer, twice at most', () => {
    const g = new ReceiveGapProbe();
    for (let t = 0; t < 1000; t += 1) g.onAckElicitingReceived(t, 30);
    expect(g.deadline).toBe(999 + 200);
    expect(g.onTimeout(1100)).toBe(false);
    expect(g.onTimeout(1199)).toBe(true);
    expect(g.deadline).toBe(999 + 400);
    expect(g.onTimeout(1399)).toBe(true);
    expect(g.deadline).toBe(Infinity);
  });

  it('a lone keepalive from the peer does not arm it', () => {
    const g = new ReceiveGapProbe();
    g.onAckElicitingReceived(0, 30);
    expect(g.deadline).toBe(Infinity);
    g.onAckElicitingReceived(15_000, 30);
    expect(g.deadline).toBe(Infinity);
  });

  it('scales with the PTO on a long path', () => {
    const g = new ReceiveGapProbe();
    g.onAckElicitingReceived(0, 400);
    g.onAckElicitingReceived(10, 400);
    expect(g.deadline).toBe(810);
    g.disarm();
    expect(g.deadline).toBe(Infinity);
  });
});

describe('keepalive growth without evidence of loss', () => {
  it('behind a 120 s NAT reaches 25 s within three keepalives', () => {
    const k = new KeepAliveSchedule({ initialMs: 15_000 });
    k.limitToIdleTimeout(30_000);
    k.onQuietSurvived(15_000);
    k.onQuietSurvived(k.intervalMs);
    k.onQuietSurvived(k.intervalMs);
    expect(k.intervalMs).toBe(25_000);
  });
});
