/**
 * Property tests for every view (fast-check, fixed seeds so failures reproduce):
 *
 * - random bytes, random truncations of valid frames and randomly mutated
 *   valid frames go through check() and then every getter: nothing throws;
 * - check() refuses anything shorter than the view's minimum header;
 * - the contract: check() never reads outside [off, end), and once it returned
 *   OK no getter does either. Two ways: every byte access goes through a Proxy
 *   that records indexes, and the getters give the same results whether the
 *   bytes around [off, end) are 0x00 or 0xFF (the "sentinel" arenas);
 * - after OK, numeric getters return finite numbers (a read past the buffer
 *   would surface as undefined/NaN).
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ArpView } from '../../../src/wire/arp.js';
import { EthernetView } from '../../../src/wire/ethernet.js';
import { IcmpView } from '../../../src/wire/icmp.js';
import { Ipv4View } from '../../../src/wire/ipv4.js';
import { Ipv6View } from '../../../src/wire/ipv6.js';
import { TcpView } from '../../../src/wire/tcp.js';
import { UdpView } from '../../../src/wire/udp.js';
import { VnetHdrView } from '../../../src/wire/vnet.js';
import {
  arpReply, arpRequest, ethIpv4Icmp, ethIpv4IcmpError, ethIpv4Tcp, ethIpv4Udp, ethIpv6Udp, fragmentFrame,
  withPartialCsum, withVnetHdr, TCP_ACK, TCP_SYN,
} from '../../helpers/frames.js';

interface ViewLike {
  off: number;
  end: number;
  at(buf: Uint8Array, off: number, end: number): unknown;
}

interface Spec<V extends ViewLike = ViewLike> {
  readonly name: string;
  readonly make: () => V;
  readonly min: number;
  readonly check: (v: V) => number;
  /** Reads that are methods, not getters. */
  readonly extra: (v: V) => unknown[];
}

function spec<V extends ViewLike>(s: Spec<V>): Spec {
  return s as unknown as Spec;
}

const SPECS = {
  vnet: spec({ name: 'vnet', make: () => new VnetHdrView(), min: 10, check: (v) => v.check(), extra: () => [] }),
  eth: spec({ name: 'ethernet', make: () => new EthernetView(), min: 14, check: (v) => v.check(), extra: () => [] }),
  arp: spec({ name: 'arp', make: () => new ArpView(), min: 28, check: (v) => v.check(), extra: () => [] }),
  ipv4: spec({ name: 'ipv4', make: () => new Ipv4View(), min: 20, check: (v) => v.check(), extra: (v) => [v.verifyChecksum()] }),
  ipv4Quoted: spec({ name: 'ipv4 (checkHeader)', make: () => new Ipv4View(), min: 20, check: (v) => v.checkHeader(),
    extra: (v) => [v.verifyChecksum()] }),
  ipv6: spec({ name: 'ipv6', make: () => new Ipv6View(), min: 40, check: (v) => v.check(),
    extra: (v) => [0, 1, 2, 3, 4, -1].flatMap((i) => [v.src(i), v.dst(i)]) }),
  icmp: spec({ name: 'icmp', make: () => new IcmpView(), min: 8, check: (v) => v.check(), extra: (v) => [v.verifyChecksum()] }),
  tcp: spec({ name: 'tcp', make: () => new TcpView(), min: 20, check: (v) => v.check(), extra: (v) => {
    const o = v.findMssOption();
    return [o, o >= 0 ? v.mssAt(o) : -1, v.verifyChecksum4(0xc612010a, 0xc6120214)];
  } }),
  udp: spec({ name: 'udp', make: () => new UdpView(), min: 8, check: (v) => v.check(),
    extra: (v) => [v.verifyChecksum4(0xc612010a, 0xc6120214)] }),
} as const;
const ALL_SPECS: readonly Spec[] = Object.values(SPECS);

