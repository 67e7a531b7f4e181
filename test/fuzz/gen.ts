/**
 * Frame generation for the data-plane fuzzer, written straight into the
 * batch arena: structure-aware mutations of corpus frames (virtio header,
 * Ethernet, IPv4 header and options, fragments, TCP/UDP/ICMP fields, ICMP
 * quotes, TCP options), re-addressing for flow churn, ESP-in-UDP from the
 * VPN peer (really encrypted, so it reaches the decrypt path), random bytes,
 * and "reflected" traffic: answers to what the data plane sent (ARP replies
 * from the internet, TCP handshakes, NAT replies, ICMP errors quoting the
 * translated packet, replies through the tunnel) so stateful paths run too.
 */
import { buildCorpus, type InnerTemplate, type Template } from './corpus.js';
import { type Plane, UPLINK_PORT } from './plane.js';
import {
  ETH, VNET, Rng, fixIpHeader, fixL4, frameLen, ipv4At, rd16, rd32, writeIp4, wr16, wr32, type Ip4Spec, type Ipv4View,
} from './wire.js';

/** Longest frame (with vnet header) the generator writes: a 64 KB GSO super-frame. */
export const MAX_FRAME = VNET + ETH + 65_535;

export interface Reflected {
  port: number;
  bytes: Uint8Array;
  /** ESP: the packet inside, as the peer encrypted it. */
  inner?: Uint8Array;
}

export interface GenOptions {
  /** Re-address with arbitrary 32-bit internet addresses (unbounded destinations), not only a fixed pool. */
  wideAddresses: boolean;
}

const INTERESTING16 = [0, 1, 2, 7, 8, 19, 20, 21, 27, 28, 40, 59, 60, 64, 127, 128, 255, 256, 576, 1280, 1400, 1472, 1480, 1500, 1514, 4096, 0x7fff, 0x8000, 0xfffe, 0xffff];
const IP_OPTIONS: readonly (readonly number[])[] = [
  [1], [0], [7, 7, 4, 0, 0, 0, 0], [7, 3, 4], [68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0], [131, 7, 4, 198, 18, 1, 10], [137, 3, 4],
  [148, 4, 0, 0], [7, 0], [7, 1], [7, 255], [130, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0], [25, 8, 1, 2, 3, 4, 5, 6],
];
const TCP_OPTIONS: readonly (readonly number[])[] = [
  [2, 4, 5, 0xb4], [2, 4, 0xff, 0xff], [2, 4, 0, 1], [1], [0], [3, 3, 7], [4, 2], [8, 10, 0, 0, 0, 1, 0, 0, 0, 0],
  [2, 3, 5], [2, 0], [2, 1], [2, 40], [5, 10, 0, 0, 0, 1, 0, 0, 0, 2], [2, 4, 5],
];

export class FrameGen {
  readonly rng: Rng;
  readonly corpus: Template[];
  readonly inner: InnerTemplate[];
  /** Frames answering what the data plane sent, waiting for a later batch. */
  readonly reflected: Reflected[] = [];
  private readonly plane: Plane;
  private readonly addrPool: number[];
  private readonly v: Ipv4View = { l3: 0, ihl: 0, total: 0, proto: 0, frag: false };
  private readonly scratch = new Uint8Array(MAX_FRAME + 256);
  private readonly inBuf = new Uint8Array(4096);
  private readonly espBuf = new Uint8Array(4096);
  private readonly opts: GenOptions;
  /** ESP frames generated (for the report). */
  espFrames = 0;
  reflectedFrames = 0;
  randomFrames = 0;
  /**
   * Set by generate() for ESP frames: the inner packet (innerCopy[0, innerLen)),
   * whose checksums the decrypted frame must keep; -1 otherwise, -2 for an ESP
   * frame whose outer packet was mutated (nothing to expect of its inner one).
   */
  innerLen = -1;
  /** Bytes generate() wrote from the frame's offset (more than its length after a truncation). */
  written = 0;
  readonly innerCopy = new Uint8Array(4096);

