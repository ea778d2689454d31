import { describe, expect, it } from 'vitest';
import { MigrationPolicy, sameHost } from '../../src/transport/migration.js';

const peer = { host: '203.0.113.5', port: 4000 };
const rebound = { host: '203.0.113.5', port: 4001 };
const moved = { host: '198.51.100.9', port: 4000 };

describe('migration policy (RFC 9000 §9.3, §9.4)', () => {
  it('validates a new address once at a time, however many copies arrive from it', () => {
    const m = new MigrationPolicy();
    expect(m.onPacketFromNewAddress(rebound, 0)).toBe(true);
    for (let i = 0; i < 10; i++) expect(m.onPacketFromNewAddress(rebound, i)).toBe(false);
    expect(m.stats().probesStarted).toBe(1);
  });

  it('rate-limits validations of many new addresses (spoofed copies)', () => {
    const m = new MigrationPolicy({ burst: 3, ratePerSecond: 1 });
    let started = 0;
    for (let i = 0; i < 50; i++) if (m.onPacketFromNewAddress({ host: '192.0.2.1', port: 1000 + i }, 0)) started++;
    expect(started).toBe(3);
    expect(m.onPacketFromNewAddress({ host: '192.0.2.1', port: 2000 }, 999)).toBe(false);
    expect(m.onPacketFromNewAddress({ host: '192.0.2.1', port: 2001 }, 1000)).toBe(true);
    expect(m.stats().probesSuppressed).toBe(48);
  });

  it('a failed validation frees the address for a later attempt', () => {
    const m = new MigrationPolicy();
    m.onPacketFromNewAddress(rebound, 0);
    m.onValidationFailed(rebound);
    expect(m.stats().validationsFailed).toBe(1);
    expect(m.onPacketFromNewAddress(rebound, 5000)).toBe(true);
  });

  it('resets congestion state only when the host changed, not on a port-only NAT rebinding', () => {
    const m = new MigrationPolicy();
    m.onPacketFromNewAddress(rebound, 0);
    expect(m.onValidated(peer, rebound)).toEqual({ resetCongestion: false });
    m.onPacketFromNewAddress(moved, 0);
    expect(m.onValidated(rebound, moved)).toEqual({ resetCongestion: true });
    expect(m.stats().migrations).toBe(2);
    expect(sameHost(peer, rebound)).toBe(true);
  });
});
