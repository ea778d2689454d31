import { describe, expect, it } from 'vitest';
import { systemRandom } from '../../src/crypto/sodium.js';
import {
  ACTIVE_CONNECTION_ID_LIMIT,
  LocalConnectionIds,
  RemoteConnectionIds,
} from '../../src/transport/connection-ids.js';
import { type TransportError, TransportErrorCode } from '../../src/transport/errors.js';
import { deriveResetKey, ResetTokenTable, resetToken } from '../../src/transport/stateless-reset.js';
import { decodeFrames, encodeFrame } from '../../src/wire/index.js';
import { FrameType, type NewConnectionIdFrame } from '../../src/wire/types.js';

const hsLocal = Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 1]);
const hsRemote = Uint8Array.from([2, 2, 2, 2, 2, 2, 2, 2]);
const resetKey = deriveResetKey(new Uint8Array(32).fill(3));

/** Every NEW_CONNECTION_ID of `local` through the real codec into `remote`. */
function deliver(local: LocalConnectionIds, remote: RemoteConnectionIds): NewConnectionIdFrame[] {
  const frames: NewConnectionIdFrame[] = [];
  for (let f = local.takeFrame(); f !== null; f = local.takeFrame()) {
    const buf = new Uint8Array(64);
    const n = encodeFrame(f, buf, 0);
    const decoded = decodeFrames(buf.subarray(0, n))[0] as NewConnectionIdFrame;
    expect(decoded.type).toBe(FrameType.NewConnectionId);
    remote.onNewConnectionId(decoded);
    frames.push(decoded);
  }
  return frames;
}

function code(f: () => void): number | undefined {
  try {
    f();
  } catch (e) {
    return (e as TransportError).transportCode;
  }
  return undefined;
}