  constructor(plane: Plane, seed: number, opts: GenOptions) {
    this.plane = plane;
    this.rng = new Rng(seed);
    this.opts = opts;
    const c = buildCorpus(plane);
    this.corpus = c.frames;
    this.inner = c.inner;
    const ip = (a: number, b: number, c2: number, d: number): number => ((a << 24) | (b << 16) | (c2 << 8) | d) >>> 0;
    this.addrPool = [
      ...plane.ports.map((p) => p.ip), ...plane.ports.map((p) => p.routerIp),
      ip(198, 18, 1, 5), ip(198, 18, 2, 5), ip(198, 18, 1, 0), ip(198, 18, 1, 2), ip(198, 18, 1, 3), ip(198, 18, 1, 255), ip(198, 18, 3, 15),
      ip(203, 0, 113, 10), ip(203, 0, 113, 11), ip(203, 0, 113, 5), ip(203, 0, 113, 2), ip(198, 51, 100, 1), ip(198, 51, 100, 9), ip(198, 51, 100, 20),
      ip(198, 19, 1, 1), ip(198, 19, 77, 3), ip(10, 0, 0, 1), ip(100, 64, 0, 1), ip(0, 0, 0, 0), ip(255, 255, 255, 255), ip(224, 0, 0, 1), ip(127, 0, 0, 1),
    ];
    for (let k = 0; k < 256; k += 3) this.addrPool.push(ip(203, 0, 113, k), ip(198, 51, 100, k));
  }

  private addr(): number {
    const r = this.rng;
    if (this.opts.wideAddresses && r.chance(0.5)) return r.u32();
    return r.pick(this.addrPool);
  }

  /**
   * Writes one frame at out[off..]; returns its length (with the vnet
   * header) and sets `port`. Sets innerLen/innerCopy for ESP frames (the
   * packet inside, whose checksums the decrypted frame must keep).
   */
  port = 0;
  /** With tracing on, the mutation ops of the last frame ("op:len"), for FUZZ_DEBUG_BATCH. */
  tracing = false;
  readonly trace: string[] = [];
  generate(out: Uint8Array, off: number, room: number): number {
    this.trace.length = 0;
    this.innerLen = -1;
    this.written = 0;
    const len = this.generate1(out, off, room);
    if (len > this.written) this.written = len;
    return len;
  }

  private generate1(out: Uint8Array, off: number, room: number): number {
    const r = this.rng;
    const roll = r.int(100);
    if (roll < 4) return this.randomFrame(out, off, Math.min(room, 2000));
    if (roll < 22 && this.reflected.length > 0) {
      const k = r.int(this.reflected.length);
      const f = this.reflected[k]!;
      this.reflected[k] = this.reflected[this.reflected.length - 1]!;
      this.reflected.pop();
      if (f.bytes.length > room) return this.randomFrame(out, off, Math.min(room, 200));
      out.set(f.bytes, off);
      this.written = f.bytes.length;
      this.port = f.port;
      this.reflectedFrames++;
      if (f.inner) {
        this.innerCopy.set(f.inner, 0);
        this.innerLen = f.inner.length;
      }
      let len = f.bytes.length;
      if (r.chance(0.1)) {
        len = this.mutate(out, off, len, room, 1 + r.int(2));
        if (f.inner) this.innerLen = -2;
      }
      return len;
    }
    if (roll < 32) return this.espFrame(out, off, room);
    const t = r.pick(this.corpus);
    if (t.bytes.length > room) return this.randomFrame(out, off, Math.min(room, 200));
    out.set(t.bytes, off);
    this.written = t.bytes.length;
    this.port = t.port;
    let len = t.bytes.length;
    if (r.chance(0.35)) this.readdress(out, off, len);
    if (r.chance(0.6)) len = this.mutate(out, off, len, room, 1 + r.int(4));
    return len;
  }

