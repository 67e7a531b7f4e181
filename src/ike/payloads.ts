/**
 * IKEv2 payload codecs (RFC 7296 §3.2-§3.14, RFC 7383 §2.5).
 *
 * Generic payload header (RFC 7296 §3.2), in front of every payload:
 *
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Each body codec follows abstract-encoding: `encodingLength(v)`,
 * `encode(v, buf, off)` returning the bytes written, `decode(buf, off, end)`
 * which validates every length against `end` and throws IkeError, never
 * reading outside [off, end). Decoded byte fields are copies (the datagram
 * buffer may be reused by the caller).
 */
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { ATTR_KEY_LENGTH, GENERIC_PAYLOAD_HEADER_LEN, PayloadType, TsType } from './constants.js';
import { IkeError, IkeErrorCode, need } from './errors.js';

// ---------------------------------------------------------------- types

export interface Transform {
  readonly type: number;
  readonly id: number;
  /** Key Length attribute in bits (ENCR), or undefined. */
  readonly keyLength?: number;
  /** True if an attribute other than Key Length was present (RFC 7296 §3.3.6: such a transform is unusable). */
  readonly unknownAttribute?: boolean;
}

export interface Proposal {
  /** 1-based proposal number. */
  readonly num: number;
  readonly protocolId: number;
  /** 0 bytes (IKE_SA_INIT), 4 (ESP/AH) or 8 (IKE rekey). */
  readonly spi: Uint8Array;
  readonly transforms: readonly Transform[];
}

/** RFC 7296 §3.13.1; IPv4 selectors carry host-order u32 addresses. */
export interface TrafficSelector {
  readonly type: number;
  readonly ipProtocol: number;
  readonly startPort: number;
  readonly endPort: number;
  /** IPv4: host-order u32. IPv6 selectors keep raw 16-byte addresses in startRaw/endRaw. */
  readonly startAddr: number;
  readonly endAddr: number;
  readonly startRaw?: Uint8Array;
  readonly endRaw?: Uint8Array;
}

export type Payload =
  | { readonly type: 33; readonly proposals: readonly Proposal[] }
  | { readonly type: 34; readonly group: number; readonly data: Uint8Array }
  | { readonly type: 35 | 36; readonly idType: number; readonly data: Uint8Array }
  | { readonly type: 37 | 38; readonly encoding: number; readonly data: Uint8Array }
  | { readonly type: 39; readonly method: number; readonly data: Uint8Array }
  | { readonly type: 40; readonly data: Uint8Array }
  | {
      readonly type: 41;
      readonly protocolId: number;
      readonly spi: Uint8Array;
      readonly notifyType: number;
      readonly data: Uint8Array;
    }
  | { readonly type: 42; readonly protocolId: number; readonly spiSize: number; readonly spis: readonly Uint8Array[] }
  | { readonly type: 43; readonly data: Uint8Array }
  | { readonly type: 44 | 45; readonly selectors: readonly TrafficSelector[] }
  /** Any payload this code does not interpret (kept whole; critical bit remembered). */
  | { readonly type: -1; readonly rawType: number; readonly critical: boolean; readonly data: Uint8Array };

export type SaPayload = Extract<Payload, { type: 33 }>;
export type KePayload = Extract<Payload, { type: 34 }>;
export type IdPayload = Extract<Payload, { type: 35 | 36 }>;
export type CertPayload = Extract<Payload, { type: 37 | 38 }>;
export type AuthPayload = Extract<Payload, { type: 39 }>;
export type NoncePayload = Extract<Payload, { type: 40 }>;
export type NotifyPayload = Extract<Payload, { type: 41 }>;
export type DeletePayload = Extract<Payload, { type: 42 }>;
export type TsPayload = Extract<Payload, { type: 44 | 45 }>;
export type UnknownPayload = Extract<Payload, { type: -1 }>;

/** The Next Payload value of a payload. */
export function wireType(p: Payload): number {
  return p.type === -1 ? p.rawType : p.type;
}

const EMPTY = new Uint8Array(0);

function bad(what: string): never {
  throw new IkeError(IkeErrorCode.BadPayload, what);
}