describe('connection IDs for unlinkable paths (RFC 9000 §5.1, §9.5)', () => {
  it('issues only IDs the endpoint can route (a taken routing key is drawn again, never announced)', () => {
    // A random source whose first draws repeat one ID, then count up: the repeats are refused.
    let draw = 0;
    const random = (out: Uint8Array): void => {
      out.fill(0);
      out[0] = draw < 3 ? 7 : 8 + draw;
      draw++;
    };
    const local = new LocalConnectionIds(hsLocal, resetKey, random, (id) => id[0] !== 7);
    local.issue();
    const issued = [];
    for (let f = local.takeFrame(); f !== null; f = local.takeFrame()) issued.push(f.connectionId[0]);
    expect(issued.length).toBe(ACTIVE_CONNECTION_ID_LIMIT);
    expect(issued).not.toContain(7);
    expect(draw).toBe(3 + ACTIVE_CONNECTION_ID_LIMIT);
  });

  it('issues spares, moves the peer off the handshake ID, and rotates to an unused ID per new path', () => {
    const local = new LocalConnectionIds(hsLocal, resetKey, systemRandom);
    const remote = new RemoteConnectionIds(hsLocal);
    local.issue();
    const routes = [];
    for (let r = local.pollRouteChange(); r !== null; r = local.pollRouteChange()) routes.push(r);
    expect(routes.filter((r) => r.kind === 'add').length).toBe(ACTIVE_CONNECTION_ID_LIMIT);
    const frames = deliver(local, remote);
    expect(frames.every((f) => f.retirePriorTo === 1)).toBe(true);
    // the peer switched to sequence 1 and owes RETIRE_CONNECTION_ID 0
    expect(remote.activeSequence).toBe(1);
    expect(remote.active).toEqual(frames[0]?.connectionId);
    expect(remote.takeRetireFrame()).toBe(0);
    local.onRetire(0, remote.active);
    expect(local.pollRouteChange()).toEqual({ kind: 'remove', connectionId: hsLocal });
    expect(local.active).not.toContainEqual(hsLocal);

    // a new path: a different ID, the old one retired, a replacement issued
    const before = remote.active;
    expect(remote.rotate()).toBe(true);
    expect(remote.active).not.toEqual(before);
    const retired = remote.takeRetireFrame();
    expect(retired).toBe(1);
    local.onRetire(retired, remote.active);
    expect(local.pollRouteChange()).toEqual({ kind: 'remove', connectionId: before });
    expect(local.pollRouteChange()?.kind).toBe('add');
    deliver(local, remote);
    expect(remote.spares).toBe(ACTIVE_CONNECTION_ID_LIMIT - 1);
  });

  it('the peer recognises the reset tokens of IDs it used, not of spares nor retired ones (RFC 9000 §10.3.1)', () => {
    const local = new LocalConnectionIds(hsLocal, resetKey, systemRandom);
    const remote = new RemoteConnectionIds(hsLocal);
    local.issue();
    deliver(local, remote);
    const table = new ResetTokenTable<string>();
    const apply = () => {
      for (let t = remote.pollTokenChange(); t !== null; t = remote.pollTokenChange()) {
        if (t.kind === 'add') table.add(t.token, 'c');
        else table.remove(t.token, 'c');
      }
    };
    apply();
    // Retire Prior To = 1 moved the peer to sequence 1: only its token counts, the 3 spares' do not
    expect(table.count).toBe(1);
    expect(remote.hasTokenChanges).toBe(false);
    const first = remote.active.slice();
    remote.rotate();
    expect(remote.hasTokenChanges).toBe(true);
    const changes = [remote.pollTokenChange(), remote.pollTokenChange()].map((c) => c?.kind);
    expect(changes).toEqual(['add', 'remove']); // the new ID's token, the retired one's gone
    const reset = (cid: Uint8Array) => {
      const d = new Uint8Array(40).fill(0x41);
      d.set(resetToken(resetKey, cid), 24);
      return d;
    };
    expect(remote.isStatelessReset(reset(remote.active), 40)).toBe(true);
    expect(remote.isStatelessReset(reset(first), 40)).toBe(false); // retired
  });

  it('without a spare, rotate keeps the ID in use', () => {
    const remote = new RemoteConnectionIds(hsRemote);
    expect(remote.rotate()).toBe(false);
    expect(remote.active).toEqual(hsRemote);
  });

  it('lost frames are sent again', () => {
    const local = new LocalConnectionIds(hsLocal, resetKey, systemRandom);
    local.issue();
    const f = local.takeFrame();
    while (local.takeFrame() !== null);
    expect(local.hasPending).toBe(false);
    local.onFrameLost(f?.sequence ?? -1);
    expect(local.takeFrame()?.sequence).toBe(f?.sequence);
    const remote = new RemoteConnectionIds(hsRemote);
    remote.onRetireLost(5);
    expect(remote.takeRetireFrame()).toBe(5);
  });

  it('protocol violations (RFC 9000 §19.15, §19.16) close with the right code', () => {
    const local = new LocalConnectionIds(hsLocal, resetKey, systemRandom);
    local.issue();
    expect(code(() => local.onRetire(99, hsRemote))).toBe(TransportErrorCode.PROTOCOL_VIOLATION);
    expect(code(() => local.onRetire(0, hsLocal))).toBe(TransportErrorCode.PROTOCOL_VIOLATION);
    const f = local.takeFrame() as NewConnectionIdFrame;
    expect(code(() => local.onRetire(f.sequence, f.connectionId))).toBe(TransportErrorCode.PROTOCOL_VIOLATION);

    const remote = new RemoteConnectionIds(hsRemote);
    const token = new Uint8Array(16).fill(1);
    const cid = (b: number) => new Uint8Array(8).fill(b);
    const frame = (sequence: number, c: Uint8Array, retirePriorTo = 0): NewConnectionIdFrame => ({
      type: FrameType.NewConnectionId,
      sequence,
      retirePriorTo,
      connectionId: c,
      resetToken: token,
    });
    remote.onNewConnectionId(frame(1, cid(10)));
    remote.onNewConnectionId(frame(1, cid(10))); // a repeat is fine
    expect(code(() => remote.onNewConnectionId(frame(1, cid(11))))).toBe(TransportErrorCode.PROTOCOL_VIOLATION);
    expect(code(() => remote.onNewConnectionId(frame(2, cid(10))))).toBe(TransportErrorCode.PROTOCOL_VIOLATION);
    remote.onNewConnectionId(frame(2, cid(12)));
    remote.onNewConnectionId(frame(3, cid(13)));
    expect(code(() => remote.onNewConnectionId(frame(4, cid(14))))).toBe(TransportErrorCode.CONNECTION_ID_LIMIT_ERROR);
  });

  it('an ID below an earlier Retire Prior To is retired at once', () => {
    const remote = new RemoteConnectionIds(hsRemote);
    const token = new Uint8Array(16);
    remote.onNewConnectionId({
      type: FrameType.NewConnectionId,
      sequence: 5,
      retirePriorTo: 5,
      connectionId: new Uint8Array(8).fill(5),
      resetToken: token,
    });
    expect(remote.activeSequence).toBe(5);
    expect(remote.takeRetireFrame()).toBe(0);
    remote.onNewConnectionId({
      type: FrameType.NewConnectionId,
      sequence: 3,
      retirePriorTo: 0,
      connectionId: new Uint8Array(8).fill(3),
      resetToken: token,
    });
    expect(remote.takeRetireFrame()).toBe(3);
    expect(remote.spares).toBe(0);
  });
});

