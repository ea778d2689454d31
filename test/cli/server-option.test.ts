import { describe, expect, it } from 'vitest';
import { serverFromOptions } from '../../src/cli/server-option.js';
import { formatServerAddress } from '../../src/traversal/rendezvous/server-address.js';

const address = formatServerAddress({
  publicKey: new Uint8Array(32).fill(9),
  udp: { host: '192.0.2.1', port: 3478 },
  webTransportPort: 4433,
  alternate: null,
});

describe('--server / PUNCHLINE_SERVER', () => {
  it('takes the flag over the environment, and none when neither is set', () => {
    const other = address.replace('192.0.2.1', '192.0.2.2');
    expect(serverFromOptions(address, { PUNCHLINE_SERVER: other })?.udp.host).toBe('192.0.2.1');
    expect(serverFromOptions(undefined, { PUNCHLINE_SERVER: other })?.udp.host).toBe('192.0.2.2');
    expect(serverFromOptions(undefined, {})).toBeNull();
    expect(serverFromOptions(undefined, { PUNCHLINE_SERVER: ' ' })).toBeNull();
  });

  it('refuses a malformed string with a typed error', () => {
    expect(() => serverFromOptions('punchline://nope@1.2.3.4:5', {})).toThrow(
      expect.objectContaining({ code: 'ERR_PUNCHLINE_INVALID_SERVER_ADDRESS' }),
    );
  });
});
