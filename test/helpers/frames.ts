/**
 * Test frame builder: complete Ethernet frames (Buffer) with correct lengths
 * and checksums, for unit and integration tests. Test code: allocation,
 * strings and defaults are fine here. Addresses are dotted quads / IPv6 text,
 * MACs 'aa:bb:cc:dd:ee:ff'.
 *
 * Every builder checksums its own output with independent, straightforward
 * arithmetic (not the views under test), so a view bug cannot hide behind a
 * builder bug written the same way.
 */
import { ipToU32, parseIpv6, parseMac } from '../../src/wire/addr.js';

export const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
export const DEFAULT_DST_MAC = '02:00:00:00:00:02';
export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

export const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10;

type Bytes = Uint8Array | string | number[];

/** Payload from a Buffer/Uint8Array, a UTF-8 string or a byte list. */
export function bytes(p: Bytes | undefined): Buffer {
  if (p === undefined) return Buffer.alloc(0);
  if (typeof p === 'string') return Buffer.from(p, 'utf8');
  return Buffer.from(p);
}

/** Folded one's complement sum, written independently of src/wire/checksum.ts. */
export function refSum(data: Uint8Array, initial = 0): number {
  let s = initial;
  for (let i = 0; i + 1 < data.length; i += 2) s += data[i]! * 256 + data[i + 1]!;
  if (data.length % 2 === 1) s += data[data.length - 1]! * 256;
  while (s > 0xffff) s = (s % 65536) + Math.floor(s / 65536);
  return s;
}

/** Internet checksum (complemented) of data with an optional initial sum. */
export function refChecksum(data: Uint8Array, initial = 0): number {
  return 0xffff - refSum(data, initial);
}

function pseudo4(src: number, dst: number, proto: number, len: number): number {
  return refSum(Buffer.from([
    src >>> 24, (src >>> 16) & 0xff, (src >>> 8) & 0xff, src & 0xff,
    dst >>> 24, (dst >>> 16) & 0xff, (dst >>> 8) & 0xff, dst & 0xff,
    0, proto, len >>> 8, len & 0xff,
  ]));
}

function pseudo6(src: Uint8Array, dst: Uint8Array, proto: number, len: number): number {
  const b = Buffer.alloc(40);
  b.set(src, 0); b.set(dst, 16);
  b.writeUInt32BE(len, 32); b[39] = proto;
  return refSum(b);
}

// ---------------------------------------------------------------- Ethernet

export interface EthOpts {
  srcMac?: string;
  dstMac?: string;
  /** Adds one 802.1Q tag with this VLAN id. */
  vlan?: number;
  /** Pads the frame with zeros to this many bytes (e.g. 60, the Ethernet minimum without FCS). */
  padTo?: number;
}

export function ethFrame(o: EthOpts & { etherType: number; payload: Uint8Array }): Buffer {
  const hdr = Buffer.alloc(o.vlan === undefined ? 14 : 18);
  Buffer.from(parseMac(o.dstMac ?? DEFAULT_DST_MAC)).copy(hdr, 0);
  Buffer.from(parseMac(o.srcMac ?? DEFAULT_SRC_MAC)).copy(hdr, 6);
  if (o.vlan === undefined) {
    hdr.writeUInt16BE(o.etherType, 12);
  } else {
    hdr.writeUInt16BE(ETHERTYPE_VLAN, 12);
    hdr.writeUInt16BE(o.vlan & 0x0fff, 14);
    hdr.writeUInt16BE(o.etherType, 16);
  }
  const f = Buffer.concat([hdr, o.payload]);
  if (o.padTo !== undefined && f.length < o.padTo) return Buffer.concat([f, Buffer.alloc(o.padTo - f.length)]);
  return f;
}

// ---------------------------------------------------------------- IPv4

export interface Ipv4Opts {
  src: string;
  dst: string;
  ttl?: number;
  id?: number;
  tos?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragOffset?: number;
  /** Raw option bytes; padded with End-of-list (0) to a multiple of 4. */
  options?: Bytes;
  /** Write this checksum instead of the correct one. */
  badChecksum?: boolean;
}