/** Every getter on the view's prototype, then the spec's extra reads. */
function readAll(s: Spec, v: ViewLike): unknown[] {
  const proto = Object.getPrototypeOf(v) as object;
  const out: unknown[] = [];
  for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(proto))) {
    if (d.get !== undefined) out.push([name, d.get.call(v)]);
  }
  out.push(['extra', s.extra(v)]);
  return out;
}

/** A Uint8Array proxy that records every indexed read and forbids writes. */
function tracked(target: Uint8Array): { buf: Uint8Array; touched: number[] } {
  const touched: number[] = [];
  const buf = new Proxy(target, {
    get(t, p) {
      if (typeof p === 'string' && /^-?\d+$/.test(p)) {
        const i = Number(p);
        touched.push(i);
        return t[i];
      }
      return Reflect.get(t, p, t) as unknown;
    },
    set(_t, p) {
      throw new Error(`a getter wrote to index ${String(p)}`);
    },
  });
  return { buf, touched };
}

/** Stats so a property cannot pass vacuously. */
const passed = new Map<string, number>();

/**
 * Runs one view over src[off, end) and checks the contract. The view sees
 * arenas that hold only src[off, end); everything else is a sentinel.
 * Returns check()'s result.
 */
function exercise(s: Spec, src: Uint8Array, off: number, end: number): number {
  const size = Math.max(src.length, end) + 8;
  const lo = new Uint8Array(size).fill(0x00);
  const hi = new Uint8Array(size).fill(0xff);
  lo.set(src.subarray(off, end), off);
  hi.set(src.subarray(off, end), off);
  const v = s.make();

  // check() itself stays in range, OK or not.
  const t = tracked(lo);
  v.at(t.buf, off, end);
  const err = s.check(v);
  for (const i of t.touched) if (i < off || i >= end) throw new Error(`${s.name}.check() read ${i} outside [${off}, ${end})`);
  if (end - off < s.min) expect(err, `${s.name} accepted ${end - off} bytes`).not.toBe(0);

  // Getters never throw, even on refused input.
  v.at(lo, off, end);
  readAll(s, v);
  if (err !== 0) return err;
  passed.set(s.name, (passed.get(s.name) ?? 0) + 1);

  t.touched.length = 0;
  v.at(t.buf, off, end);
  const a = readAll(s, v);
  for (const i of t.touched) if (i < off || i >= end) throw new Error(`${s.name} getter read ${i} outside [${off}, ${end})`);
  v.at(hi, off, end);
  const b = readAll(s, v);
  expect(b, `${s.name}: results depend on bytes outside [off, end)`).toEqual(a);
  for (const [name, val] of a as Array<[string, unknown]>) {
    if (name === 'extra') continue;
    if (typeof val === 'number') expect(Number.isFinite(val), `${s.name}.${name} = ${val}`).toBe(true);
    else expect(typeof val, `${s.name}.${name}`).toBe('boolean');
  }
  return err;
}

/**
 * Parses a frame layer by layer as the data plane would, exercising each view
 * on its own range. Returns the first non-zero check() result, or 0 when
 * every layer it reached was valid.
 */