  private randomFrame(out: Uint8Array, off: number, room: number): number {
    const r = this.rng;
    const len = Math.min(room, r.chance(0.3) ? r.int(80) : r.int(1600));
    r.fill(out, off, len);
    if (len >= VNET + 14 && r.chance(0.5)) {
      // plausible Ethernet: IPv4 or ARP ethertype, sometimes the right destination MAC
      wr16(out, off + VNET + 12, r.chance(0.8) ? 0x0800 : 0x0806);
      if (len >= VNET + 15 && r.chance(0.5)) out[off + VNET + 14] = 0x45;
    }
    this.port = r.int(UPLINK_PORT + 2); // includes an unattached port
    this.randomFrames++;
    return len;
  }

  /** Sets new addresses/ports/ids on an IPv4 frame and makes its checksums right again (flow churn). */
  private readdress(b: Uint8Array, off: number, len: number): void {
    const r = this.rng;
    const v = this.v;
    if (!ipv4At(b, off + VNET, off + len, v)) return;
    const l3 = v.l3;
    const l4 = l3 + v.ihl;
    const what = r.int(3);
    if (what === 0) wr32(b, l3 + 16, this.addr());
    else if (what === 1 && this.port === UPLINK_PORT) wr32(b, l3 + 12, this.addr());
    if (!v.frag && (v.proto === 6 || v.proto === 17) && v.total - v.ihl >= 4) {
      wr16(b, l4, r.chance(0.8) ? 1024 + r.int(64_000) : r.pick(INTERESTING16));
      if (r.chance(0.3)) wr16(b, l4 + 2, r.pick([22, 53, 80, 443, 500, 1500, 4500, 1999, 2000, 2001, r.int(65536)]));
    } else if (!v.frag && v.proto === 1 && v.total - v.ihl >= 8) {
      wr16(b, l4 + 4, r.int(65536));
    }
    wr16(b, l3 + 4, r.int(65536));
    fixIpHeader(b, l3, v.ihl);
    if (!v.frag) fixL4(b, off, off + VNET, l3);
  }

  /** `n` structure-aware mutations in place; returns the new length. */
  mutate(b: Uint8Array, off: number, len: number, room: number, n: number): number {
    const r = this.rng;
    const v = this.v;
    let ipOk = false;
    for (let m = 0; m < n; m++) {
      if (len > this.written) this.written = len;
      ipOk = ipv4At(b, off + VNET, off + len, v);
      const op = r.int(16);
      if (this.tracing) this.trace.push(`${op}:${len}`);
      if (op === 0 && len > 0) {
        b[off + r.int(len)]! ^= 1 << r.int(8);
      } else if (op === 1 && len > 0) {
        b[off + r.int(len)] = r.int(256);
      } else if (op === 2) {
        len = r.int(len + 1);
      } else if (op === 3) {
        const add = Math.min(room - len, 1 + r.int(64));
        r.fill(b, off + len, add);
        len += add;
      } else if (op === 4) {
        this.vnetField(b, off, len);
      } else if (op === 5 && ipOk) {
        this.ipField(b, off, len, v);
      } else if (op === 6 && ipOk) {
        this.l4Field(b, off, len, v);
      } else if (op === 7 && ipOk) {
        len = this.ipOptions(b, off, len, room, v);
      } else if (op === 8 && ipOk && v.proto === 6 && !v.frag && v.total - v.ihl >= 20) {
        this.tcpOptions(b, off, len, v);
      } else if (op === 9 && ipOk) {
        // fragment flags and offset
        const fo = r.chance(0.5) ? r.int(0x2000) : r.pick([0, 1, 185, 0x1fff]);
        wr16(b, v.l3 + 6, (r.chance(0.5) ? 0x2000 : 0) | (r.chance(0.2) ? 0x4000 : 0) | (r.chance(0.7) ? fo : 0));
      } else if (op === 10 && ipOk && v.proto === 1 && !v.frag && v.total - v.ihl >= 8 + 20) {
        this.icmpQuote(b, off, len, v);
      } else if (op === 11 && len > 0) {
        // splice a chunk of another template
        const t = r.pick(this.corpus).bytes;
        const from = r.int(t.length);
        const at = r.int(len);
        const n2 = Math.min(t.length - from, len - at, 1 + r.int(64));
        b.set(t.subarray(from, from + n2), off + at);
      } else if (op === 12 && ipOk) {
        // IPv4 total length vs. frame length disagreements
        wr16(b, v.l3 + 2, r.chance(0.5) ? r.pick(INTERESTING16) : v.total + r.range(-8, 8));
      } else if (op === 13 && len >= VNET + 14) {
        wr16(b, off + VNET + 12, r.pick([0x0800, 0x0806, 0x86dd, 0x8100, 0x88a8, 0, r.int(65536)]));
      } else if (op === 14 && ipOk) {
        b[v.l3] = r.chance(0.5) ? 0x40 | r.int(16) : r.int(256);
      } else if (op === 15 && ipOk) {
        wr32(b, v.l3 + (r.chance(0.5) ? 12 : 16), this.addr());
      }
    }
    // Most mutations should get past the header checksum to reach deeper code; some should not.
    ipOk = ipv4At(b, off + VNET, off + len, v);
    if (ipOk) {
      if (r.chance(0.85)) fixIpHeader(b, v.l3, v.ihl);
      if (!v.frag && r.chance(0.5)) fixL4(b, off, off + VNET, v.l3);
    } else if (len >= VNET + ETH + 20 && (b[off + VNET + ETH]! >>> 4) === 4 && r.chance(0.5)) {
      const ihl = (b[off + VNET + ETH]! & 15) * 4;
      if (ihl >= 20 && VNET + ETH + ihl <= len) fixIpHeader(b, off + VNET + ETH, ihl);
    }
    return len;
  }