// ------------------------------------------------------------ SA (§3.3)
//  Proposal substructure:
//  | Last Substruc |   RESERVED    |         Proposal Length       |
//  | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
//  ~                        SPI (variable)                         ~
//  ~                        <Transforms>                           ~
//  Transform substructure:
//  | Last Substruc |   RESERVED    |        Transform Length       |
//  |Transform Type |   RESERVED    |          Transform ID         |
//  ~                      Transform Attributes                     ~

function transformLength(t: Transform): number {
  return 8 + (t.keyLength !== undefined ? 4 : 0);
}
function proposalLength(p: Proposal): number {
  let n = 8 + p.spi.length;
  for (const t of p.transforms) n += transformLength(t);
  return n;
}

export const saBody = {
  encodingLength(v: { proposals: readonly Proposal[] }): number {
    let n = 0;
    for (const p of v.proposals) n += proposalLength(p);
    return n;
  },
  encode(v: { proposals: readonly Proposal[] }, buf: Uint8Array, off: number): number {
    const start = off;
    v.proposals.forEach((p, pi) => {
      const plen = proposalLength(p);
      if (p.transforms.length > 255 || p.spi.length > 255) throw new RangeError('proposal too large');
      buf[off] = pi === v.proposals.length - 1 ? 0 : 2;
      buf[off + 1] = 0;
      writeU16(buf, off + 2, plen);
      buf[off + 4] = p.num;
      buf[off + 5] = p.protocolId;
      buf[off + 6] = p.spi.length;
      buf[off + 7] = p.transforms.length;
      buf.set(p.spi, off + 8);
      let o = off + 8 + p.spi.length;
      p.transforms.forEach((t, ti) => {
        const tlen = transformLength(t);
        buf[o] = ti === p.transforms.length - 1 ? 0 : 3;
        buf[o + 1] = 0;
        writeU16(buf, o + 2, tlen);
        buf[o + 4] = t.type;
        buf[o + 5] = 0;
        writeU16(buf, o + 6, t.id);
        if (t.keyLength !== undefined) {
          writeU16(buf, o + 8, 0x8000 | ATTR_KEY_LENGTH);
          writeU16(buf, o + 10, t.keyLength);
        }
        o += tlen;
      });
      off += plen;
    });
    return off - start;
  },
  decode(buf: Uint8Array, off: number, end: number): { proposals: Proposal[] } {
    const proposals: Proposal[] = [];
    let last = 2;
    while (last === 2) {
      need(off, 8, end, 'SA proposal');
      last = buf[off];
      if (last !== 0 && last !== 2) bad(`SA proposal: last-substructure ${last}`);
      const plen = readU16(buf, off + 2);
      if (plen < 8 || off + plen > end) throw new IkeError(IkeErrorCode.BadLength, `SA proposal length ${plen}`);
      const pend = off + plen;
      const num = buf[off + 4];
      const protocolId = buf[off + 5];
      const spiSize = buf[off + 6];
      const nt = buf[off + 7];
      need(off + 8, spiSize, pend, 'SA proposal SPI');
      const spi = buf.slice(off + 8, off + 8 + spiSize);
      let o = off + 8 + spiSize;
      const transforms: Transform[] = [];
      for (let i = 0; i < nt; i++) {
        need(o, 8, pend, 'SA transform');
        const tlast = buf[o];
        if (tlast !== 0 && tlast !== 3) bad(`SA transform: last-substructure ${tlast}`);
        if ((tlast === 0) !== (i === nt - 1)) bad('SA transform: last-substructure disagrees with count');
        const tlen = readU16(buf, o + 2);
        if (tlen < 8 || o + tlen > pend) throw new IkeError(IkeErrorCode.BadLength, `SA transform length ${tlen}`);
        const type = buf[o + 4];
        const id = readU16(buf, o + 6);
        let keyLength: number | undefined;
        let unknownAttribute = false;
        let a = o + 8;
        const tend = o + tlen;
        while (a < tend) {
          need(a, 4, tend, 'transform attribute');
          const at = readU16(buf, a);
          if (at & 0x8000) {
            if ((at & 0x7fff) === ATTR_KEY_LENGTH) keyLength = readU16(buf, a + 2);
            else unknownAttribute = true;
            a += 4;
          } else {
            const alen = readU16(buf, a + 2);
            need(a + 4, alen, tend, 'transform attribute value');
            unknownAttribute = true;
            a += 4 + alen;
          }
        }
        const t: Transform = keyLength !== undefined
          ? (unknownAttribute ? { type, id, keyLength, unknownAttribute } : { type, id, keyLength })
          : (unknownAttribute ? { type, id, unknownAttribute } : { type, id });
        transforms.push(t);
        o += tlen;
      }
      if (o !== pend) throw new IkeError(IkeErrorCode.BadLength, 'SA proposal: transforms do not fill the proposal');
      proposals.push({ num, protocolId, spi, transforms });
      off = pend;
    }
    if (off !== end) throw new IkeError(IkeErrorCode.BadLength, 'SA payload: bytes after the last proposal');
    return { proposals };
  },
};

