/**
 * Port-mapping replies (src/traversal/portmap): NAT-PMP (RFC 6886) and PCP (RFC 6887) responses and
 * SSDP answers on UDP; the HTTP response reader, SOAP responses and the IGD description XML of UPnP.
 * The decoders return or throw PortmapError for bad input, and nothing else.
 */
import {
  decodeNatPmpResponse,
  decodePcpResponse,
  decodeSoapResponse,
  decodeSsdpResponse,
  HttpResponseReader,
  parseIgdDescription,
  PortmapError,
} from '../../src/traversal/portmap/index.js';
import { natPmpAddressReply, natPmpMapReply, pcpAnnounceReply } from './portmap-replies.js';
import { refusing, utf8, type FuzzTarget } from '../engine/target.js';

const GATEWAY = { host: '192.168.1.1', port: 1900 };
const LOCATION = new URL('http://192.168.1.1:5000/rootDesc.xml');
const decoder = new TextDecoder();

export const portmapDatagram: FuzzTarget = {
  name: 'portmap-datagram',
  description: 'decodeNatPmpResponse, decodePcpResponse, decodeSsdpResponse (RFC 6886, 6887, UPnP SSDP)',
  maxLength: 1100,
  seeds: () => [
    natPmpAddressReply(0, 1000),
    natPmpMapReply(0, 1000, 40000, 50000, 7200),
    pcpAnnounceReply(5000),
    utf8(
      'HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n',
    ),
  ],
  dictionary: [Uint8Array.of(0, 128), Uint8Array.of(0, 129), Uint8Array.of(2, 0x81), utf8('LOCATION: '), utf8('\r\n')],
  run(data) {
    refusing(() => decodeNatPmpResponse(data), PortmapError);
    refusing(() => decodePcpResponse(data), PortmapError);
    decodeSsdpResponse(data, GATEWAY);
  },
};

export const portmapHttp: FuzzTarget = {
  name: 'portmap-http',
  description: 'HttpResponseReader over arbitrary chunks, decodeSoapResponse, parseIgdDescription (UPnP IGD)',
  maxLength: 4096,
  seeds: () => [
    utf8(
      'HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 120\r\n\r\n<s:Envelope><s:Body><u:GetExternalIPAddressResponse><NewExternalIPAddress>203.0.113.5</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>',
    ),
    utf8(
      '<root><device><deviceList><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/ctl/IPConn</controlURL></service></serviceList></device></deviceList></device></root>',
    ),
  ],
  dictionary: ['<', '>', '</', 'Content-Length: ', 'Transfer-Encoding: chunked', '\r\n\r\n', '<![CDATA[', '&amp;'].map(
    utf8,
  ),
  run(data) {
    const reader = new HttpResponseReader(2000);
    refusing(() => {
      for (let p = 0; p < data.length; p += 1 + ((data[p] ?? 0) % 300))
        reader.push(data.subarray(p, p + 1 + ((data[p] ?? 0) % 300)));
      const response = reader.end();
      decodeSoapResponse(response, 'GetExternalIPAddress');
    }, PortmapError);
    const text = decoder.decode(data);
    refusing(() => parseIgdDescription(text, LOCATION), PortmapError);
    refusing(() => decodeSoapResponse({ status: 500, headers: new Map(), body: text }, 'AddPortMapping'), PortmapError);
  },
};