  private vnetField(b: Uint8Array, off: number, len: number): void {
    const r = this.rng;
    if (len < VNET) return;
    const k = r.int(6);
    if (k === 0) b[off] = r.pick([0, 1, 2, 3, 0xff]);
    else if (k === 1) b[off + 1] = r.pick([0, 1, 3, 4, 5, 0x81, 0x80, r.int(256)]);
    else {
      const o = off + 2 * (k - 1);
      const val = r.chance(0.6) ? r.pick(INTERESTING16) : r.int(65536);
      b[o] = val & 0xff;
      b[o + 1] = val >>> 8;
    }
    if (r.chance(0.3)) {
      // a GSO super-frame header on whatever this is
      b[off] = 1;
      b[off + 1] = 1;
      const mss = r.pick([0, 1, 8, 100, 536, 1448, 1460, 9000, 65535]);
      b[off + 4] = mss & 0xff;
      b[off + 5] = mss >>> 8;
    }
  }

  private ipField(b: Uint8Array, _off: number, _len: number, v: Ipv4View): void {
    const r = this.rng;
    const l3 = v.l3;
    const k = r.int(6);
    if (k === 0) b[l3 + 1] = r.int(256); // TOS/ECN
    else if (k === 1) b[l3 + 8] = r.pick([0, 1, 2, 64, 255]); // TTL
    else if (k === 2) b[l3 + 9] = r.pick([0, 1, 2, 4, 6, 17, 41, 47, 50, 51, 58, 132, 255]);
    else if (k === 3) wr16(b, l3 + 4, r.int(65536));
    else if (k === 4) b[l3] = 0x40 | r.pick([0, 1, 4, 5, 6, 15]);
    else b[l3 + 6]! ^= 0x80; // reserved flag
  }