// ------------------------------------------------------------- KE (§3.4)
//  |   Diffie-Hellman Group Num    |           RESERVED            |
//  ~                       Key Exchange Data                       ~
export const keBody = {
  encodingLength(v: { data: Uint8Array }): number {
    return 4 + v.data.length;
  },
  encode(v: { group: number; data: Uint8Array }, buf: Uint8Array, off: number): number {
    writeU16(buf, off, v.group);
    writeU16(buf, off + 2, 0);
    buf.set(v.data, off + 4);
    return 4 + v.data.length;
  },
  decode(buf: Uint8Array, off: number, end: number): { group: number; data: Uint8Array } {
    need(off, 4, end, 'KE');
    return { group: readU16(buf, off), data: buf.slice(off + 4, end) };
  },
};

// ------------------------------------- ID (§3.5), AUTH (§3.8): 1 + 3 reserved
//  |   ID Type     |                 RESERVED                      |
//  ~                   Identification Data                         ~
export const typedBody = {
  encodingLength(v: { data: Uint8Array }): number {
    return 4 + v.data.length;
  },
  encode(kind: number, data: Uint8Array, buf: Uint8Array, off: number): number {
    buf[off] = kind;
    buf[off + 1] = 0;
    buf[off + 2] = 0;
    buf[off + 3] = 0;
    buf.set(data, off + 4);
    return 4 + data.length;
  },
  decode(buf: Uint8Array, off: number, end: number, what: string): { kind: number; data: Uint8Array } {
    need(off, 4, end, what);
    return { kind: buf[off], data: buf.slice(off + 4, end) };
  },
};

// --------------------------------------- CERT/CERTREQ (§3.6, §3.7): 1 byte
//  | Cert Encoding |                                               |
//  +-+-+-+-+-+-+-+-+   Certificate Data / Certification Authority  ~
export const certBody = {
  encodingLength(v: { data: Uint8Array }): number {
    return 1 + v.data.length;
  },
  encode(v: { encoding: number; data: Uint8Array }, buf: Uint8Array, off: number): number {
    buf[off] = v.encoding;
    buf.set(v.data, off + 1);
    return 1 + v.data.length;
  },
  decode(buf: Uint8Array, off: number, end: number): { encoding: number; data: Uint8Array } {
    need(off, 1, end, 'CERT');
    return { encoding: buf[off], data: buf.slice(off + 1, end) };
  },
};

