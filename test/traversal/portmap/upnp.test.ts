import { describe, expect, it } from 'vitest';
import {
  decodeSoapResponse,
  decodeSsdpResponse,
  encodeSoapRequest,
  type HttpResponse,
  HttpResponseReader,
  type MappingEvent,
  parseIgdDescription,
  parseXml,
  PortmapError,
  PortmapErrorCode,
  UpnpFault,
  UpnpIgdClient,
} from '../../../src/traversal/portmap/index.js';
import { counterRandom, drain } from './helpers.js';

const GW = '192.168.1.1';
const LOCATION = `http://${GW}:5000/rootDesc.xml`;
const IP_SERVICE = 'urn:schemas-upnp-org:service:WANIPConnection:1';

export const DESCRIPTION = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>1</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><controlURL>/ctl/L3F</controlURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<serviceList><service><serviceType>${IP_SERVICE}</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><controlURL>/ctl/IPConn</controlURL></service></serviceList>
</device></deviceList></device></deviceList></device></root>`;

function ssdp(location = LOCATION): Uint8Array {
  return new TextEncoder().encode(
    `HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nUSN: uuid:1::x\r\nLOCATION: ${location}\r\nSERVER: test\r\n\r\n`,
  );
}

function soapOk(action: string, args: Record<string, string> = {}): HttpResponse {
  const inner = Object.entries(args)
    .map(([k, v]) => `<${k}>${v}</${k}>`)
    .join('');
  const body = `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:${action}Response xmlns:u="${IP_SERVICE}">${inner}</u:${action}Response></s:Body></s:Envelope>`;
  return { status: 200, headers: new Map(), body };
}

function soapFault(code: number, description: string): HttpResponse {
  const body = `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode><errorDescription>${description}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`;
  return { status: 500, headers: new Map(), body };
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** Drives a client through discovery to the first SOAP request after GetExternalIPAddress. */
function discovered(extra: Partial<ConstructorParameters<typeof UpnpIgdClient>[0]> = {}): {
  c: UpnpIgdClient;
  next: () => { id: number; request: string };
} {
  const c = new UpnpIgdClient({ internalPort: 40000, random: counterRandom(), lifetime: { requestS: 120 }, ...extra });
  const next = (): { id: number; request: string } => {
    const x = c.pollHttp();
    if (!x) throw new Error('no HTTP exchange queued');
    return { id: x.id, request: text(x.request) };
  };
  c.map(0);
  expect(c.pollTransmit(0)?.destination).toEqual({ host: '239.255.255.250', port: 1900 });
  expect(c.receive(ssdp(), { host: GW, port: 1900 }, 10)).toBe(true);
  const describe = next();
  expect(describe.request).toMatch(/^GET \/rootDesc\.xml HTTP\/1\.1\r\n/);
  c.receiveHttp(
    describe.id,
    { response: { status: 200, headers: new Map(), body: DESCRIPTION }, localAddress: '192.168.1.11' },
    20,
  );
  const ext = next();
  expect(ext.request).toContain('SOAPAction: "urn:schemas-upnp-org:service:WANIPConnection:1#GetExternalIPAddress"');
  c.receiveHttp(
    ext.id,
    {
      response: soapOk('GetExternalIPAddress', { NewExternalIPAddress: '203.0.113.10' }),
      localAddress: '192.168.1.11',
    },
    30,
  );
  return { c, next };
}

describe('UPnP IGD client', () => {
  it('maps: AddPortMapping for our port and address, verified by GetSpecificPortMappingEntry; deletes on unmap', () => {
    const { c, next } = discovered();
    const add = next();
    expect(add.request).toMatch(/^POST \/ctl\/IPConn HTTP\/1\.1\r\n/);
    expect(add.request).toContain('<NewExternalPort>40000</NewExternalPort><NewProtocol>UDP</NewProtocol>');
    expect(add.request).toContain(
      '<NewInternalPort>40000</NewInternalPort><NewInternalClient>192.168.1.11</NewInternalClient>',
    );
    expect(add.request).toContain('<NewLeaseDuration>120</NewLeaseDuration>');
    c.receiveHttp(add.id, { response: soapOk('AddPortMapping'), localAddress: '192.168.1.11' }, 40);
    const check = next();
    expect(check.request).toContain('GetSpecificPortMappingEntry');
    c.receiveHttp(
      check.id,
      {
        response: soapOk('GetSpecificPortMappingEntry', {
          NewInternalPort: '40000',
          NewInternalClient: '192.168.1.11',
          NewEnabled: '1',
          NewLeaseDuration: '119',
        }),
        localAddress: '192.168.1.11',
      },
      50,
    );
    const events = drain(c);
    expect(events.map((e) => e.type)).toEqual(['answered', 'mapped']);
    expect(events[1]).toMatchObject({
      mapping: { protocol: 'upnp', external: { host: '203.0.113.10', port: 40000 }, lifetimeS: 119 },
    });
    c.unmap(60);
    const del = next();
    expect(del.request).toContain('DeletePortMapping');
    expect(del.request).toContain('<NewExternalPort>40000</NewExternalPort>');
    c.receiveHttp(del.id, { response: soapOk('DeletePortMapping'), localAddress: '192.168.1.11' }, 70);
    expect(drain(c)).toEqual([{ type: 'unmapped', confirmed: true }]);
  });

  it('a conflict (718) moves to another external port; the other holder is never deleted', () => {
    const { c, next } = discovered();
    const add = next();
    c.receiveHttp(add.id, { response: soapFault(718, 'ConflictInMappingEntry'), localAddress: '' }, 40);
    const retry = next();
    const port = Number(/<NewExternalPort>(\d+)</.exec(retry.request)?.[1]);
    expect(port).not.toBe(40000);
    expect(port).toBeGreaterThanOrEqual(1024);
    c.unmap(45);
    // The retry's outcome decides: refused too, so nothing of ours exists and nothing is deleted.
    c.receiveHttp(retry.id, { response: soapFault(718, 'ConflictInMappingEntry'), localAddress: '' }, 50);
    expect(c.pollHttp()).toBeNull();
    expect(drain(c)).toContainEqual({ type: 'unmapped', confirmed: true });
  });

  it('a gateway answering for another internal client or port is not believed, and its entry not deleted', () => {
    const { c, next } = discovered();
    const add = next();
    c.receiveHttp(add.id, { response: soapOk('AddPortMapping'), localAddress: '' }, 40);
    const check = next();
    c.receiveHttp(
      check.id,
      {
        response: soapOk('GetSpecificPortMappingEntry', {
          NewInternalPort: '41000',
          NewInternalClient: '192.168.1.11',
        }),
        localAddress: '',
      },
      50,
    );
    const events = drain(c);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'ignored',
        reason: expect.objectContaining({ code: PortmapErrorCode.WrongPort }),
      }),
    );
    expect(events.some((e: MappingEvent) => e.type === 'mapped')).toBe(false);
    c.unmap(60);
    expect(c.pollHttp()).toBeNull();
  });

  it('only-permanent gateways (725) get lease 0; the mapping is refreshed periodically', () => {
    const { c, next } = discovered({ permanentRefreshS: 600 });
    const add = next();
    c.receiveHttp(add.id, { response: soapFault(725, 'OnlyPermanentLeasesSupported'), localAddress: '' }, 40);
    const again = next();
    expect(again.request).toContain('<NewLeaseDuration>0</NewLeaseDuration>');
    c.receiveHttp(again.id, { response: soapOk('AddPortMapping'), localAddress: '' }, 50);
    const check = next();
    c.receiveHttp(
      check.id,
      {
        response: soapOk('GetSpecificPortMappingEntry', {
          NewInternalPort: '40000',
          NewInternalClient: '192.168.1.11',
          NewLeaseDuration: '0',
        }),
        localAddress: '',
      },
      60,
    );
    expect(drain(c).at(-1)).toMatchObject({ type: 'mapped', mapping: { lifetimeS: 0, expiresAt: Infinity } });
    expect(c.nextDeadline()).toBe(60 + 600_000);
  });

  it('an SSDP answer pointing elsewhere is ignored; search times out with a typed error', () => {
    const c = new UpnpIgdClient({
      internalPort: 40000,
      random: counterRandom(),
      searchTimeoutMs: 1000,
      retryAfterMs: Infinity,
    });
    c.map(0);
    c.receive(ssdp('http://10.9.9.9:80/desc.xml'), { host: GW, port: 1900 }, 5);
    c.receive(ssdp('https://192.168.1.1/desc.xml'), { host: GW, port: 1900 }, 5);
    c.receive(ssdp('http://user:pw@192.168.1.1/desc.xml'), { host: GW, port: 1900 }, 5);
    c.receive(new TextEncoder().encode('garbage'), { host: GW, port: 1900 }, 5);
    const events = drain(c);
    expect(events.map((e) => (e.type === 'ignored' ? e.reason.code : e.type))).toEqual([
      PortmapErrorCode.ForeignUrl,
      PortmapErrorCode.ForeignUrl,
      PortmapErrorCode.ForeignUrl,
      PortmapErrorCode.Http,
    ]);
    expect(c.pollHttp()).toBeNull();
    c.onTimeout(1000);
    expect(drain(c)).toMatchObject([{ type: 'failed', error: { code: PortmapErrorCode.Timeout } }]);
  });

  it('an XML bomb in the description fails the attempt with a typed reason', () => {
    const c = new UpnpIgdClient({ internalPort: 40000, random: counterRandom(), retryAfterMs: Infinity });
    c.map(0);
    c.receive(ssdp(), { host: GW, port: 1900 }, 10);
    const x = c.pollHttp()!;
    const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><root>&lol2;</root>`;
    c.receiveHttp(
      x.id,
      { response: { status: 200, headers: new Map(), body: bomb }, localAddress: '192.168.1.11' },
      20,
    );
    expect(drain(c)).toMatchObject([{ type: 'failed', error: { code: PortmapErrorCode.Xml } }]);
  });

  it('an HTTP exchange with no answer times out', () => {
    const { c, next } = discovered({ httpTimeoutMs: 1000, retryAfterMs: Infinity });
    next();
    c.onTimeout(1030);
    // First timeout of a control request: the gateway is searched again once.
    expect(c.pollTransmit(1030)).not.toBeNull();
  });
});