  private l4Field(b: Uint8Array, _off: number, len: number, v: Ipv4View): void {
    const r = this.rng;
    const l4 = v.l3 + v.ihl;
    const avail = Math.min(v.l3 + v.total, _off + len) - l4;
    if (avail <= 0) return;
    const at = l4 + r.int(Math.min(avail, 40));
    if (v.proto === 6 && avail >= 20) {
      const k = r.int(5);
      if (k === 0) b[l4 + 13] = r.pick([0x02, 0x12, 0x10, 0x11, 0x04, 0x14, 0x01, 0x29, 0x3f, 0, 0xff, 0xc2]);
      else if (k === 1) b[l4 + 12] = r.pick([0, 0x10, 0x40, 0x50, 0x60, 0xf0, 0xa0]) | (b[l4 + 12]! & 15);
      else if (k === 2) wr32(b, l4 + 4 + 4 * r.int(2), r.u32());
      else if (k === 3) wr16(b, l4 + 2 * r.int(2), r.pick(INTERESTING16));
      else b[at] = r.int(256);
    } else if (v.proto === 17 && avail >= 8) {
      const k = r.int(3);
      if (k === 0) wr16(b, l4 + 4, r.chance(0.5) ? r.pick(INTERESTING16) : v.total - v.ihl + r.range(-4, 4));
      else if (k === 1) wr16(b, l4 + 2 * r.int(2), r.pick([500, 4500, 53, 0, 1, 65535, r.int(65536)]));
      else wr16(b, l4 + 6, 0);
    } else if (v.proto === 1 && avail >= 8) {
      const k = r.int(3);
      if (k === 0) b[l4] = r.pick([0, 3, 4, 5, 8, 11, 12, 13, 14, 17, 255]);
      else if (k === 1) b[l4 + 1] = r.pick([0, 1, 3, 4, 13, 255]);
      else b[at] = r.int(256);
    } else {
      b[at] = r.int(256);
    }
  }

  /** Inserts IPv4 options (valid, truncated or with lying lengths); shifts the payload. */
  private ipOptions(b: Uint8Array, off: number, len: number, room: number, v: Ipv4View): number {
    const r = this.rng;
    const opts: number[] = [];
    const want = 4 * (1 + r.int(10));
    while (opts.length < want) opts.push(...r.pick(IP_OPTIONS));
    opts.length = Math.min(opts.length, 40);
    while (opts.length % 4 !== 0) opts.push(0);
    const add = opts.length - (v.ihl - 20);
    if (add <= 0 || len + add > room) return len;
    const payloadAt = v.l3 + v.ihl;
    const end = off + len;
    b.copyWithin(payloadAt + add, payloadAt, end);
    for (let i = 0; i < opts.length; i++) b[v.l3 + 20 + i] = opts[i]!;
    b[v.l3] = 0x40 | ((20 + opts.length) / 4);
    wr16(b, v.l3 + 2, v.total + add);
    return len + add;
  }

  /** Rewrites the TCP options area (header length permitting) with options of any shape, as a SYN. */
  private tcpOptions(b: Uint8Array, off: number, len: number, v: Ipv4View): void {
    const r = this.rng;
    const t = v.l3 + v.ihl;
    const thl = (b[t + 12]! >>> 4) * 4;
    const end = Math.min(t + thl, off + len, v.l3 + v.total);
    if (r.chance(0.7)) b[t + 13] = (b[t + 13]! | 0x02);
    let o = t + 20;
    while (o < end) {
      const opt = r.pick(TCP_OPTIONS);
      for (let i = 0; i < opt.length && o < end; i++) b[o++] = opt[i]!;
    }
  }

  /** Mutates the packet quoted in an ICMP error (header fields, addresses, ports). */
  private icmpQuote(b: Uint8Array, _off: number, _len: number, v: Ipv4View): void {
    const r = this.rng;
    const q = v.l3 + v.ihl + 8;
    b[v.l3 + v.ihl] = r.pick([3, 4, 5, 11, 12]);
    const k = r.int(6);
    if (k === 0) b[q] = r.pick([0x45, 0x46, 0x4f, 0x44, 0x40, 0x55, 0]);
    else if (k === 1) b[q + 9] = r.pick([1, 6, 17, 50, 0]);
    else if (k === 2) wr32(b, q + 12 + 4 * r.int(2), this.addr());
    else if (k === 3) wr16(b, q + 2, r.pick(INTERESTING16));
    else if (k === 4) wr16(b, q + 6, r.chance(0.5) ? 0x2000 : 0x0010);
    else if (q + 24 <= v.l3 + v.total) wr16(b, q + 20 + 2 * r.int(2), r.int(65536));
  }