// --------------------------------------------------------- Notify (§3.10)
//  |  Protocol ID  |   SPI Size    |      Notify Message Type      |
//  ~                Security Parameter Index (SPI)                 ~
//  ~                       Notification Data                       ~
export const notifyBody = {
  encodingLength(v: { spi: Uint8Array; data: Uint8Array }): number {
    return 4 + v.spi.length + v.data.length;
  },
  encode(v: { protocolId: number; spi: Uint8Array; notifyType: number; data: Uint8Array }, buf: Uint8Array, off: number): number {
    buf[off] = v.protocolId;
    buf[off + 1] = v.spi.length;
    writeU16(buf, off + 2, v.notifyType);
    buf.set(v.spi, off + 4);
    buf.set(v.data, off + 4 + v.spi.length);
    return 4 + v.spi.length + v.data.length;
  },
  decode(buf: Uint8Array, off: number, end: number): { protocolId: number; spi: Uint8Array; notifyType: number; data: Uint8Array } {
    need(off, 4, end, 'Notify');
    const spiSize = buf[off + 1];
    need(off + 4, spiSize, end, 'Notify SPI');
    return {
      protocolId: buf[off],
      spi: buf.slice(off + 4, off + 4 + spiSize),
      notifyType: readU16(buf, off + 2),
      data: buf.slice(off + 4 + spiSize, end),
    };
  },
};

// --------------------------------------------------------- Delete (§3.11)
//  | Protocol ID   |   SPI Size    |          Num of SPIs          |
//  ~               Security Parameter Index(es) (SPI)              ~
export const deleteBody = {
  encodingLength(v: { spis: readonly Uint8Array[] }): number {
    let n = 4;
    for (const s of v.spis) n += s.length;
    return n;
  },
  encode(v: { protocolId: number; spiSize: number; spis: readonly Uint8Array[] }, buf: Uint8Array, off: number): number {
    buf[off] = v.protocolId;
    buf[off + 1] = v.spiSize;
    writeU16(buf, off + 2, v.spis.length);
    let o = off + 4;
    for (const s of v.spis) {
      if (s.length !== v.spiSize) throw new RangeError('Delete: SPI size mismatch');
      buf.set(s, o);
      o += s.length;
    }
    return o - off;
  },
  decode(buf: Uint8Array, off: number, end: number): { protocolId: number; spiSize: number; spis: Uint8Array[] } {
    need(off, 4, end, 'Delete');
    const protocolId = buf[off];
    const spiSize = buf[off + 1];
    const n = readU16(buf, off + 2);
    if (off + 4 + n * spiSize !== end) throw new IkeError(IkeErrorCode.BadLength, `Delete: ${n} SPIs of ${spiSize} bytes do not fill ${end - off - 4}`);
    const spis: Uint8Array[] = [];
    for (let i = 0; i < n; i++) spis.push(buf.slice(off + 4 + i * spiSize, off + 4 + (i + 1) * spiSize));
    return { protocolId, spiSize, spis };
  },
};

