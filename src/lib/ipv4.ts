/** IPv4 text <-> host-order u32, and CIDR helpers for the control plane. */

export function parseIpv4(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) throw new Error(`not an IPv4 address: ${s}`);
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const b = Number(m[i]);
    if (b > 255) throw new Error(`not an IPv4 address: ${s}`);
    v = v * 256 + b;
  }
  return v >>> 0;
}

export function formatIpv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Netmask of a prefix length 0..32, as u32 (`<< 32` is `<< 0` in JS, hence the special case). */
export function prefixMask(len: number): number {
  return len <= 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

export interface Cidr4 {
  readonly net: number;
  readonly len: number;
  readonly mask: number;
}

/** Parses `a.b.c.d/len` (or a bare address as /32); the network is canonicalised. */
export function parseCidr4(s: string): Cidr4 {
  const slash = s.indexOf('/');
  const addr = parseIpv4(slash < 0 ? s : s.slice(0, slash));
  const len = slash < 0 ? 32 : Number(s.slice(slash + 1));
  if (!Number.isInteger(len) || len < 0 || len > 32) throw new Error(`bad prefix length: ${s}`);
  const mask = prefixMask(len);
  return { net: (addr & mask) >>> 0, len, mask };
}

export function parseMac(s: string): Uint8Array {
  const parts = s.split(':');
  if (parts.length !== 6) throw new Error(`not a MAC address: ${s}`);
  return Uint8Array.from(parts.map((p) => {
    const v = parseInt(p, 16);
    if (!/^[0-9a-fA-F]{2}$/.test(p) || Number.isNaN(v)) throw new Error(`not a MAC address: ${s}`);
    return v;
  }));
}

export function formatMac(b: Uint8Array, off = 0): string {
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push(b[off + i].toString(16).padStart(2, '0'));
  return out.join(':');
}
