import { describe, expect, it } from 'vitest';
import { PunchlineError } from '../../src/errors.js';
import { IdleTimer, PeerGoneError, peerGoneError, STATELESS_RESET_CLOSE_CODE } from '../../src/transport/dead-peer.js';
import { TransportErrorCode } from '../../src/transport/errors.js';

describe('dead-peer detection (idle timer, RFC 9000 §10.1)', () => {
  it('a passive receiver whose keepalive goes out after the peer died still times out at last-receive + idle', () => {
    const t = new IdleTimer(30_000, true, 0);
    t.onReceived(1_000); // the peer's last packet, then it dies
    t.onAckElicitingSent(16_000, true); // our keepalive: must not restart the timer
    t.onAckElicitingSent(17_000, true); // its PTO repetition
    expect(t.deadline).toBe(31_000);
    expect(t.expired(30_999)).toBe(false);
    expect(t.expired(31_000)).toBe(true);
  });

  it('an active sender times out at last-receive + idle, however much it keeps sending', () => {
    const t = new IdleTimer(30_000, true, 0);
    t.onReceived(5_000);
    for (let now = 5_001; now < 35_000; now += 100) t.onAckElicitingSent(now, false);
    expect(t.deadline).toBe(35_000);
  });

  it('every authenticated packet restarts the timer', () => {
    const t = new IdleTimer(30_000, true, 0);
    t.onReceived(10_000);
    t.onReceived(29_000);
    expect(t.deadline).toBe(59_000);
    expect(t.silenceMs(40_000)).toBe(11_000);
  });

  it('without keepalives, the first ack-eliciting packet after a receive restarts it (RFC 9000 §10.1)', () => {
    const t = new IdleTimer(30_000, false, 0);
    t.onReceived(1_000);
    t.onAckElicitingSent(20_000, false);
    expect(t.deadline).toBe(50_000);
    t.onAckElicitingSent(25_000, false); // not the first since the receive
    expect(t.deadline).toBe(50_000);
  });

  it('no idle timeout: never expires', () => {
    const t = new IdleTimer(0, true, 0);
    expect(t.deadline).toBe(Infinity);
    t.configure(10_000, true);
    expect(t.deadline).toBe(10_000);
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