// ------------------------------------------------ Traffic selectors (§3.13)
//  | Number of TSs |                 RESERVED                      |
//  ~                       <Traffic Selectors>                     ~
//  each:
//  |   TS Type     |IP Protocol ID*|       Selector Length         |
//  |           Start Port*         |           End Port*           |
//  ~                         Starting Address*                     ~
//  ~                         Ending Address*                       ~
function tsLen(t: TrafficSelector): number {
  return t.type === TsType.IPV6_ADDR_RANGE ? 40 : 16;
}
export const tsBody = {
  encodingLength(v: { selectors: readonly TrafficSelector[] }): number {
    let n = 4;
    for (const t of v.selectors) n += tsLen(t);
    return n;
  },
  encode(v: { selectors: readonly TrafficSelector[] }, buf: Uint8Array, off: number): number {
    if (v.selectors.length > 255) throw new RangeError('too many traffic selectors');
    buf[off] = v.selectors.length;
    buf[off + 1] = buf[off + 2] = buf[off + 3] = 0;
    let o = off + 4;
    for (const t of v.selectors) {
      const len = tsLen(t);
      buf[o] = t.type;
      buf[o + 1] = t.ipProtocol;
      writeU16(buf, o + 2, len);
      writeU16(buf, o + 4, t.startPort);
      writeU16(buf, o + 6, t.endPort);
      if (t.type === TsType.IPV6_ADDR_RANGE) {
        if (!t.startRaw || !t.endRaw || t.startRaw.length !== 16 || t.endRaw.length !== 16) throw new RangeError('IPv6 TS needs raw addresses');
        buf.set(t.startRaw, o + 8);
        buf.set(t.endRaw, o + 24);
      } else {
        writeU32(buf, o + 8, t.startAddr);
        writeU32(buf, o + 12, t.endAddr);
      }
      o += len;
    }
    return o - off;
  },
  decode(buf: Uint8Array, off: number, end: number): { selectors: TrafficSelector[] } {
    need(off, 4, end, 'TS');
    const n = buf[off];
    let o = off + 4;
    const selectors: TrafficSelector[] = [];
    for (let i = 0; i < n; i++) {
      need(o, 4, end, 'traffic selector');
      const type = buf[o];
      const len = readU16(buf, o + 2);
      if (o + len > end) throw new IkeError(IkeErrorCode.Truncated, `traffic selector length ${len}`);
      if (type === TsType.IPV4_ADDR_RANGE) {
        if (len !== 16) throw new IkeError(IkeErrorCode.BadLength, `IPv4 traffic selector length ${len}`);
        selectors.push({
          type, ipProtocol: buf[o + 1], startPort: readU16(buf, o + 4), endPort: readU16(buf, o + 6),
          startAddr: readU32(buf, o + 8), endAddr: readU32(buf, o + 12),
        });
      } else if (type === TsType.IPV6_ADDR_RANGE) {
        if (len !== 40) throw new IkeError(IkeErrorCode.BadLength, `IPv6 traffic selector length ${len}`);
        selectors.push({
          type, ipProtocol: buf[o + 1], startPort: readU16(buf, o + 4), endPort: readU16(buf, o + 6),
          startAddr: 0, endAddr: 0, startRaw: buf.slice(o + 8, o + 24), endRaw: buf.slice(o + 24, o + 40),
        });
      } else {
        if (len < 4) throw new IkeError(IkeErrorCode.BadLength, `traffic selector length ${len}`);
        // Unknown TS type: keep its place but it can never match (type preserved).
        selectors.push({ type, ipProtocol: buf[o + 1], startPort: 0, endPort: 0, startAddr: 0, endAddr: 0 });
      }
      o += len;
    }
    if (o !== end) throw new IkeError(IkeErrorCode.BadLength, 'TS payload: bytes after the last selector');
    return { selectors };
  },
};

// ------------------------------------------------------------ body dispatch

/** Length of a payload body (without the 4-byte generic header). */
export function bodyLength(p: Payload): number {
  switch (p.type) {
    case PayloadType.SA: return saBody.encodingLength(p);
    case PayloadType.KE: return keBody.encodingLength(p);
    case PayloadType.IDi: case PayloadType.IDr: return typedBody.encodingLength(p);
    case PayloadType.CERT: case PayloadType.CERTREQ: return certBody.encodingLength(p);
    case PayloadType.AUTH: return typedBody.encodingLength(p);
    case PayloadType.NONCE: return p.data.length;
    case PayloadType.NOTIFY: return notifyBody.encodingLength(p);
    case PayloadType.DELETE: return deleteBody.encodingLength(p);
    case PayloadType.VENDOR: return p.data.length;
    case PayloadType.TSi: case PayloadType.TSr: return tsBody.encodingLength(p);
    case -1: return p.data.length;
  }
}

function encodeBody(p: Payload, buf: Uint8Array, off: number): number {
  switch (p.type) {
    case PayloadType.SA: return saBody.encode(p, buf, off);
    case PayloadType.KE: return keBody.encode(p, buf, off);
    case PayloadType.IDi: case PayloadType.IDr: return typedBody.encode(p.idType, p.data, buf, off);
    case PayloadType.CERT: case PayloadType.CERTREQ: return certBody.encode(p, buf, off);
    case PayloadType.AUTH: return typedBody.encode(p.method, p.data, buf, off);
    case PayloadType.NONCE: buf.set(p.data, off); return p.data.length;
    case PayloadType.NOTIFY: return notifyBody.encode(p, buf, off);
    case PayloadType.DELETE: return deleteBody.encode(p, buf, off);
    case PayloadType.VENDOR: buf.set(p.data, off); return p.data.length;
    case PayloadType.TSi: case PayloadType.TSr: return tsBody.encode(p, buf, off);
    case -1: buf.set(p.data, off); return p.data.length;
  }
}

