/**
 * Address conversions for the control plane, telemetry and tests. These
 * allocate strings and throw on bad input: never call them per packet. The
 * data plane keeps IPv4 addresses as host-order u32 and MACs as bytes or
 * hi16/lo32 pairs.
 */

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;

/**
 * The one IPv4 text parser: '198.18.1.10' -> 0xC612010A, or undefined.
 * Strict dotted quad: four decimal octets 0..255, no leading zeros (which
 * some tools read as octal), no surrounding space.
 */
export function parseIpv4Text(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!DECIMAL_OCTET.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** '198.18.1.10' -> 0xC612010A; throws RangeError on anything parseIpv4Text refuses. */
export function ipToU32(s: string): number {
  const v = parseIpv4Text(s);
  if (v === undefined) throw new RangeError(`invalid IPv4 address: ${JSON.stringify(s)}`);
  return v;
}

/** Host-order u32 (signed input accepted) -> dotted quad. */
export function u32ToIp(n: number): string {
  return `${(n >>> 24) & 0xff}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/** True for a strict dotted quad accepted by ipToU32. */
export function isIpv4(s: string): boolean {
  return parseIpv4Text(s) !== undefined;
}

/** 'aa:bb:cc:dd:ee:ff' (or '-' separated, any case) -> 6 bytes. */
export function parseMac(s: string): Uint8Array {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(s);
  if (m === null) throw new RangeError(`invalid MAC address: ${JSON.stringify(s)}`);
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) out[i] = parseInt(m[i + 1] as string, 16);
  return out;
}

/** 6 bytes at buf[off] -> 'aa:bb:cc:dd:ee:ff' (lower case). */
export function formatMac(buf: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const b = buf[off + i] ?? 0;
    s += (i === 0 ? '' : ':') + (b < 16 ? '0' : '') + b.toString(16);
  }
  return s;
}

/** MAC string -> [hi16, lo32], the form EthernetView/ArpView setters take. */
export function macToHiLo(s: string): [hi16: number, lo32: number] {
  const b = parseMac(s);
  return [(b[0] << 8) | b[1], ((b[2] << 24) | (b[3] << 16) | (b[4] << 8) | b[5]) >>> 0];
}

/** [hi16, lo32] -> MAC string. */
export function hiLoToMac(hi16: number, lo32: number): string {
  const b = new Uint8Array(6);
  b[0] = hi16 >>> 8; b[1] = hi16;
  b[2] = lo32 >>> 24; b[3] = lo32 >>> 16; b[4] = lo32 >>> 8; b[5] = lo32;
  return formatMac(b);
}

/**
 * IPv6 text (RFC 4291 §2.2, incl. '::' and an embedded dotted quad) -> 16 bytes.
 * No zone ids.
 */
export function parseIpv6(s: string): Uint8Array {
  const bad = (): never => { throw new RangeError(`invalid IPv6 address: ${JSON.stringify(s)}`); };
  let text = s;
  const lastColon = text.lastIndexOf(':');
  if (lastColon === -1) bad();
  if (text.indexOf('.', lastColon) !== -1) {
    // Trailing dotted quad: rewrite as two hex groups.
    const v4 = ipToU32(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) bad();
  const groups = (h: string): number[] => (h === '' ? [] : h.split(':').map((g) => {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) bad();
    return parseInt(g, 16);
  }));
  const head = groups(halves[0] as string);
  let words = head;
  if (halves.length === 2) {
    const rest = groups(halves[1] as string);
    const fill = 8 - head.length - rest.length;
    if (fill < 1) bad();
    words = [...head, ...new Array<number>(fill).fill(0), ...rest];
  }
  if (words.length !== 8) bad();
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const w = words[i] as number;
    out[2 * i] = w >>> 8;
    out[2 * i + 1] = w & 0xff;
  }
  return out;
}