function parseFrame(buf: Uint8Array, off: number, end: number, vnet: boolean): number {
  let e: number;
  if (vnet) {
    if ((e = exercise(SPECS.vnet, buf, off, end)) !== 0) return e;
    off += 10;
  }
  if ((e = exercise(SPECS.eth, buf, off, end)) !== 0) return e;
  const eth = new EthernetView().at(buf, off, end);
  const l3 = eth.payloadOff;
  switch (eth.etherType) {
    case 0x0806: return exercise(SPECS.arp, buf, l3, end);
    case 0x86dd: {
      if ((e = exercise(SPECS.ipv6, buf, l3, end)) !== 0) return e;
      const ip6 = new Ipv6View().at(buf, l3, end);
      return ip6.nextHeader === 17 ? exercise(SPECS.udp, buf, ip6.payloadOff, ip6.packetEnd) : 0;
    }
    case 0x0800: {
      if ((e = exercise(SPECS.ipv4, buf, l3, end)) !== 0) return e;
      const ip = new Ipv4View().at(buf, l3, end);
      if (ip.isLaterFragment) return 0;
      const l4 = ip.payloadOff, l4End = ip.packetEnd;
      if (ip.protocol === 6) return ip.isFirstFragment ? 0 : exercise(SPECS.tcp, buf, l4, l4End);
      if (ip.protocol === 17) return ip.isFirstFragment ? 0 : exercise(SPECS.udp, buf, l4, l4End);
      if (ip.protocol === 1) {
        if ((e = exercise(SPECS.icmp, buf, l4, l4End)) !== 0) return e;
        const icmp = new IcmpView().at(buf, l4, l4End);
        if (!icmp.isError) return 0;
        if ((e = exercise(SPECS.ipv4Quoted, buf, icmp.innerOff, l4End)) !== 0) return e;
        const inner = new Ipv4View().at(buf, icmp.innerOff, l4End);
        // The quote holds 8 bytes of L4: enough for UDP, not for a TCP header.
        if (inner.protocol === 17) exercise(SPECS.udp, buf, inner.payloadOff, l4End);
        if (inner.protocol === 6) exercise(SPECS.tcp, buf, inner.payloadOff, l4End);
        return 0;
      }
      return 0;
    }
    default: return 0;
  }
}

// ------------------------------------------------------------ arbitraries