/** An IPv4 packet (no Ethernet) with a correct header checksum. */
export function ipv4Packet(o: Ipv4Opts & { proto: number; payload: Uint8Array }): Buffer {
  let opts = bytes(o.options);
  if (opts.length % 4 !== 0) opts = Buffer.concat([opts, Buffer.alloc(4 - (opts.length % 4))]);
  if (opts.length > 40) throw new RangeError('IPv4 options longer than 40 bytes');
  const hlen = 20 + opts.length;
  const h = Buffer.alloc(hlen);
  h[0] = 0x40 | (hlen >> 2);
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(hlen + o.payload.length, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  const fo = o.fragOffset ?? 0;
  if (fo % 8 !== 0) throw new RangeError('fragment offset must be a multiple of 8');
  h.writeUInt16BE(((o.df ?? false) ? 0x4000 : 0) | ((o.mf ?? false) ? 0x2000 : 0) | (fo >> 3), 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.proto;
  h.writeUInt32BE(ipToU32(o.src), 12);
  h.writeUInt32BE(ipToU32(o.dst), 16);
  opts.copy(h, 20);
  const c = refChecksum(h);
  h.writeUInt16BE(o.badChecksum === true ? c ^ 0x5a5a : c, 10);
  return Buffer.concat([h, o.payload]);
}

/** L4 checksum over segment with the IPv4 pseudo-header; the field must be zero. */
function l4sum4(src: string, dst: string, proto: number, seg: Uint8Array): number {
  return refChecksum(seg, pseudo4(ipToU32(src), ipToU32(dst), proto, seg.length));
}

// ---------------------------------------------------------------- UDP

export interface UdpOpts {
  sport: number;
  dport: number;
  payload?: Bytes;
  /** Leave the checksum 0 ("none", allowed over IPv4). */
  noChecksum?: boolean;
}

/** A UDP datagram with its checksum for the given IPv4 addresses. */
export function udpDatagram4(src: string, dst: string, o: UdpOpts): Buffer {
  const data = bytes(o.payload);
  const u = Buffer.alloc(8 + data.length);
  u.writeUInt16BE(o.sport, 0);
  u.writeUInt16BE(o.dport, 2);
  u.writeUInt16BE(u.length, 4);
  data.copy(u, 8);
  if (o.noChecksum !== true) {
    const c = l4sum4(src, dst, PROTO_UDP, u);
    u.writeUInt16BE(c === 0 ? 0xffff : c, 6);
  }
  return u;
}

export type EthIpv4UdpOpts = EthOpts & Ipv4Opts & UdpOpts;

export function ethIpv4Udp(o: EthIpv4UdpOpts): Buffer {
  const ip = ipv4Packet({ ...o, proto: PROTO_UDP, payload: udpDatagram4(o.src, o.dst, o) });
  return ethFrame({ ...o, etherType: ETHERTYPE_IPV4, payload: ip });
}

// ---------------------------------------------------------------- TCP

export interface TcpOpts {
  sport: number;
  dport: number;
  /** Combine TCP_* flags; default ACK. */
  flags?: number;
  seq?: number;
  ack?: number;
  window?: number;
  /** Adds an MSS option (kind 2, len 4). */
  mss?: number;
  /** Raw option bytes appended after MSS; the whole is padded with End (0) to a multiple of 4. */
  options?: Bytes;
  payload?: Bytes;
}

/** A TCP segment with its checksum for the given IPv4 addresses. */
export function tcpSegment4(src: string, dst: string, o: TcpOpts): Buffer {
  const parts: Buffer[] = [];
  if (o.mss !== undefined) parts.push(Buffer.from([2, 4, o.mss >> 8, o.mss & 0xff]));
  if (o.options !== undefined) parts.push(bytes(o.options));
  let opts = Buffer.concat(parts);
  if (opts.length % 4 !== 0) opts = Buffer.concat([opts, Buffer.alloc(4 - (opts.length % 4))]);
  const data = bytes(o.payload);
  const hlen = 20 + opts.length;
  const t = Buffer.alloc(hlen + data.length);
  t.writeUInt16BE(o.sport, 0);
  t.writeUInt16BE(o.dport, 2);
  t.writeUInt32BE((o.seq ?? 1000) >>> 0, 4);
  t.writeUInt32BE((o.ack ?? 0) >>> 0, 8);
  t[12] = (hlen >> 2) << 4;
  t[13] = o.flags ?? TCP_ACK;
  t.writeUInt16BE(o.window ?? 65535, 14);
  opts.copy(t, 20);
  data.copy(t, hlen);
  t.writeUInt16BE(l4sum4(src, dst, PROTO_TCP, t), 16);
  return t;
}

export type EthIpv4TcpOpts = EthOpts & Omit<Ipv4Opts, 'options'> & TcpOpts & { ipOptions?: Bytes };

export function ethIpv4Tcp(o: EthIpv4TcpOpts): Buffer {
  const { options: _tcpOptions, ipOptions, ...rest } = o;
  const ipOpts: Ipv4Opts = ipOptions === undefined ? rest : { ...rest, options: ipOptions };
  const ip = ipv4Packet({ ...ipOpts, proto: PROTO_TCP, payload: tcpSegment4(o.src, o.dst, o) });
  return ethFrame({ ...o, etherType: ETHERTYPE_IPV4, payload: ip });
}

// ---------------------------------------------------------------- ICMP

export interface IcmpOpts {
  type: number;
  code?: number;
  /** Echo identifier (bytes 4-5). */
  id?: number;
  /** Echo sequence (bytes 6-7). */
  seq?: number;
  /** Bytes 4-7 as one word (overrides id/seq): unused, gateway, pointer << 24, or MTU. */
  rest?: number;
  payload?: Bytes;
}

export function icmpMessage(o: IcmpOpts): Buffer {
  const data = bytes(o.payload);
  const m = Buffer.alloc(8 + data.length);
  m[0] = o.type;
  m[1] = o.code ?? 0;
  if (o.rest !== undefined) m.writeUInt32BE(o.rest >>> 0, 4);
  else { m.writeUInt16BE(o.id ?? 0, 4); m.writeUInt16BE(o.seq ?? 0, 6); }
  data.copy(m, 8);
  m.writeUInt16BE(refChecksum(m), 2);
  return m;
}

/** `id` is the echo identifier; the IP header's identification is `ipId`. */
export type EthIpv4IcmpOpts = EthOpts & Omit<Ipv4Opts, 'id'> & IcmpOpts & { ipId?: number };

export function ethIpv4Icmp(o: EthIpv4IcmpOpts): Buffer {
  const { id: _echoId, ipId, ...rest } = o;
  const ipOpts: Ipv4Opts = ipId === undefined ? rest : { ...rest, id: ipId };
  const ip = ipv4Packet({ ...ipOpts, proto: PROTO_ICMP, payload: icmpMessage(o) });
  return ethFrame({ ...o, etherType: ETHERTYPE_IPV4, payload: ip });
}

/** The IPv4 packet inside an Ethernet frame (with or without VLAN tag), per totalLen. */
export function ipv4Of(frame: Uint8Array): Buffer {
  const f = Buffer.from(frame);
  const l3 = f.readUInt16BE(12) === ETHERTYPE_VLAN ? 18 : 14;
  return f.subarray(l3, l3 + f.readUInt16BE(l3 + 2));
}

export type IcmpErrorOpts = EthOpts & Ipv4Opts & {
  /** 3, 4, 5, 11 or 12. */
  type: number;
  code?: number;
  /** Bytes 4-7 (e.g. next-hop MTU for type 3 code 4, pointer << 24 for type 12). */
  rest?: number;
  /** The offending packet, as an Ethernet frame or a bare IPv4 packet (`originalIsIp`). */
  original: Uint8Array;
  originalIsIp?: boolean;
  /** Bytes of the original to quote after its IP header; default 8 (RFC 792). */
  quoteLen?: number;
};

/** An ICMP error from `src` to `dst` quoting the original packet's header + quoteLen bytes. */
export function ethIpv4IcmpError(o: IcmpErrorOpts): Buffer {
  const orig = o.originalIsIp === true ? Buffer.from(o.original) : ipv4Of(o.original);
  const ihl = (orig[0]! & 0x0f) * 4;
  const quoted = orig.subarray(0, Math.min(orig.length, ihl + (o.quoteLen ?? 8)));
  const msg = icmpMessage({ type: o.type, code: o.code ?? 0, rest: o.rest ?? 0, payload: quoted });
  const ip = ipv4Packet({ ...o, proto: PROTO_ICMP, payload: msg });
  return ethFrame({ ...o, etherType: ETHERTYPE_IPV4, payload: ip });
}

// ---------------------------------------------------------------- fragments

export type EthIpv4FragmentOpts = EthOpts & Ipv4Opts & { proto: number; payload: Bytes };

/** One IPv4 fragment carrying `payload` (a slice of the datagram's data) at fragOffset, MF per `mf`. */
export function ethIpv4Fragment(o: EthIpv4FragmentOpts): Buffer {
  const ip = ipv4Packet({ ...o, payload: bytes(o.payload) });
  return ethFrame({ ...o, etherType: ETHERTYPE_IPV4, payload: ip });
}

/**
 * Splits the IPv4 packet of an Ethernet frame into fragments carrying at most
 * `maxData` data bytes each (rounded down to a multiple of 8), as a router
 * would (RFC 791 §3.2): same id, MF on all but the last, options copied as is.
 */
export function fragmentFrame(frame: Uint8Array, maxData: number): Buffer[] {
  const f = Buffer.from(frame);
  const l3 = f.readUInt16BE(12) === ETHERTYPE_VLAN ? 18 : 14;
  const eth = f.subarray(0, l3);
  const ip = ipv4Of(f);
  const ihl = (ip[0]! & 0x0f) * 4;
  const data = ip.subarray(ihl);
  const step = maxData & ~7;
  if (step <= 0) throw new RangeError('maxData must be at least 8');
  const baseOff = (ip.readUInt16BE(6) & 0x1fff) * 8;
  const origMf = (ip.readUInt16BE(6) & 0x2000) !== 0;
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += step) {
    const chunk = data.subarray(at, Math.min(at + step, data.length));
    const last = at + chunk.length >= data.length;
    const h = Buffer.from(ip.subarray(0, ihl));
    h.writeUInt16BE(ihl + chunk.length, 2);
    const mf = !last || origMf;
    h.writeUInt16BE((h.readUInt16BE(6) & 0x4000) | (mf ? 0x2000 : 0) | ((baseOff + at) >> 3), 6);
    h.writeUInt16BE(0, 10);
    h.writeUInt16BE(refChecksum(h), 10);
    out.push(Buffer.concat([eth, h, chunk]));
  }
  return out;
}

// ---------------------------------------------------------------- ARP

export interface ArpOpts {
  srcMac?: string;
  /** Sender protocol address. */
  spa: string;
  /** Target protocol address. */
  tpa: string;
  vlan?: number;
  padTo?: number;
}

function arp(op: number, sha: string, spa: string, tha: string, tpa: string): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(ETHERTYPE_IPV4, 2);
  a[4] = 6; a[5] = 4;
  a.writeUInt16BE(op, 6);
  Buffer.from(parseMac(sha)).copy(a, 8);
  a.writeUInt32BE(ipToU32(spa), 14);
  Buffer.from(parseMac(tha)).copy(a, 18);
  a.writeUInt32BE(ipToU32(tpa), 24);
  return a;
}

