/**
 * Just enough DER (X.690) for IKE: walk a certificate to its subject Name,
 * print and build Distinguished Names, read OIDs. Every length is checked
 * against its enclosing element; malformed input throws IkeError.
 */
import { IkeError, IkeErrorCode } from './errors.js';

export interface Tlv {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly off: number;
  readonly valueOff: number;
  /** One past the last value byte. */
  readonly end: number;
}

function derError(what: string): never {
  throw new IkeError(IkeErrorCode.Certificate, `DER: ${what}`);
}

export function readTlv(b: Uint8Array, off: number, end: number): Tlv {
  if (off + 2 > end) derError('truncated header');
  const tag = b[off];
  if ((tag & 0x1f) === 0x1f) derError('multi-byte tags unsupported');
  let len = b[off + 1];
  let valueOff = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) derError(`length of ${n} bytes`);
    if (valueOff + n > end) derError('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[valueOff + i];
    valueOff += n;
  }
  if (valueOff + len > end) derError('value past end');
  return { tag, off, valueOff, end: valueOff + len };
}

/** The children of a constructed element. */
export function children(b: Uint8Array, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let o = t.valueOff;
  while (o < t.end) {
    const c = readTlv(b, o, t.end);
    out.push(c);
    o = c.end;
    if (out.length > 1024) derError('too many elements');
  }
  return out;
}

/** DER of the subject Name of an X.509 certificate. */
export function certSubjectDer(cert: Uint8Array): Uint8Array {
  const top = readTlv(cert, 0, cert.length);
  if (top.tag !== 0x30) derError('certificate is not a SEQUENCE');
  const tbs = readTlv(cert, top.valueOff, top.end);
  if (tbs.tag !== 0x30) derError('tbsCertificate is not a SEQUENCE');
  const els = children(cert, tbs);
  let i = 0;
  if (els[0]?.tag === 0xa0) i = 1; // [0] version
  // serialNumber, signature, issuer, validity, subject
  const subject = els[i + 4];
  if (!subject || subject.tag !== 0x30) derError('no subject');
  return cert.slice(subject.off, subject.end);
}

export function decodeOid(b: Uint8Array, off: number, end: number): string {
  if (off >= end) derError('empty OID');
  const first = b[off];
  const parts: number[] = [Math.min(2, Math.floor(first / 40)), first - 40 * Math.min(2, Math.floor(first / 40))];
  let v = 0;
  for (let i = off + 1; i < end; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if (!(b[i] & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

function encodeOid(oid: string): Uint8Array {
  const parts = oid.split('.').map(Number);
  const out: number[] = [parts[0] * 40 + parts[1]];
  for (const p of parts.slice(2)) {
    const tmp: number[] = [p & 0x7f];
    let v = Math.floor(p / 128);
    while (v > 0) {
      tmp.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(...tmp);
  }
  return new Uint8Array(out);
}

const ATTR_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN', '2.5.4.4': 'SN', '2.5.4.5': 'serialNumber', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST',
  '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.12': 'T', '2.5.4.42': 'G', '1.2.840.113549.1.9.1': 'E',
  '0.9.2342.19200300.100.1.25': 'DC', '0.9.2342.19200300.100.1.1': 'UID',
};
const ATTR_OIDS: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(ATTR_NAMES).map(([k, v]) => [v.toUpperCase(), k]));

/** "O=pv interop, CN=cgw.pv.test" (RDNs in DER order, like strongSwan prints them). */
export function dnToString(der: Uint8Array): string {
  const name = readTlv(der, 0, der.length);
  if (name.tag !== 0x30) derError('Name is not a SEQUENCE');
  const out: string[] = [];
  for (const rdn of children(der, name)) {
    if (rdn.tag !== 0x31) derError('RDN is not a SET');
    for (const atv of children(der, rdn)) {
      const [oid, val] = children(der, atv);
      if (!oid || !val || oid.tag !== 0x06) derError('bad AttributeTypeAndValue');
      const o = decodeOid(der, oid.valueOff, oid.end);
      const value = Buffer.from(der.subarray(val.valueOff, val.end)).toString(val.tag === 0x1e ? 'utf16le' : 'utf8');
      out.push(`${ATTR_NAMES[o] ?? o}=${value}`);
    }
  }
  return out.join(', ');
}

function derLen(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return [0x80 | bytes.length, ...bytes];
}
function tlv(tag: number, value: Uint8Array): Uint8Array {
  return new Uint8Array([tag, ...derLen(value.length), ...value]);
}

/** Encodes "C=US, O=x, CN=y" as a DER Name (UTF8String values, PrintableString for C). */
export function dnFromString(s: string): Uint8Array {
  const rdns: Uint8Array[] = [];
  for (const part of s.split(/\s*[,/]\s*/).filter((p) => p.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new IkeError(IkeErrorCode.Config, `bad DN component '${part}'`);
    const key = part.slice(0, eq).trim().toUpperCase();
    const oid = ATTR_OIDS[key] ?? (/^\d+(\.\d+)+$/.test(key) ? key : undefined);
    if (!oid) throw new IkeError(IkeErrorCode.Config, `unknown DN attribute '${key}'`);
    const value = new Uint8Array(Buffer.from(part.slice(eq + 1).trim(), 'utf8'));
    const atv = tlv(0x30, concatAll([tlv(0x06, encodeOid(oid)), tlv(key === 'C' ? 0x13 : 0x0c, value)]));
    rdns.push(tlv(0x31, atv));
  }
  return tlv(0x30, concatAll(rdns));
}

/** Canonical text for comparisons: attribute names upper-cased, whitespace trimmed, case-folded values. */
export function canonicalDn(s: string): string {
  return s.split(/\s*[,/]\s*/).filter((p) => p.length > 0).map((p) => {
    const eq = p.indexOf('=');
    return `${p.slice(0, eq).trim().toUpperCase()}=${p.slice(eq + 1).trim().toLowerCase()}`;
  }).join(',');
}

function concatAll(parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
