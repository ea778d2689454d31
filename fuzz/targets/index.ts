/** Every fuzz target, by name (`npm run fuzz -- --targets a,b`). */
import type { FuzzTarget } from '../engine/target.js';
import { noiseHandshake, transportParameters } from './crypto.js';
import { relayControl, relayCore } from './relay.js';
import { rendezvousFraming, rendezvousMessage } from './rendezvous.js';
import { serverAddress } from './server-address.js';
import { stunMessage, stunServer } from './stun.js';
import { traversalOffer } from './traversal-offer.js';
import { punchProbe, relayDatagram, wireFrames, wirePacket } from './wire.js';

export const TARGETS: readonly FuzzTarget[] = [
  wirePacket,
  wireFrames,
  punchProbe,
  relayDatagram,
  relayControl,
  relayCore,
  stunMessage,
  stunServer,
  rendezvousMessage,
  rendezvousFraming,
  noiseHandshake,
  transportParameters,
  serverAddress,
  traversalOffer,
];

export function targetByName(name: string): FuzzTarget {
  const target = TARGETS.find((t) => t.name === name);
  if (target === undefined)
    throw new Error(`unknown fuzz target ${name} (known: ${TARGETS.map((t) => t.name).join(', ')})`);
  return target;
}