/** Broadcast "who has tpa? tell spa". */
export function arpRequest(o: ArpOpts): Buffer {
  const sha = o.srcMac ?? DEFAULT_SRC_MAC;
  return ethFrame({ ...o, srcMac: sha, dstMac: BROADCAST_MAC, etherType: ETHERTYPE_ARP,
    payload: arp(1, sha, o.spa, '00:00:00:00:00:00', o.tpa) });
}

/** Unicast "spa is at srcMac" to dstMac/tpa. */
export function arpReply(o: ArpOpts & { dstMac: string }): Buffer {
  const sha = o.srcMac ?? DEFAULT_SRC_MAC;
  return ethFrame({ ...o, srcMac: sha, etherType: ETHERTYPE_ARP,
    payload: arp(2, sha, o.spa, o.dstMac, o.tpa) });
}

// ---------------------------------------------------------------- IPv6

export interface Ipv6Opts {
  src: string;
  dst: string;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
}

export function ipv6Packet(o: Ipv6Opts & { nextHeader: number; payload: Uint8Array }): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(((6 << 28) | ((o.trafficClass ?? 0) << 20) | ((o.flowLabel ?? 0) & 0xfffff)) >>> 0, 0);
  h.writeUInt16BE(o.payload.length, 4);
  h[6] = o.nextHeader;
  h[7] = o.hopLimit ?? 64;
  h.set(parseIpv6(o.src), 8);
  h.set(parseIpv6(o.dst), 24);
  return Buffer.concat([h, o.payload]);
}