/** Decodes one payload body of wire type `type` occupying exactly [off, end). */
export function decodeBody(type: number, critical: boolean, buf: Uint8Array, off: number, end: number): Payload {
  switch (type) {
    case PayloadType.SA: return { type: PayloadType.SA, ...saBody.decode(buf, off, end) };
    case PayloadType.KE: return { type: PayloadType.KE, ...keBody.decode(buf, off, end) };
    case PayloadType.IDi: case PayloadType.IDr: {
      const { kind, data } = typedBody.decode(buf, off, end, 'ID');
      return { type: type === PayloadType.IDi ? PayloadType.IDi : PayloadType.IDr, idType: kind, data };
    }
    case PayloadType.CERT: case PayloadType.CERTREQ:
      return { type: type === PayloadType.CERT ? PayloadType.CERT : PayloadType.CERTREQ, ...certBody.decode(buf, off, end) };
    case PayloadType.AUTH: {
      const { kind, data } = typedBody.decode(buf, off, end, 'AUTH');
      return { type: PayloadType.AUTH, method: kind, data };
    }
    case PayloadType.NONCE: return { type: PayloadType.NONCE, data: buf.slice(off, end) };
    case PayloadType.NOTIFY: return { type: PayloadType.NOTIFY, ...notifyBody.decode(buf, off, end) };
    case PayloadType.DELETE: return { type: PayloadType.DELETE, ...deleteBody.decode(buf, off, end) };
    case PayloadType.VENDOR: return { type: PayloadType.VENDOR, data: buf.slice(off, end) };
    case PayloadType.TSi: case PayloadType.TSr:
      return { type: type === PayloadType.TSi ? PayloadType.TSi : PayloadType.TSr, ...tsBody.decode(buf, off, end) };
    default: return { type: -1, rawType: type, critical, data: buf.slice(off, end) };
  }
}

// ------------------------------------------------------------ payload chains

/** Bytes needed to encode `payloads` as a chain (generic headers included). */
export function chainLength(payloads: readonly Payload[]): number {
  let n = 0;
  for (const p of payloads) n += GENERIC_PAYLOAD_HEADER_LEN + bodyLength(p);
  return n;
}

/**
 * Encodes a payload chain at off. The last payload's Next Payload is `lastNext`
 * (0 normally; the SK payload's type when a chain precedes an SK payload).
 * Returns the bytes written.
 */
export function encodeChain(payloads: readonly Payload[], buf: Uint8Array, off: number, lastNext = 0): number {
  const start = off;
  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i];
    const len = GENERIC_PAYLOAD_HEADER_LEN + bodyLength(p);
    if (len > 0xffff) throw new RangeError(`payload ${wireType(p)} too large (${len})`);
    if (off + len > buf.length) throw new RangeError('buffer too small for payload chain');
    buf[off] = i + 1 < payloads.length ? wireType(payloads[i + 1]) : lastNext;
    buf[off + 1] = p.type === -1 && p.critical ? 0x80 : 0;
    writeU16(buf, off + 2, len);
    const n = encodeBody(p, buf, off + GENERIC_PAYLOAD_HEADER_LEN);
    if (n !== len - GENERIC_PAYLOAD_HEADER_LEN) throw new Error('payload length mismatch (bug)');
    off += len;
  }
  return off - start;
}

export function encodeChainBytes(payloads: readonly Payload[]): Uint8Array {
  const out = new Uint8Array(chainLength(payloads));
  encodeChain(payloads, out, 0);
  return out;
}

/** Where an encrypted (SK) or fragment (SKF) payload was found while walking a chain. */
export interface EncryptedRef {
  readonly type: 46 | 53;
  /** Next Payload of the SK/SKF header = type of the first inner payload. */
  readonly innerFirst: number;
  /** Offset of its generic header. */
  readonly headerOff: number;
  /** Body [bodyOff, end). */
  readonly bodyOff: number;
  readonly end: number;
}

export interface DecodedChain {
  readonly payloads: Payload[];
  /** The SK/SKF payload, if the chain ends in one (it must be last: RFC 7296 §3.14). */
  readonly encrypted?: EncryptedRef;
}