  /** ESP-in-UDP from the VPN peer: an inner packet (maybe mutated first) really encrypted for one of our tunnels. */
  private espFrame(out: Uint8Array, off: number, room: number): number {
    const r = this.rng;
    const p = this.plane;
    const t = r.int(p.vpn.tunConn.length);
    const tpl = r.pick(this.inner);
    const ib = this.inBuf;
    // mutate the inner packet with the same machinery: build it as a frame in scratch
    const s = this.scratch;
    s.fill(0, 0, VNET);
    wr16(s, VNET + 12, 0x0800);
    s.set(tpl.bytes, VNET + ETH);
    let flen = VNET + ETH + tpl.bytes.length;
    if (r.chance(0.35)) this.readdressInner(s, flen);
    if (r.chance(0.4)) flen = this.mutate(s, 0, flen, 1600, 1 + r.int(3));
    if (flen < VNET + ETH + 1) flen = VNET + ETH + 1;
    const innerLen = Math.min(flen - VNET - ETH, 1400);
    ib.set(s.subarray(VNET + ETH, VNET + ETH + innerLen), 0);
    const espLen = p.peerCrypto.encrypt(t, ib, 0, innerLen, this.espBuf, 0);
    if (espLen < 0 || frameLen(8 + espLen) > room) return this.randomFrame(out, off, Math.min(room, 100));
    this.innerCopy.set(ib.subarray(0, innerLen), 0);
    this.innerLen = innerLen;
    const spec: Ip4Spec = {
      dstMac: p.uplinkMac, srcMac: PEER_MAC, src: p.vpn.tunPeer[t]! >>> 0, dst: p.vpn.tunLocal[t]! >>> 0,
      proto: 17, id: r.int(65536), ttl: 64, df: false,
    };
    const u = writeIp4(out, off, spec, 8 + espLen);
    wr16(out, u, 4500);
    wr16(out, u + 2, 4500);
    wr16(out, u + 4, 8 + espLen);
    wr16(out, u + 6, 0);
    out.set(this.espBuf.subarray(0, espLen), u + 8);
    this.port = UPLINK_PORT;
    this.espFrames++;
    let len = frameLen(8 + espLen);
    this.written = len;
    if (r.chance(0.08)) {
      this.innerLen = -2; // the outer packet is mutated: nothing to expect of what comes out
      len = this.mutate(out, off, len, room, 1);
    }
    return len;
  }

  private readdressInner(s: Uint8Array, flen: number): void {
    const v = this.v;
    if (!ipv4At(s, VNET, flen, v)) return;
    const r = this.rng;
    wr32(s, v.l3 + 12, ((198 << 24) | (19 << 16) | r.int(65536)) >>> 0);
    if (r.chance(0.5)) wr32(s, v.l3 + 16, this.addr());
    if (!v.frag && (v.proto === 6 || v.proto === 17) && v.total - v.ihl >= 4) wr16(s, v.l3 + v.ihl, 1024 + r.int(64_000));
    fixIpHeader(s, v.l3, v.ihl);
    if (!v.frag) fixL4(s, 0, VNET, v.l3);
  }

  // ------------------------------------------------------------------ reflection

