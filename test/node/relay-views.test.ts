/**
 * RelayViews (src/node/relay-views.ts): inner views of relayed datagrams are cached only for datagrams
 * in the socket's receive arena (native backend), never for node:dgram's fresh Buffers, which the cache
 * would otherwise keep alive (up to 2^11 of them) without ever hitting; and a new arena drops the
 * views of the old one.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { RelayViews } from '../../src/node/relay-views.js';
import { RELAY_HEADER_LENGTH } from '../../src/wire/relay.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects garbage until every WeakRef is cleared or `rounds` collections passed; the number still alive. */
async function alive(refs: WeakRef<object>[], rounds = 10): Promise<number> {
  for (let i = 0; i < rounds; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    if (refs.every((r) => r.deref() === undefined)) return 0;
  }
  return refs.filter((r) => r.deref() !== undefined).length;
}

/** A relay datagram of `length` bytes (0x12 ‖ channel ‖ inner), the inner bytes numbered from `seed`. */
function relayDatagram(into: Buffer, length: number, seed: number): Buffer {
  into[0] = 0x12;
  for (let i = RELAY_HEADER_LENGTH; i < length; i++) into[i] = (seed + i) & 0xff;
  return into.subarray(0, length);
}

describe('RelayViews', () => {
  it('returns the inner datagram, the same view object for the same place of the arena', () => {
    const views = new RelayViews();
    const arena = Buffer.alloc(1 << 20);
    const first = relayDatagram(arena.subarray(65536), 1200, 1);
    const inner = views.inner(first, arena.buffer);
    expect(inner.equals(first.subarray(RELAY_HEADER_LENGTH))).toBe(true);
    expect(inner.byteOffset).toBe(first.byteOffset + RELAY_HEADER_LENGTH);
    // The native backend's view of the same place again: the cached inner view, its bytes new.
    const again = relayDatagram(arena.subarray(65536), 1200, 2);
    expect(views.inner(again, arena.buffer)).toBe(inner);
    expect(inner[0]).toBe((2 + RELAY_HEADER_LENGTH) & 0xff);
    // Another length at that place: a new view.
    expect(views.inner(relayDatagram(arena.subarray(65536), 900, 3), arena.buffer).length).toBe(
      900 - RELAY_HEADER_LENGTH,
    );
  });

  it('keeps no node:dgram datagram alive (no arena: nothing is cached)', async () => {
    const views = new RelayViews();
    const refs: WeakRef<object>[] = [];
    (() => {
      for (let i = 0; i < 64; i++) {
        // node:dgram: every datagram a new Buffer with its own memory, at offset 0.
        const msg = relayDatagram(Buffer.alloc(1400), 1400 - (i % 4) * 300, i);
        const inner = views.inner(msg, null);
        expect(inner.equals(msg.subarray(RELAY_HEADER_LENGTH))).toBe(true);
        refs.push(new WeakRef(msg.buffer));
      }
    })();
    expect(await alive(refs)).toBe(0);
  });

  it('keeps no datagram of another memory alive, nor an old arena once a new one is used', async () => {
    const views = new RelayViews();
    const refs: WeakRef<object>[] = [];
    (() => {
      const old = Buffer.alloc(1 << 16);
      views.inner(relayDatagram(old.subarray(4096), 1200, 1), old.buffer);
      refs.push(new WeakRef(old.buffer));
      // A datagram that is not a view of the arena named: not cached.
      const stray = Buffer.alloc(1400);
      views.inner(relayDatagram(stray, 1400, 2), old.buffer);
      refs.push(new WeakRef(stray.buffer));
    })();
    const arena = Buffer.alloc(1 << 16);
    views.inner(relayDatagram(arena.subarray(8192), 1200, 3), arena.buffer);
    expect(await alive(refs)).toBe(0);
  });
});
