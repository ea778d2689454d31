/**
 * XML for UPnP descriptions and SOAP replies, parsed with fast-xml-parser (a maintained, dependency-
 * light parser with no native code) behind our own limits. A gateway's XML is hostile until proven
 * otherwise, so before the parser sees a byte we refuse:
 * - documents over `maxBytes` (64 KiB; real IGD descriptions are 2–6 KiB);
 * - any DOCTYPE or ENTITY declaration: UPnP documents never carry one (UDA 2.0 §2.3), and without them
 *   no entity can expand ("billion laughs") and no external entity can be fetched (XXE) — only the
 *   five predefined entities and character references remain;
 * and the parser itself refuses nesting deeper than `maxDepth` tags.
 */
import { XMLParser } from 'fast-xml-parser';
import { PortmapError, PortmapErrorCode } from './errors.js';

export const DEFAULT_MAX_XML_BYTES = 64 * 1024;
export const DEFAULT_MAX_XML_DEPTH = 32;

export interface XmlLimits {
  readonly maxBytes?: number;
  readonly maxDepth?: number;
}

/** A parsed element: child elements by local name (arrays where `arrays` says so), text as `#text`. */
export type XmlNode = { readonly [name: string]: XmlValue };
export type XmlValue = string | XmlNode | readonly XmlNode[] | readonly string[];

/**
 * Parses `text` into plain objects keyed by local names (namespace prefixes removed). Elements named
 * in `arrays` are always arrays (UPnP's device and service lists). Throws PortmapError(Xml).
 */
export function parseXml(text: string, arrays: readonly string[] = [], limits: XmlLimits = {}): XmlNode {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_XML_BYTES;
  if (text.length > maxBytes) {
    throw new PortmapError(PortmapErrorCode.Xml, `XML document of ${text.length} characters (limit ${maxBytes})`);
  }
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) {
    throw new PortmapError(PortmapErrorCode.Xml, 'XML document with a DOCTYPE/ENTITY declaration refused');
  }
  const arraySet = new Set(arrays);
  const parser = new XMLParser({
    ignoreAttributes: true,
    removeNSPrefix: true,
    parseTagValue: false,
    trimValues: true,
    processEntities: true,
    htmlEntities: false,
    maxNestedTags: limits.maxDepth ?? DEFAULT_MAX_XML_DEPTH,
    isArray: (name) => arraySet.has(name),
  });
  let parsed: unknown;
  try {
    parsed = parser.parse(text, true);
  } catch (cause) {
    throw new PortmapError(PortmapErrorCode.Xml, `malformed XML: ${(cause as Error).message}`, { cause });
  }
  if (parsed === null || typeof parsed !== 'object') throw new PortmapError(PortmapErrorCode.Xml, 'empty XML document');
  return parsed as XmlNode;
}

/** The child element `name` of `node` as an object, or undefined. */
export function child(node: XmlValue | undefined, name: string): XmlNode | undefined {
  if (node === undefined || typeof node === 'string' || Array.isArray(node)) return undefined;
  const value = (node as XmlNode)[name];
  if (value === undefined || typeof value === 'string' || Array.isArray(value)) return undefined;
  return value as XmlNode;
}

/** The children `name` of `node` as a list of objects (a single child or an array of them). */
export function children(node: XmlValue | undefined, name: string): XmlNode[] {
  if (node === undefined || typeof node === 'string' || Array.isArray(node)) return [];
  const value = (node as XmlNode)[name];
  if (value === undefined || typeof value === 'string') return [];
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v): v is XmlNode => typeof v === 'object' && v !== null);
}

/** The text of child element `name` ('' for an empty element), or undefined when absent. */
export function text(node: XmlValue | undefined, name: string): string | undefined {
  if (node === undefined || typeof node === 'string' || Array.isArray(node)) return undefined;
  const value = (node as XmlNode)[name];
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
  const inner = (value as XmlNode)['#text'];
  return typeof inner === 'string' ? inner : '';
}
