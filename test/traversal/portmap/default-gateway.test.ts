import { describe, expect, it } from 'vitest';
import { parseRouteTable } from '../../../src/node/default-gateway.js';

describe('default gateway from /proc/net/route', () => {
  it('picks the default route with the gateway flag and the lowest metric', () => {
    const table = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0',
      'eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
      'tun0\t00000000\t00000000\t0001\t0\t0\t50\t00000000\t0\t0\t0',
    ].join('\n');
    expect(parseRouteTable(table)).toBe('192.168.2.1');
    expect(parseRouteTable('Iface\tDestination\n')).toBeUndefined();
  });
});
