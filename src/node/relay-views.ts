/**
 * Cached inner views of relayed datagrams (0x12 ‖ channel ‖ transport datagram, spec/wire.md §Relay)
 * for the native UDP backend, whose datagrams are views at fixed places of one reused receive arena:
 * the backend hands out the same view object for the same place, so the inner view is cached by place
 * too and steady relayed traffic allocates no view per datagram.
 *
 * Only datagrams in the socket's current receive arena are cached. With node:dgram every datagram is a
 * new Buffer: caching them would never hit and would keep up to 2^11 old datagrams alive; nor may
 * entries outlive the arena they view (a rebind opens a new socket with a new arena).
 */
import { RELAY_HEADER_LENGTH } from '../wire/relay.js';

/**
 * 2^11 entries, one per 512 bytes of the native backend's 1 MiB receive arena (16 GRO buffers of
 * 64 KiB), indexed by the datagram's offset / 512. Datagrams at fixed places at least 512 bytes apart
 * (every full-size one) never evict each other; smaller ones may (a new view then, as without the cache).
 */
const RELAY_VIEW_BITS = 11;
const RELAY_VIEW_SHIFT = 9;

export class RelayViews {
  private readonly views: (Buffer | undefined)[] = new Array<Buffer | undefined>(1 << RELAY_VIEW_BITS).fill(undefined);
  /** The arena the cached views are views of. */
  private arena: ArrayBufferLike | null = null;

  /**
   * The transport datagram inside relay datagram `msg` (after 0x12 ‖ channel), as a view valid as long
   * as `msg` is. `arena` is the socket's receive arena (UdpSocket.receiveArena; null: none). Hot path.
   */
  inner(msg: Buffer, arena: ArrayBufferLike | null): Buffer {
    if (arena === null || msg.buffer !== arena) return msg.subarray(RELAY_HEADER_LENGTH);
    if (arena !== this.arena) {
      // A new arena (a rebind): drop the views of the old one, which would keep it alive.
      this.views.fill(undefined);
      this.arena = arena;
    }
    const offset = msg.byteOffset + RELAY_HEADER_LENGTH;
    const length = msg.length - RELAY_HEADER_LENGTH;
    const index = (offset >>> RELAY_VIEW_SHIFT) & ((1 << RELAY_VIEW_BITS) - 1);
    let view = this.views[index];
    if (view === undefined || view.byteOffset !== offset || view.length !== length) {
      view = msg.subarray(RELAY_HEADER_LENGTH);
      this.views[index] = view;
    }
    return view;
  }
}
