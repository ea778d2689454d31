/** The portmap profile's configuration, per site: which protocols miniupnpd offers (no root needed). */
import { describe, expect, it } from 'vitest';
import { LabError } from '../../src/lab/errors.js';
import { expectedPortmap } from '../../src/lab/nat-check.js';
import { miniupnpdConfig, miniupnpdRuleset } from '../../src/lab/portmap.js';
import { parseSiteArg, planLab, validateSpec } from '../../src/lab/topology.js';

describe('portmap protocols per site', () => {
  it('parses portmap=P+Q and checks it', () => {
    expect(parseSiteArg('p:portmap/hard,portmap=pcp+upnp')).toEqual({
      name: 'p',
      profile: 'portmap',
      variant: 'hard',
      portmapProtocols: ['pcp', 'upnp'],
    });
    const bad =
      (spec: Parameters<typeof validateSpec>[0]): unknown =>
      () =>
        validateSpec(spec);
    expect(bad({ name: 'x', sites: [parseSiteArg('p:easy,portmap=pcp')] })).toThrow(/portmap profile only/);
    expect(bad({ name: 'x', sites: [parseSiteArg('p:portmap,portmap=igd')] })).toThrow(LabError);
    expect(bad({ name: 'x', sites: [{ name: 'p', profile: 'portmap', portmapProtocols: [] }] })).toThrow(LabError);
  });

  it('configures miniupnpd and the router for exactly the protocols offered', () => {
    const plan = planLab(
      {
        name: 'c',
        sites: [
          { name: 'all', profile: 'portmap' },
          { name: 'pcp', profile: 'portmap', portmapProtocols: ['pcp'] },
          { name: 'up', profile: 'portmap', portmapProtocols: ['upnp'] },
        ],
      },
      'pl0000',
    );
    const [all, pcp, up] = plan.sites;
    expect(expectedPortmap(all!)).toEqual(['upnp', 'nat-pmp', 'pcp']);
    expect(expectedPortmap(pcp!)).toEqual(['pcp']);
    const allConf = miniupnpdConfig(all!.router, '/tmp/l', undefined, expectedPortmap(all!));
    expect(allConf).toContain('enable_upnp=yes');
    expect(allConf).toContain('enable_natpmp=yes');
    expect(allConf).toContain('system_uptime=no');
    const pcpConf = miniupnpdConfig(pcp!.router, '/tmp/l', undefined, ['pcp']);
    expect(pcpConf).toContain('enable_upnp=no');
    expect(pcpConf).toContain('enable_natpmp=yes');
    expect(miniupnpdConfig(up!.router, '/tmp/l', undefined, ['upnp'])).toContain('enable_natpmp=no');
    expect(miniupnpdRuleset()).not.toContain('drop');
    expect(miniupnpdRuleset(['pcp'])).toContain('udp dport 5351 @th,64,8 0 drop');
    expect(miniupnpdRuleset(['pcp'])).not.toContain('@th,64,8 2 drop');
    expect(miniupnpdRuleset(['nat-pmp', 'upnp'])).toContain('udp dport 5351 @th,64,8 2 drop');
  });
});