describe('UPnP messages', () => {
  it('finds the WAN connection services anywhere in the device tree, URLs on the gateway only', () => {
    const services = parseIgdDescription(DESCRIPTION, new URL(LOCATION));
    expect(services.map((s) => [s.serviceType, s.controlUrl.href])).toEqual([
      [IP_SERVICE, `http://${GW}:5000/ctl/IPConn`],
    ]);
    const foreign = DESCRIPTION.replace('/ctl/IPConn', 'http://198.51.100.1/ctl');
    expect(() => parseIgdDescription(foreign, new URL(LOCATION))).toThrow(
      expect.objectContaining({ code: PortmapErrorCode.ForeignUrl }),
    );
    const none = DESCRIPTION.replace(IP_SERVICE, 'urn:x:service:Other:1');
    expect(() => parseIgdDescription(none, new URL(LOCATION))).toThrow(
      expect.objectContaining({ code: PortmapErrorCode.NoService }),
    );
  });

  it('XML limits: entities, size and depth refused before anything is built', () => {
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
        return undefined;
      } catch (error) {
        return (error as PortmapError).code;
      }
    };
    expect(code(() => parseXml('<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>'))).toBe(PortmapErrorCode.Xml);
    expect(code(() => parseXml(`<x>${'a'.repeat(70_000)}</x>`))).toBe(PortmapErrorCode.Xml);
    expect(code(() => parseXml(`${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}`))).toBe(PortmapErrorCode.Xml);
    expect(code(() => parseXml('<x><__proto__>1</__proto__></x>'))).toBe(PortmapErrorCode.Xml);
    expect(code(() => parseXml('<x><y></x>'))).toBe(PortmapErrorCode.Xml);
    expect(parseXml('<x><y>a&amp;b</y></x>')).toEqual({ x: { y: 'a&b' } });
  });

  it('SOAP: escapes arguments, reads faults as UpnpFault with the UPnP code', () => {
    const request = encodeSoapRequest(new URL(`http://${GW}:5000/ctl/IPConn`), IP_SERVICE, 'AddPortMapping', [
      ['NewPortMappingDescription', '<x>&"'],
    ]);
    expect(request.body).toContain('<NewPortMappingDescription>&#60;x&#62;&#38;&#34;</NewPortMappingDescription>');
    expect(() => decodeSoapResponse(soapFault(718, 'ConflictInMappingEntry'), 'AddPortMapping')).toThrow(UpnpFault);
    expect(
      decodeSoapResponse(
        soapOk('GetExternalIPAddress', { NewExternalIPAddress: '1.2.3.4' }),
        'GetExternalIPAddress',
      ).get('NewExternalIPAddress'),
    ).toBe('1.2.3.4');
    expect(() => decodeSoapResponse({ status: 500, headers: new Map(), body: '<a/>' }, 'X')).toThrow(PortmapError);
  });

  it('HTTP reader: Content-Length, chunked, close-delimited; refuses oversize and bad framing', () => {
    const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
    const r1 = new HttpResponseReader();
    expect(r1.push(enc('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel'))).toBeUndefined();
    expect(r1.push(enc('lo'))?.body).toBe('hello');
    const r2 = new HttpResponseReader();
    expect(
      r2.push(enc('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n'))?.body,
    ).toBe('abcde');
    const r3 = new HttpResponseReader();
    r3.push(enc('HTTP/1.0 200 OK\r\n\r\npartial'));
    expect(r3.end().body).toBe('partial');
    const r4 = new HttpResponseReader(1000);
    expect(() => r4.push(new Uint8Array(1001))).toThrow(expect.objectContaining({ code: PortmapErrorCode.Http }));
    expect(() => new HttpResponseReader().push(enc('HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n'))).toThrow(
      PortmapError,
    );
    expect(() => new HttpResponseReader().push(enc('SMTP 220\r\n\r\n'))).toThrow(PortmapError);
    expect(() =>
      new HttpResponseReader().push(enc('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')),
    ).toThrow(PortmapError);
    const r5 = new HttpResponseReader();
    r5.push(enc('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    expect(() => r5.end()).toThrow(PortmapError);
  });

  it('SSDP: LOCATION must be http on the responder itself', () => {
    expect(decodeSsdpResponse(ssdp(), { host: GW, port: 1900 })).toMatchObject({ location: new URL(LOCATION) });
    expect((decodeSsdpResponse(ssdp(), { host: '192.168.1.2', port: 1900 }) as PortmapError).code).toBe(
      PortmapErrorCode.ForeignUrl,
    );
    expect((decodeSsdpResponse(new Uint8Array(4000), { host: GW, port: 1900 }) as PortmapError).code).toBe(
      PortmapErrorCode.Http,
    );
  });
});

