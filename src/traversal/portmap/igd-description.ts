/**
 * The parts of a UPnP device description (UDA 2.0 §2.3) an IGD client needs: the control URLs of the
 * WANIPConnection (v1/v2) and WANPPPConnection services, found anywhere in the device tree
 * (InternetGatewayDevice → WANDevice → WANConnectionDevice). Every URL must stay on the gateway.
 */
import { PortmapError, PortmapErrorCode } from './errors.js';
import { sameHostUrl } from './ssdp.js';
import { children, child, parseXml, text, type XmlNode } from './xml.js';

export interface IgdService {
  /** e.g. urn:schemas-upnp-org:service:WANIPConnection:1 */
  readonly serviceType: string;
  readonly controlUrl: URL;
}

/** In order of preference: IPv4 forwarding over IP first, then PPP links. */
const SERVICE_TYPES = [
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1',
];
const MAX_DEVICES = 64;

/** The usable connection services in a description fetched from `location`, best first. */
export function parseIgdDescription(xml: string, location: URL): IgdService[] {
  const root = child(parseXml(xml, ['device', 'service']), 'root');
  if (!root) throw new PortmapError(PortmapErrorCode.Xml, 'device description without <root>');
  const host = location.hostname.startsWith('[') ? location.hostname.slice(1, -1) : location.hostname;
  const baseText = text(root, 'URLBase');
  let base = location;
  if (baseText) {
    const checked = sameHostUrl(baseText, location, host);
    if (checked instanceof PortmapError) throw checked;
    base = checked;
  }
  const found: IgdService[] = [];
  const stack: XmlNode[] = children(root, 'device');
  let visited = 0;
  while (stack.length > 0 && visited++ < MAX_DEVICES) {
    const device = stack.pop() as XmlNode;
    for (const service of children(child(device, 'serviceList'), 'service')) {
      const serviceType = text(service, 'serviceType')?.trim() ?? '';
      const controlText = text(service, 'controlURL')?.trim();
      if (!SERVICE_TYPES.includes(serviceType) || !controlText) continue;
      const controlUrl = sameHostUrl(controlText, base, host);
      if (controlUrl instanceof PortmapError) throw controlUrl;
      found.push({ serviceType, controlUrl });
    }
    stack.push(...children(child(device, 'deviceList'), 'device'));
  }
  if (found.length === 0) {
    throw new PortmapError(
      PortmapErrorCode.NoService,
      'no WANIPConnection or WANPPPConnection service in the description',
    );
  }
  return found.sort((a, b) => SERVICE_TYPES.indexOf(a.serviceType) - SERVICE_TYPES.indexOf(b.serviceType));
}