/** An Ethernet/IPv6 frame with an arbitrary payload after the fixed header. */
export function ethIpv6(o: EthOpts & Ipv6Opts & { nextHeader: number; payload?: Bytes }): Buffer {
  return ethFrame({ ...o, etherType: ETHERTYPE_IPV6,
    payload: ipv6Packet({ ...o, payload: bytes(o.payload) }) });
}

/** An Ethernet/IPv6/UDP frame with a correct (mandatory over IPv6) UDP checksum. */
export function ethIpv6Udp(o: EthOpts & Ipv6Opts & UdpOpts): Buffer {
  const data = bytes(o.payload);
  const u = Buffer.alloc(8 + data.length);
  u.writeUInt16BE(o.sport, 0);
  u.writeUInt16BE(o.dport, 2);
  u.writeUInt16BE(u.length, 4);
  data.copy(u, 8);
  const c = refChecksum(u, pseudo6(parseIpv6(o.src), parseIpv6(o.dst), PROTO_UDP, u.length));
  u.writeUInt16BE(c === 0 ? 0xffff : c, 6);
  return ethFrame({ ...o, etherType: ETHERTYPE_IPV6, payload: ipv6Packet({ ...o, nextHeader: PROTO_UDP, payload: u }) });
}

// ---------------------------------------------------------------- virtio_net_hdr