describe('UPnP unmap while AddPortMapping has no answer', () => {
  it('asks whether the port maps to us and deletes only then', () => {
    const { c, next } = discovered({ httpTimeoutMs: 1000 });
    next(); // AddPortMapping, never answered
    c.unmap(100);
    c.onTimeout(1100); // the AddPortMapping times out
    const check = next();
    expect(check.request).toContain('GetSpecificPortMappingEntry');
    c.receiveHttp(
      check.id,
      {
        response: soapOk('GetSpecificPortMappingEntry', {
          NewInternalPort: '40000',
          NewInternalClient: '192.168.1.11',
        }),
        localAddress: '',
      },
      1200,
    );
    expect(next().request).toContain('DeletePortMapping');
  });

  it('leaves the entry alone when it belongs to someone else', () => {
    const { c, next } = discovered({ httpTimeoutMs: 1000 });
    next();
    c.unmap(100);
    c.onTimeout(1100);
    const check = next();
    c.receiveHttp(
      check.id,
      {
        response: soapOk('GetSpecificPortMappingEntry', {
          NewInternalPort: '40000',
          NewInternalClient: '192.168.1.99',
        }),
        localAddress: '',
      },
      1200,
    );
    expect(c.pollHttp()).toBeNull();
    expect(drain(c).at(-1)).toEqual({ type: 'unmapped', confirmed: true });
  });
});