const port = fc.integer({ min: 0, max: 65535 });
const ip4 = fc.tuple(fc.constantFrom(198, 203), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'));
const payload = fc.uint8Array({ maxLength: 48 });
const vlan = fc.option(fc.integer({ min: 1, max: 4094 }), { nil: undefined });
const ipOpts = fc.constantFrom<number[] | undefined>(undefined, [0x94, 4, 0, 0], [1, 1, 1, 0], [7, 7, 4, 0, 0, 0, 0]);

const udpFrame = fc.record({ src: ip4, dst: ip4, sport: port, dport: port, payload, vlan, ttl: fc.nat(255),
  id: fc.nat(0xffff), df: fc.boolean(), options: ipOpts }).map((o) => ethIpv4Udp(omitUndef(o)));
const tcpFrame = fc.record({ src: ip4, dst: ip4, sport: port, dport: port, payload, vlan,
  flags: fc.constantFrom(TCP_SYN, TCP_ACK, TCP_SYN | TCP_ACK, 0xff), seq: fc.nat(), ack: fc.nat(),
  mss: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
  options: fc.constantFrom<number[] | undefined>(undefined, [1, 1, 4, 2], [3, 3, 7], [8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
  ipOptions: ipOpts }).map((o) => ethIpv4Tcp(omitUndef(o)));
const echoFrame = fc.record({ src: ip4, dst: ip4, type: fc.constantFrom(0, 8), id: port, seq: port, payload, vlan })
  .map((o) => ethIpv4Icmp(omitUndef(o)));
const errorFrame = fc.record({ src: ip4, dst: ip4, type: fc.constantFrom(3, 4, 5, 11, 12), code: fc.nat(15),
  original: fc.oneof(udpFrame, tcpFrame), quoteLen: fc.constantFrom(8, 0, 4, 64) })
  .map((o) => ethIpv4IcmpError(o));
const arpFrame = fc.record({ spa: ip4, tpa: ip4, reply: fc.boolean(), vlan })
  .map((o) => (o.reply ? arpReply(omitUndef({ ...o, dstMac: '02:00:00:00:00:09' })) : arpRequest(omitUndef(o))));
const v6Frame = fc.record({ src: fc.constantFrom('2001:db8::1', 'fd00::a', '::1'), dst: fc.constantFrom('2001:db8:1::ff', '::'),
  sport: port, dport: port, payload, vlan }).map((o) => ethIpv6Udp(omitUndef(o)));
const fragFrame = fc.tuple(udpFrame, fc.integer({ min: 1, max: 8 }), fc.nat())
  .map(([f, k, pick]) => { const fr = fragmentFrame(f, 8 * k); return fr[pick % fr.length] as Buffer; });

/** A valid frame, maybe preceded by a virtio_net_hdr, at a random offset in an arena. */
const validFrame = fc.record({
  frame: fc.oneof(udpFrame, tcpFrame, echoFrame, errorFrame, arpFrame, v6Frame, fragFrame),
  vnet: fc.constantFrom('none', 'plain', 'partial'),
  pre: fc.nat(24),
}).map(({ frame, vnet, pre }) => {
  let f: Buffer = frame;
  if (vnet === 'plain') f = withVnetHdr(frame);
  if (vnet === 'partial') {
    const l3 = frame.readUInt16BE(12) === 0x8100 ? 18 : 14;
    const isTcpUdp = frame.readUInt16BE(l3 - 2) === 0x0800 && (frame[l3 + 9] === 6 || frame[l3 + 9] === 17)
      && (frame.readUInt16BE(l3 + 6) & 0x3fff) === 0;
    f = isTcpUdp ? withPartialCsum(frame) : withVnetHdr(frame);
  }
  const arena = Buffer.alloc(pre + f.length + 8, 0xee);
  f.copy(arena, pre);
  return { arena, off: pre, len: f.length, vnet: vnet !== 'none' };
});

function omitUndef<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

// ------------------------------------------------------------ properties

describe('views under random and malformed input', () => {
  it('random bytes: check() and every getter of every view', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 96 }), fc.nat(16), (data, pre) => {
      const buf = new Uint8Array(pre + data.length);
      buf.set(data, pre);
      for (const s of ALL_SPECS) exercise(s, buf, pre, pre + data.length);
    }), { numRuns: 2000 });
  });

  it('random bytes behind plausible first bytes (so deeper checks run)', () => {
    const lead = fc.constantFrom([0x45], [0x46], [0x4f], [0x41], [0x60], [0x50], [0xf0], [0x00, 0x01, 0x08, 0x00, 0x06, 0x04]);
    fc.assert(fc.property(lead, fc.uint8Array({ minLength: 0, maxLength: 80 }), fc.integer({ min: 0, max: 120 }), fc.nat(8),
      (first, rest, totalLen, pre) => {
        const data = Uint8Array.from([...first, ...rest]);
        if (data.length >= 4 && first.length === 1) { data[2] = totalLen >> 8; data[3] = totalLen & 0xff; }
        const buf = new Uint8Array(pre + data.length);
        buf.set(data, pre);
        for (const s of ALL_SPECS) exercise(s, buf, pre, pre + data.length);
      }), { numRuns: 2000 });
  });

  it('valid frames pass every layer, at any arena offset', () => {
    fc.assert(fc.property(validFrame, ({ arena, off, len, vnet }) => {
      expect(parseFrame(arena, off, off + len, vnet)).toBe(0);
    }), { numRuns: 1000 });
  });

  it('every truncation of a valid frame is refused by some layer', () => {
    fc.assert(fc.property(validFrame, fc.nat(), ({ arena, off, len, vnet }, cut) => {
      const keep = cut % len; // 0 .. len-1 bytes
      expect(parseFrame(arena, off, off + keep, vnet), `kept ${keep} of ${len}`).not.toBe(0);
    }), { numRuns: 1500 });
  });

  it('mutated valid frames: no throw, contract holds at every layer reached', () => {
    const mutation = fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 6 });
    fc.assert(fc.property(validFrame, mutation, fc.nat(64), ({ arena, off, len, vnet }, muts, extend) => {
      for (const [at, val] of muts) arena[off + (at % len)] = val;
      // Also let `end` run into the bytes after the frame (overlong input).
      const end = Math.min(arena.length, off + len + (extend % 9));
      parseFrame(arena, off, end, vnet);
    }), { numRuns: 1500 });
  });

  it('reached every view with valid input (the properties above are not vacuous)', () => {
    for (const s of ALL_SPECS) expect(passed.get(s.name) ?? 0, s.name).toBeGreaterThan(50);
  });
});
