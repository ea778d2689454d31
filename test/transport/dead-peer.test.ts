import { describe, expect, it } from 'vitest';
import { PunchlineError } from '../../src/errors.js';
import { PeerGoneError, peerGoneError, STATELESS_RESET_CLOSE_CODE } from '../../src/transport/dead-peer.js';
import { IdleClock } from '../../src/transport/idle-clock.js';
import { TransportErrorCode } from '../../src/transport/errors.js';

describe('dead-peer detection (idle clock, RFC 9000 §10.1)', () => {
  it('with keepalives, a passive receiver whose keepalive goes out after the peer died still times out at last-receive + idle', () => {
    const t = new IdleClock(0, false);
    t.onPacketReceived(1_000); // the peer's last packet, then it dies
    t.onAckElicitingSent(16_000); // our keepalive: must not restart the clock
    t.onAckElicitingSent(17_000); // its PTO repetition
    expect(t.lastActivity).toBe(1_000);
  });

  it('an active sender counts from the last receive, however much it keeps sending', () => {
    const t = new IdleClock(0, false);
    t.onPacketReceived(5_000);
    for (let now = 5_001; now < 35_000; now += 100) t.onAckElicitingSent(now);
    expect(t.lastActivity).toBe(5_000);
  });

  it('without keepalives, the first ack-eliciting packet after a receive restarts it (RFC 9000 §10.1)', () => {
    const t = new IdleClock(0);
    t.onPacketReceived(1_000);
    t.onAckElicitingSent(20_000);
    expect(t.lastActivity).toBe(20_000);
    t.onAckElicitingSent(25_000); // not the first since the receive
    expect(t.lastActivity).toBe(20_000);
  });
});

describe('typed errors for a peer that is gone', () => {
  it('idle timeout → ERR_PUNCHLINE_PEER_UNREACHABLE', () => {
    const e = peerGoneError(
      { errorCode: TransportErrorCode.IDLE_TIMEOUT, application: false, reason: 'idle timeout', remote: false },
      30_000,
    );
    expect(e).toBeInstanceOf(PeerGoneError);
    expect(e).toBeInstanceOf(PunchlineError);
    expect(e?.code).toBe('ERR_PUNCHLINE_PEER_UNREACHABLE');
    expect(e?.message).toContain('30000 ms');
  });

  it('stateless reset → ERR_PUNCHLINE_PEER_RESET', () => {
    const e = peerGoneError({ errorCode: STATELESS_RESET_CLOSE_CODE, application: false, reason: '', remote: false });
    expect(e?.code).toBe('ERR_PUNCHLINE_PEER_RESET');
  });

  it('other closes are not a dead peer', () => {
    expect(peerGoneError({ errorCode: 0, application: true, reason: '', remote: true })).toBeNull();
    expect(
      peerGoneError({ errorCode: TransportErrorCode.IDLE_TIMEOUT, application: true, reason: '', remote: false }),
    ).toBeNull();
    expect(peerGoneError({ errorCode: 0xa, application: false, reason: '', remote: false })).toBeNull();
  });
});
