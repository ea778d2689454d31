/**
 * A whole connection (handshake, then a stream both ways over a lossy, reordering simulated link) on
 * each packet AEAD backend (spec/crypto.md §5.1): libsodium, what the transport uses when nothing is
 * registered (pure-core users, the simulator, PUNCHLINE_AEAD=sodium), and the OpenSSL add-on the node
 * layer registers where it loads. The OpenSSL run counts the add-on's calls, so it fails if the
 * connection did not actually use it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type OpensslAead, registerOpensslAead } from '../../src/crypto/openssl-aead.js';
import { useOpensslAead } from '../../src/node/openssl-aead.js';
import { A, B, drain, makePair, pattern } from './helpers.js';

const openssl = useOpensslAead();
// useOpensslAead registered it; each test registers its own backend.
registerOpensslAead(null);
afterEach(() => registerOpensslAead(null));
if (openssl === null) console.log('[aead-backends] the OpenSSL AEAD is not loaded: libsodium only');

/** The add-on, counting packets sealed (seal / sealFrom) and opened through it. */
function counting(aead: OpensslAead): OpensslAead & { sealed: number; opened: number } {
  const c = {
    sealed: 0,
    opened: 0,
    create: (key: Uint8Array) => aead.create(key),
    free: (context: Parameters<OpensslAead['free']>[0]) => aead.free(context),
    seal: (...args: Parameters<OpensslAead['seal']>) => {
      c.sealed++;
      return aead.seal(...args);
    },
    sealFrom: (...args: Parameters<OpensslAead['sealFrom']>) => {
      c.sealed++;
      return aead.sealFrom(...args);
    },
    open: (...args: Parameters<OpensslAead['open']>) => {
      c.opened++;
      return aead.open(...args);
    },
  };
  return c;
}

const backends = [
  { name: 'libsodium', openssl: false },
  ...(openssl === null ? [] : [{ name: 'OpenSSL', openssl: true }]),
];

describe.each(backends)('a connection on the $name packet AEAD', ({ openssl: useOpenssl }) => {
  it('delivers 256 KiB each way over a lossy, reordering link', () => {
    const counter = useOpenssl ? counting(openssl as OpensslAead) : null;
    registerOpensslAead(counter);
    const p = makePair({ seed: 7, link: { delayMs: 10, lossRate: 0.03, reorderRate: 0.05 } });
    p.net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0);
    const srv = p.serverConn();
    const up = pattern(1, 0, 256 << 10);
    const down = pattern(2, 0, 256 << 10);
    const id = p.conn.openStream(true);
    let sentUp = 0;
    let sentDown = 0;
    const gotUp: number[] = [];
    const gotDown: number[] = [];
    let finUp = false;
    let finDown = false;
    p.net.runUntil(() => {
      if (sentUp < up.length) {
        sentUp += p.conn.write(id, up.subarray(sentUp));
        if (sentUp === up.length) p.conn.finish(id);
      }
      if (p.events(B, 'stream-opened').length > 0) {
        finUp ||= drain(srv, id, gotUp).fin;
        if (sentDown < down.length) {
          sentDown += srv.write(id, down.subarray(sentDown));
          if (sentDown === down.length) srv.finish(id);
        }
      }
      finDown ||= drain(p.conn, id, gotDown).fin;
      return finUp && finDown;
    });
    expect(Buffer.from(gotUp).equals(Buffer.from(up))).toBe(true);
    expect(Buffer.from(gotDown).equals(Buffer.from(down))).toBe(true);
    expect(p.events(A, 'closed')).toHaveLength(0);
    if (counter !== null) {
      // Both ends sealed and opened their short-header packets through the add-on.
      expect(counter.sealed).toBeGreaterThan(2 * 190);
      expect(counter.opened).toBeGreaterThan(2 * 190);
    }
  });
});
