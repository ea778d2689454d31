/** The server address string (punchline://KEY@host:port?wt=&alt=): parse, format, parse again. */
import {
  formatServerAddress,
  parseServerAddress,
  ServerAddressError,
} from '../../src/traversal/rendezvous/server-address.js';
import { canonical } from './vectors.js';
import { invariant, refusing, utf8, type FuzzTarget } from '../engine/target.js';

const decoder = new TextDecoder();
const KEY = 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy';

export const serverAddress: FuzzTarget = {
  name: 'server-address',
  description: 'parseServerAddress / formatServerAddress round trip',
  maxLength: 512,
  seeds: () =>
    [
      `punchline://${KEY}@192.0.2.1:7000`,
      `punchline://${KEY}@[2001:db8::1]:7000?wt=7443&alt=198.51.100.1:7001`,
      `punchline://${KEY}@relay.example:7000?wt=443`,
    ].map(utf8),
  dictionary: ['punchline://', '@', '[', ']', ':', '?', '&', 'wt=', 'alt=', '%', '::', '65535', '0'].map(utf8),
  run(data) {
    const text = decoder.decode(data);
    const address = refusing(() => parseServerAddress(text), ServerAddressError);
    if (address === undefined) return;
    const again = parseServerAddress(formatServerAddress(address));
    invariant(canonical(again) === canonical(address), 'server address round trip');
  },
};