/** Upper bound on payloads per chain: a hostile message cannot make us build huge arrays. */
export const MAX_PAYLOADS = 64;

/**
 * Walks a payload chain starting with type `first` in [off, end). Stops at an
 * SK/SKF payload, which must extend to `end`. Unknown payloads with the
 * critical bit set throw UnsupportedCritical (carrying the type in the message
 * and notify UNSUPPORTED_CRITICAL_PAYLOAD = 1).
 */
export function decodeChain(buf: Uint8Array, off: number, end: number, first: number): DecodedChain {
  const payloads: Payload[] = [];
  let type = first;
  while (type !== PayloadType.NONE) {
    if (payloads.length >= MAX_PAYLOADS) throw new IkeError(IkeErrorCode.BadPayload, 'too many payloads');
    need(off, GENERIC_PAYLOAD_HEADER_LEN, end, `payload ${type} header`);
    const next = buf[off];
    const critical = (buf[off + 1] & 0x80) !== 0;
    const len = readU16(buf, off + 2);
    if (len < GENERIC_PAYLOAD_HEADER_LEN) throw new IkeError(IkeErrorCode.BadLength, `payload ${type} length ${len}`);
    if (off + len > end) throw new IkeError(IkeErrorCode.Truncated, `payload ${type} length ${len} past end`);
    if (type === PayloadType.SK || type === PayloadType.SKF) {
      if (off + len !== end) throw new IkeError(IkeErrorCode.BadLength, 'encrypted payload is not last');
      return { payloads, encrypted: { type, innerFirst: next, headerOff: off, bodyOff: off + GENERIC_PAYLOAD_HEADER_LEN, end } };
    }
    const p = decodeBody(type, critical, buf, off + GENERIC_PAYLOAD_HEADER_LEN, off + len);
    if (p.type === -1 && p.critical) {
      throw new IkeError(IkeErrorCode.UnsupportedCritical, `unsupported critical payload ${p.rawType}`, 1, new Uint8Array([p.rawType]));
    }
    payloads.push(p);
    off += len;
    type = next;
  }
  if (off !== end) throw new IkeError(IkeErrorCode.BadLength, `${end - off} bytes after the last payload`);
  return { payloads };
}

// ------------------------------------------------------------ constructors

export function notify(notifyType: number, data: Uint8Array = EMPTY, protocolId = 0, spi: Uint8Array = EMPTY): NotifyPayload {
  return { type: PayloadType.NOTIFY, protocolId, spi, notifyType, data };
}

export function findNotify(ps: readonly Payload[], notifyType: number): NotifyPayload | undefined {
  for (const p of ps) if (p.type === PayloadType.NOTIFY && p.notifyType === notifyType) return p;
  return undefined;
}
export function findAllNotifies(ps: readonly Payload[], notifyType: number): NotifyPayload[] {
  const out: NotifyPayload[] = [];
  for (const p of ps) if (p.type === PayloadType.NOTIFY && p.notifyType === notifyType) out.push(p);
  return out;
}
/** The first error notify (type < 16384), if any. */
export function findErrorNotify(ps: readonly Payload[]): NotifyPayload | undefined {
  for (const p of ps) if (p.type === PayloadType.NOTIFY && p.notifyType < 16384) return p;
  return undefined;
}

/** The member(s) of Payload whose `type` admits T (IDi/IDr share one member, etc.). */
export type PayloadOf<T extends number> = Payload extends infer P ? (P extends { type: infer X } ? (T extends X ? P : never) : never) : never;

export function findPayload<T extends Payload['type']>(ps: readonly Payload[], type: T): PayloadOf<T> | undefined {
  for (const p of ps) if (p.type === type) return p as PayloadOf<T>;
  return undefined;
}
export function findAllPayloads<T extends Payload['type']>(ps: readonly Payload[], type: T): PayloadOf<T>[] {
  const out: PayloadOf<T>[] = [];
  for (const p of ps) if (p.type === type) out.push(p as PayloadOf<T>);
  return out;
}

export { EMPTY as EMPTY_BYTES };