  /**
   * Looks at one transmitted frame (vnet header at `off`, `len` bytes) and
   * may queue an answer: what the internet, the VPN peer or an instance would
   * send back.
   */
  reflect(b: Uint8Array, off: number, len: number, port: number): void {
    if (this.reflected.length >= 512) return;
    const r = this.rng;
    const e = off + VNET;
    if (len < VNET + ETH) return;
    const type = rd16(b, e + 12);
    if (type === 0x0806) {
      if (port === UPLINK_PORT && len >= VNET + ETH + 28 && rd16(b, e + 14 + 6) === 1 && r.chance(0.9)) this.arpAnswer(b, e);
      return;
    }
    const v = this.v;
    if (!ipv4At(b, e, off + len, v) || v.frag) return;
    if (port === UPLINK_PORT && v.proto === 17 && rd16(b, v.l3 + v.ihl + 2) === 4500 && v.total - v.ihl > 8 + 8) {
      this.tunnelAnswer(b, v);
      return;
    }
    if (!r.chance(0.6)) return;
    const src = rd32(b, v.l3 + 12), dst = rd32(b, v.l3 + 16);
    const fromMac = port === UPLINK_PORT ? hostMac(dst) : b.subarray(e, e + 6);
    const toMac = b.subarray(e + 6, e + 12);
    if (r.chance(0.15)) {
      // an ICMP error about the packet, from its destination or a router on the way
      const from = port === UPLINK_PORT && r.chance(0.5) ? ROUTER_ON_PATH : dst;
      this.icmpErrorAbout(b, v, port, fromMac, toMac, from, src);
      return;
    }
    const bytes = answer(b, v, fromMac, toMac, r);
    if (bytes !== null) this.reflected.push({ port, bytes });
  }

  private arpAnswer(b: Uint8Array, e: number): void {
    const a = e + 14;
    const target = rd32(b, a + 24);
    const f = new Uint8Array(VNET + ETH + 28 + 18);
    const o = VNET;
    f.set(this.plane.uplinkMac, o);
    f.set(hostMac(target), o + 6);
    wr16(f, o + 12, 0x0806);
    wr16(f, o + 14, 1); wr16(f, o + 16, 0x0800); f[o + 18] = 6; f[o + 19] = 4; wr16(f, o + 20, 2);
    f.set(hostMac(target), o + 22);
    wr32(f, o + 28, target);
    f.set(this.plane.uplinkMac, o + 32);
    f.set(b.subarray(a + 14, a + 18), o + 38);
    this.reflected.push({ port: UPLINK_PORT, bytes: f });
  }

  private icmpErrorAbout(b: Uint8Array, v: Ipv4View, port: number, fromMac: Uint8Array, toMac: Uint8Array, from: number, to: number): void {
    const r = this.rng;
    const quote = Math.min(v.total, v.ihl + (r.chance(0.7) ? 8 : 64));
    const f = new Uint8Array(frameLen(8 + quote));
    const type = r.pick([3, 3, 11, 12, 4]);
    const code = type === 3 ? r.pick([1, 3, 4, 13]) : 0;
    const l4 = writeIp4(f, 0, { dstMac: toMac, srcMac: fromMac, src: from, dst: to, proto: 1, id: r.int(65536), ttl: 64, df: false }, 8 + quote);
    f[l4] = type;
    f[l4 + 1] = code;
    if (type === 3 && code === 4) wr16(f, l4 + 6, r.pick([576, 1280, 1400, 68]));
    f.set(b.subarray(v.l3, v.l3 + quote), l4 + 8);
    fixL4(f, 0, VNET, VNET + ETH);
    this.reflected.push({ port, bytes: f });
  }

  /** Decrypts what we sent into a tunnel as the peer, answers the inner packet, encrypts the answer back. */
  private tunnelAnswer(b: Uint8Array, v: Ipv4View): void {
    const p = this.plane;
    const esp = v.l3 + v.ihl + 8;
    const espLen = v.total - v.ihl - 8;
    const n = p.peerCrypto.decrypt(b, esp, espLen, this.inBuf, 0);
    if (n < 20) return;
    const t = p.peerCrypto.lastTunnel;
    const s = this.scratch;
    s.fill(0, 0, VNET + ETH);
    wr16(s, VNET + 12, 0x0800);
    s.set(this.inBuf.subarray(0, n), VNET + ETH);
    const iv: Ipv4View = { l3: 0, ihl: 0, total: 0, proto: 0, frag: false };
    if (!ipv4At(s, VNET, VNET + ETH + n, iv) || iv.frag) return;
    const inner = answer(s, iv, PEER_MAC, PEER_MAC, this.rng);
    if (inner === null) return;
    const innerPkt = inner.subarray(VNET + ETH);
    const el = p.peerCrypto.encrypt(t, innerPkt, 0, innerPkt.length, this.espBuf, 0);
    if (el < 0) return;
    const f = new Uint8Array(frameLen(8 + el));
    const u = writeIp4(f, 0, { dstMac: p.uplinkMac, srcMac: PEER_MAC, src: p.vpn.tunPeer[t]! >>> 0, dst: p.vpn.tunLocal[t]! >>> 0, proto: 17, id: 1, ttl: 64, df: false }, 8 + el);
    wr16(f, u, 4500); wr16(f, u + 2, 4500); wr16(f, u + 4, 8 + el);
    f.set(this.espBuf.subarray(0, el), u + 8);
    this.reflected.push({ port: UPLINK_PORT, bytes: f, inner: innerPkt.slice() });
  }
}

