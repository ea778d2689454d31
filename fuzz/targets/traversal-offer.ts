/** The traversal agent's offer (spec/traversal.md §Exchange): strict msgpack check, schema, round trip. */
import { TraversalError } from '../../src/traversal/agent/errors.js';
import { decodeOffer, encodeOffer } from '../../src/traversal/agent/offer.js';
import { invariant, refusing, utf8, type FuzzTarget } from '../engine/target.js';
import { canonical } from './vectors.js';

export const traversalOffer: FuzzTarget = {
  name: 'traversal-offer',
  description: 'decodeOffer (strict msgpack, schema) and encodeOffer round trip',
  maxLength: 512,
  seeds: () => [
    encodeOffer({ sessionId: new Uint8Array(8).fill(1), mapping: 'eim', udp: true, birthdaySockets: 0 }),
    encodeOffer({ sessionId: new Uint8Array(8).fill(2), mapping: 'edm', udp: false, birthdaySockets: 256 }),
  ],
  dictionary: ['v', 's', 'm', 'u', 'b', 'eim', 'edm', 'unknown'].map((w) => Uint8Array.of(0xa0 | w.length, ...utf8(w))),
  run(data) {
    const offer = refusing(() => decodeOffer(data), TraversalError);
    if (offer === undefined) return;
    invariant(canonical(decodeOffer(encodeOffer(offer))) === canonical(offer), 'offer round trip');
  },
};
