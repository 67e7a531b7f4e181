/** CIDR helpers for the compilers and the control plane (address text <-> numbers: wire/addr.ts). */
import { ipToU32 } from '../wire/addr.js';

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
  const addr = ipToU32(slash < 0 ? s : s.slice(0, slash));
  const len = slash < 0 ? 32 : Number(s.slice(slash + 1));
  if (!Number.isInteger(len) || len < 0 || len > 32) throw new Error(`bad prefix length: ${s}`);
  const mask = prefixMask(len);
  return { net: (addr & mask) >>> 0, len, mask };
}