const PEER_MAC = Uint8Array.from([0x02, 0xfe, 0xee, 0, 0, 0x14]);
const ROUTER_ON_PATH = ((198 << 24) | (51 << 16) | (100 << 8) | 77) >>> 0;

/** The MAC an internet host uses (derived from its address). */
export function hostMac(ip: number): Uint8Array {
  return Uint8Array.from([0x02, 0xfe, ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff]);
}

/** The answer a host would give to the IPv4 packet at v (a frame with vnet header at 0 of the result), or null. */
function answer(b: Uint8Array, v: Ipv4View, fromMac: Uint8Array, toMac: Uint8Array, r: Rng): Uint8Array | null {
  const l4 = v.l3 + v.ihl;
  const plen = v.total - v.ihl;
  const src = rd32(b, v.l3 + 12), dst = rd32(b, v.l3 + 16);
  const spec: Ip4Spec = { dstMac: toMac, srcMac: fromMac, src: dst, dst: src, proto: v.proto, id: r.int(65536), ttl: 64, df: r.chance(0.5) };
  if (v.proto === 6 && plen >= 20) {
    const flags = b[l4 + 13]!;
    if ((flags & 0x04) !== 0) return null;
    const thl = (b[l4 + 12]! >>> 4) * 4;
    const dataLen = Math.max(0, plen - thl);
    let out: number;
    if ((flags & 0x12) === 0x02) out = r.chance(0.9) ? 0x12 : 0x14;
    else if ((flags & 0x01) !== 0) out = 0x11;
    else out = r.chance(0.1) ? 0x11 : r.chance(0.05) ? 0x14 : 0x10;
    const data = (out & 0x10) !== 0 && out !== 0x14 && r.chance(0.3) ? 1 + r.int(200) : 0;
    const f = new Uint8Array(frameLen(20 + data));
    const t = writeIp4(f, 0, spec, 20 + data);
    wr16(f, t, rd16(b, l4 + 2));
    wr16(f, t + 2, rd16(b, l4));
    wr32(f, t + 4, r.u32());
    wr32(f, t + 8, (rd32(b, l4 + 4) + dataLen + ((flags & 0x03) !== 0 ? 1 : 0)) >>> 0);
    f[t + 12] = 0x50;
    f[t + 13] = out;
    wr16(f, t + 14, 65535);
    fixL4(f, 0, VNET, VNET + ETH);
    return f;
  }
  if (v.proto === 17 && plen >= 8) {
    const data = r.int(64);
    const f = new Uint8Array(frameLen(8 + data));
    const u = writeIp4(f, 0, spec, 8 + data);
    wr16(f, u, rd16(b, l4 + 2));
    wr16(f, u + 2, rd16(b, l4));
    wr16(f, u + 4, 8 + data);
    fixL4(f, 0, VNET, VNET + ETH);
    return f;
  }
  if (v.proto === 1 && plen >= 8 && b[l4] === 8) {
    const f = new Uint8Array(frameLen(plen));
    const i = writeIp4(f, 0, spec, plen);
    f.set(b.subarray(l4, l4 + plen), i);
    f[i] = 0;
    fixL4(f, 0, VNET, VNET + ETH);
    return f;
  }
  return null;
}