export interface VnetOpts {
  flags?: number;
  gsoType?: number;
  hdrLen?: number;
  gsoSize?: number;
  csumStart?: number;
  csumOffset?: number;
}

/** Prepends a 10-byte little-endian virtio_net_hdr (all zero by default). */
export function withVnetHdr(frame: Uint8Array, o: VnetOpts = {}): Buffer {
  const h = Buffer.alloc(10);
  h[0] = o.flags ?? 0;
  h[1] = o.gsoType ?? 0;
  h.writeUInt16LE(o.hdrLen ?? 0, 2);
  h.writeUInt16LE(o.gsoSize ?? 0, 4);
  h.writeUInt16LE(o.csumStart ?? 0, 6);
  h.writeUInt16LE(o.csumOffset ?? 0, 8);
  return Buffer.concat([h, frame]);
}

/**
 * Turns a complete Ethernet/IPv4/TCP or UDP frame into what a sender with
 * checksum offload hands over: the L4 checksum field replaced by the folded
 * pseudo-header sum, preceded by a NEEDS_CSUM virtio_net_hdr.
 */
export function withPartialCsum(frame: Uint8Array): Buffer {
  const f = Buffer.from(frame);
  const l3 = f.readUInt16BE(12) === ETHERTYPE_VLAN ? 18 : 14;
  const ihl = (f[l3]! & 0x0f) * 4;
  const proto = f[l3 + 9]!;
  const l4 = l3 + ihl;
  const l4Len = f.readUInt16BE(l3 + 2) - ihl;
  const csumOffset = proto === PROTO_TCP ? 16 : proto === PROTO_UDP ? 6 : -1;
  if (csumOffset < 0) throw new RangeError('withPartialCsum: TCP or UDP only');
  f.writeUInt16BE(pseudo4(f.readUInt32BE(l3 + 12), f.readUInt32BE(l3 + 16), proto, l4Len), l4 + csumOffset);
  return withVnetHdr(f, { flags: 1, csumStart: l4, csumOffset });
}

// ---------------------------------------------------------------- inspection

/** Hex dump helper for assertion messages: 'aabbcc...'. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Copies `frame` into a larger buffer at `at`, filled elsewhere with `fill` (arena-like placement). */
export function placeInArena(frame: Uint8Array, at: number, tail = 16, fill = 0xee): Buffer {
  const arena = Buffer.alloc(at + frame.length + tail, fill);
  arena.set(frame, at);
  return arena;
}

/** Small deterministic PRNG (mulberry32) so a failing case reproduces from its index. */
export function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}
