/**
 * Byte-level helpers of the fuzzer: a seeded PRNG, one's complement sums
 * written independently of src/wire, checksum verdicts on a frame, and a fast
 * in-place IPv4 frame writer for reflected traffic. Test code: speed matters
 * more than allocation here (millions of frames), so everything works on
 * (buffer, offset) pairs.
 */

export const VNET = 10;
export const ETH = 14;

/** xorshift128+ style generator over 32-bit halves; deterministic from one seed. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    // splitmix32 to spread the seed
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next() | 1;
  }
  /** Uniform u32 (sfc32). */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.u32() < p * 4294967296;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  fill(buf: Uint8Array, off: number, len: number): void {
    for (let i = 0; i < len; i++) buf[off + i] = this.u32() & 0xff;
  }
}

export function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
export function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
export function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
export function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** Folded (not complemented) one's complement sum of b[off, off+len) plus `init`. */
export function sum16(b: Uint8Array, off: number, len: number, init = 0): number {
  let s = init;
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

export function pseudo(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

export function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

/** What a frame's L4 checksum says, as far as it can be judged. */
export const L4 = {
  /** Not IPv4, a fragment, another protocol, or too short to judge. */
  None: 0,
  Valid: 1,
  Invalid: 2,
  /** NEEDS_CSUM with csum_start/offset on the L4 checksum and the field = pseudo-header sum. */
  PartialOk: 3,
  /** NEEDS_CSUM that does not match the packet. */
  PartialBad: 4,
  /** UDP with checksum 0 (none). */
  UdpZero: 5,
} as const;

export interface Ipv4View {
  l3: number;
  ihl: number;
  total: number;
  proto: number;
  frag: boolean;
}

/** IPv4 header at eth+14 that fits in [eth, end): its geometry, or null. */
export function ipv4At(b: Uint8Array, eth: number, end: number, v: Ipv4View): boolean {
  if (end - eth < ETH + 20 || rd16(b, eth + 12) !== 0x0800) return false;
  const l3 = eth + ETH;
  if (b[l3]! >>> 4 !== 4) return false;
  const ihl = (b[l3]! & 15) * 4;
  if (ihl < 20 || l3 + ihl > end) return false;
  const total = rd16(b, l3 + 2);
  if (total < ihl || l3 + total > end) return false;
  v.l3 = l3;
  v.ihl = ihl;
  v.total = total;
  v.proto = b[l3 + 9]!;
  v.frag = (rd16(b, l3 + 6) & 0x3fff) !== 0;
  return true;
}

export function ipHeaderOk(b: Uint8Array, v: Ipv4View): boolean {
  return sum16(b, v.l3, v.ihl) === 0xffff;
}

/**
 * The L4 checksum verdict of the IPv4 frame at [vnet, end) (vnet = -1: no
 * virtio header). NEEDS_CSUM frames are judged on the partial sum.
 */
export function l4State(b: Uint8Array, vnet: number, eth: number, end: number, v: Ipv4View): number {
  if (!ipv4At(b, eth, end, v) || v.frag) return L4.None;
  const { l3, ihl, total, proto } = v;
  const l4 = l3 + ihl;
  const len = total - ihl;
  const src = rd32(b, l3 + 12), dst = rd32(b, l3 + 16);
  const needs = vnet >= 0 && (b[vnet]! & 1) !== 0;
  if (needs) {
    if (proto !== 6 && proto !== 17) return L4.PartialBad;
    const start = b[vnet + 6]! | (b[vnet + 7]! << 8);
    const off = b[vnet + 8]! | (b[vnet + 9]! << 8);
    if (eth + start !== l4 || off !== (proto === 6 ? 16 : 6) || len < off + 2) return L4.PartialBad;
    const want = fold(pseudo(src, dst, proto, len));
    const got = rd16(b, l4 + off);
    // +0 and -0 are the same one's complement number
    return got === want || (want === 0xffff && got === 0) || (want === 0 && got === 0xffff) ? L4.PartialOk : L4.PartialBad;
  }
  if (proto === 6) {
    if (len < 20) return L4.None;
    return sum16(b, l4, len, pseudo(src, dst, 6, len)) === 0xffff ? L4.Valid : L4.Invalid;
  }
  if (proto === 17) {
    if (len < 8) return L4.None;
    if (rd16(b, l4 + 6) === 0) return L4.UdpZero;
    return sum16(b, l4, len, pseudo(src, dst, 17, len)) === 0xffff ? L4.Valid : L4.Invalid;
  }
  if (proto === 1) {
    if (len < 8) return L4.None;
    return sum16(b, l4, len) === 0xffff ? L4.Valid : L4.Invalid;
  }
  return L4.None;
}

/** Writes a correct IPv4 header checksum. */
export function fixIpHeader(b: Uint8Array, l3: number, ihl: number): void {
  wr16(b, l3 + 10, 0);
  wr16(b, l3 + 10, (~sum16(b, l3, ihl)) & 0xffff);
}

/**
 * Writes a correct L4 checksum for the IPv4 packet at l3 (TCP, UDP, ICMP), or
 * for a NEEDS_CSUM frame the pseudo-header sum with csum_start/offset set.
 */
export function fixL4(b: Uint8Array, vnet: number, eth: number, l3: number): void {
  const ihl = (b[l3]! & 15) * 4;
  const total = rd16(b, l3 + 2);
  const proto = b[l3 + 9]!;
  const l4 = l3 + ihl;
  const len = total - ihl;
  const src = rd32(b, l3 + 12), dst = rd32(b, l3 + 16);
  const off = proto === 6 ? 16 : proto === 17 ? 6 : proto === 1 ? 2 : -1;
  if (off < 0 || len < off + 2) return;
  if (vnet >= 0 && (b[vnet]! & 1) !== 0 && proto !== 1) {
    const start = l4 - eth;
    b[vnet + 6] = start & 0xff; b[vnet + 7] = start >>> 8;
    b[vnet + 8] = off; b[vnet + 9] = 0;
    wr16(b, l4 + off, fold(pseudo(src, dst, proto, len)));
    return;
  }
  wr16(b, l4 + off, 0);
  const c = (~sum16(b, l4, len, proto === 1 ? 0 : pseudo(src, dst, proto, len))) & 0xffff;
  wr16(b, l4 + off, proto === 17 && c === 0 ? 0xffff : c);
}

export interface Ip4Spec {
  dstMac: Uint8Array;
  srcMac: Uint8Array;
  src: number;
  dst: number;
  proto: number;
  id: number;
  ttl: number;
  df: boolean;
}

/**
 * Writes vnet header (zeros) + Ethernet + 20-byte IPv4 header at out[off..]
 * for an L4 payload of `l4Len` bytes that the caller writes at the returned
 * L4 offset; call finish() afterwards. Returns the L4 offset.
 */
export function writeIp4(out: Uint8Array, off: number, s: Ip4Spec, l4Len: number): number {
  out.fill(0, off, off + VNET);
  const e = off + VNET;
  out.set(s.dstMac, e);
  out.set(s.srcMac, e + 6);
  wr16(out, e + 12, 0x0800);
  const ip = e + ETH;
  out[ip] = 0x45;
  out[ip + 1] = 0;
  wr16(out, ip + 2, 20 + l4Len);
  wr16(out, ip + 4, s.id & 0xffff);
  wr16(out, ip + 6, s.df ? 0x4000 : 0);
  out[ip + 8] = s.ttl;
  out[ip + 9] = s.proto;
  wr32(out, ip + 12, s.src);
  wr32(out, ip + 16, s.dst);
  fixIpHeader(out, ip, 20);
  return ip + 20;
}

/** Frame length (with vnet header) of a frame written by writeIp4 with l4Len bytes. */
export function frameLen(l4Len: number): number {
  return VNET + ETH + 20 + l4Len;
}

export function hex(b: Uint8Array, off = 0, len = b.length - off): string {
  return Buffer.from(b.buffer, b.byteOffset + off, len).toString('hex');
}