describe('a peer ID reserved for a path being validated (RFC 9000 §9.5)', () => {
  const id = (n: number): Uint8Array => new Uint8Array(8).fill(n);
  const frame = (sequence: number, retirePriorTo = 0): NewConnectionIdFrame => ({
    type: FrameType.NewConnectionId,
    sequence,
    retirePriorTo,
    connectionId: id(10 + sequence),
    resetToken: new Uint8Array(16).fill(sequence),
  });
  /** The peer's handshake ID (sequence 0) plus spares 1..n. */
  function remoteWith(spares: number): RemoteConnectionIds {
    const r = new RemoteConnectionIds(hsRemote);
    for (let s = 1; s <= spares; s++) r.onNewConnectionId(frame(s));
    return r;
  }
  const retired = (r: RemoteConnectionIds): number[] => {
    const out: number[] = [];
    for (let s = r.takeRetireFrame(); s !== -1; s = r.takeRetireFrame()) out.push(s);
    return out;
  };

  it('reserve sets aside the lowest unused ID without switching; two paths get two different IDs', () => {
    const r = remoteWith(3);
    const a = r.reserve();
    const b = r.reserve();
    expect(a).toEqual({ sequence: 1, connectionId: id(11) });
    expect(b).toEqual({ sequence: 2, connectionId: id(12) });
    expect(r.active).toEqual(hsRemote); // nothing moved while the paths validate
    expect(r.activeSequence).toBe(0);
    // a NAT rebinding meanwhile rotates to an ID neither reserved path uses
    expect(r.rotate()).toBe(true);
    expect(r.activeSequence).toBe(3);
    expect(r.reserve()).toBeNull(); // all spares in use or reserved
  });

  it('adopt: the validated path’s ID becomes the one in use, the old one is retired', () => {
    const r = remoteWith(2);
    const a = r.reserve() as { sequence: number };
    expect(r.adopt(a.sequence)).toBe(true);
    expect(r.activeSequence).toBe(1);
    expect(r.active).toEqual(id(11));
    expect(retired(r)).toEqual([0]);
    // no longer reserved: the next reservation may not hand it out (it is in use), takes sequence 2
    expect(r.reserve()?.sequence).toBe(2);
  });

  it('release: the failed path’s ID was seen there, so it is retired and never handed out again', () => {
    const r = remoteWith(2);
    const a = r.reserve() as { sequence: number };
    r.release(a.sequence);
    expect(r.activeSequence).toBe(0);
    expect(retired(r)).toEqual([1]);
    expect(r.spares).toBe(1);
    expect(r.reserve()?.sequence).toBe(2);
    expect(r.reserve()).toBeNull();
    // its token was recognised once it was used (reserved: the probe went out with it), and is forgotten
    // with it; sequence 2 is used from its reservation on
    const changes = [];
    for (let c = r.pollTokenChange(); c; c = r.pollTokenChange()) changes.push(c.kind);
    expect(changes).toEqual(['add', 'remove', 'add']);
  });

  it('adopt of an ID the peer retired meanwhile (Retire Prior To) fails and keeps the path’s ID', () => {
    const r = remoteWith(2);
    const a = r.reserve() as { sequence: number };
    r.onNewConnectionId(frame(3, 2)); // retires 0 and 1: switches to 2
    expect(r.activeSequence).toBe(2);
    expect(r.adopt(a.sequence)).toBe(false);
    expect(r.activeSequence).toBe(2);
    // releasing an already-retired reservation is harmless
    r.release(a.sequence);
    expect(r.activeSequence).toBe(2);
  });

  it('without a spare, reserve returns null (the probe uses the ID in use)', () => {
    const r = remoteWith(0);
    expect(r.reserve()).toBeNull();
    expect(r.activeSequence).toBe(0);
  });
});
