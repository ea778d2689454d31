/**
 * SOAP control of the IGD connection services (UDA 2.0 §3.2; WANIPConnection:1/2 and
 * WANPPPConnection:1 share the actions we use): requests as HttpRequest values, responses parsed into
 * output arguments or a typed UPnP error (errorCode from the fault's UPnPError detail).
 */
import { PortmapError, PortmapErrorCode } from './errors.js';
import type { HttpRequest, HttpResponse } from './http.js';
import { child, parseXml, text } from './xml.js';

/** UPnP error codes of AddPortMapping/DeletePortMapping we react to (WANIPConnection:2 §2.4.16). */
export const UpnpErrorCode = {
  NoSuchEntryInArray: 714,
  ConflictInMappingEntry: 718,
  SamePortValuesRequired: 724,
  OnlyPermanentLeasesSupported: 725,
} as const;

export type SoapArguments = readonly (readonly [string, string])[];

export function escapeXml(value: string): string {
  return value.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function encodeSoapRequest(
  controlUrl: URL,
  serviceType: string,
  action: string,
  args: SoapArguments,
): HttpRequest {
  if (!/^[A-Za-z]+$/.test(action) || args.some(([name]) => !/^[A-Za-z]+$/.test(name))) {
    throw new PortmapError(PortmapErrorCode.InvalidArgument, `bad SOAP action or argument name in ${action}`);
  }
  const body =
    '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
    's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>' +
    `<u:${action} xmlns:u="${escapeXml(serviceType)}">` +
    args.map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`).join('') +
    `</u:${action}></s:Body></s:Envelope>\r\n`;
  return {
    method: 'POST',
    host: controlUrl.hostname.startsWith('[') ? controlUrl.hostname.slice(1, -1) : controlUrl.hostname,
    port: controlUrl.port === '' ? 80 : Number(controlUrl.port),
    path: `${controlUrl.pathname}${controlUrl.search}`,
    headers: {
      'Content-Type': 'text/xml; charset="utf-8"',
      SOAPAction: `"${serviceType}#${action}"`,
    },
    body,
  };
}

/** A SOAP fault carrying a UPnP error (status 500). */
export class UpnpFault extends PortmapError {
  constructor(
    readonly upnpErrorCode: number,
    readonly description: string,
    action: string,
  ) {
    super(PortmapErrorCode.Refused, `${action} failed: UPnP error ${upnpErrorCode} ${description}`.trim());
  }
}

/**
 * Output arguments of `action`'s response (name → text). Throws UpnpFault for a SOAP fault and
 * PortmapError(Http/Xml) for anything else unusable.
 */
export function decodeSoapResponse(response: HttpResponse, action: string): Map<string, string> {
  const document = parseXml(response.body);
  const body = child(child(document, 'Envelope'), 'Body');
  if (response.status !== 200) {
    const error = child(child(child(body, 'Fault'), 'detail'), 'UPnPError');
    const code = Number(text(error, 'errorCode'));
    if (error && Number.isInteger(code)) throw new UpnpFault(code, text(error, 'errorDescription') ?? '', action);
    throw new PortmapError(PortmapErrorCode.Http, `${action}: HTTP status ${response.status} without a UPnP error`);
  }
  // An action without output arguments answers with an empty element (`<u:AddPortMappingResponse/>`).
  const present = body !== undefined && (body as Record<string, unknown>)[`${action}Response`] !== undefined;
  if (!present) throw new PortmapError(PortmapErrorCode.Xml, `${action}: no ${action}Response in the SOAP body`);
  const result = child(body, `${action}Response`) ?? {};
  const out = new Map<string, string>();
  for (const [name, value] of Object.entries(result)) {
    if (typeof value === 'string') out.set(name, value);
    else if (value && typeof value === 'object' && !Array.isArray(value)) out.set(name, text(result, name) ?? '');
  }
  return out;
}
