/**
 * Flow-log accumulation for one aggregation interval, in typed arrays.
 *
 * AWS writes one record per flow (5-tuple) per ENI per direction per interval,
 * with ACCEPT or REJECT [VPC-FL]. The packet path calls record() for each ENI
 * a packet touched; at the end of the interval the control plane reads the
 * records (recordsOf(), the record arrays) and clears the table.
 *
 * Isolation between ENIs: every ENI owns a fixed region of the table, a quota
 * of `recordsPerEni` records in a hash region of 4x that many slots. Further
 * flows of an ENI that used its quota are counted into that ENI's skipped
 * packets (its SKIPDATA record); no other ENI loses anything.
 *
 * Cost bound per packet: the key is hashed with a per-process random seed
 * (lib/hash), so a sender cannot choose ports that collide, and probing stops
 * after MAX_PROBES slots (load <= 1/4, so an honest key needs more than a few
 * probes with negligible probability); a key that finds neither itself nor a
 * free slot within the bound is counted as skipped. record() allocates nothing.
 */
import { hash3, hash4, nextPow2, randomSeed } from '../lib/hash.js';

/** Direction of a record with respect to its ENI (flow-direction); part of the record's key. */
export const FlowDir = { Unknown: 0, Ingress: 1, Egress: 2 } as const;

/**
 * AWS's traffic-path codes (egress records only; 0 = none, written `-`):
 * 1 another resource in the same VPC, 2 an internet gateway or gateway
 * endpoint, 3 a virtual private gateway, 4/5 intra-/inter-region peering,
 * 6 a local gateway, 7 a gateway endpoint (Nitro), 8 an internet gateway (Nitro).
 */
export const TrafficPath = { None: 0, SameVpc: 1, InternetGateway: 2, VirtualPrivateGateway: 3 } as const;

/** TCP flags as AWS records them: FIN 1, SYN 2, RST 4, and 18 for a SYN-ACK (ACK and PSH alone are not recorded). */
export function awsTcpFlags(raw: number): number {
  return (raw & 0x07) | ((raw & 0x12) === 0x12 ? 0x10 : 0);
}

/** Slots probed at most per packet. */
export const MAX_PROBES = 32;
/** Records of one interval over all ENIs, at most (bounds the memory of a table: about 80 MB). */
export const MAX_FLOW_LOG_RECORDS = 1 << 20;
/** Default records per ENI per interval (flowLogs.recordsPerEni). */
export const DEFAULT_RECORDS_PER_ENI = 4096;

const EMPTY = -1;

/** The per-ENI quota used when the configuration sets none: the default, lowered so that every ENI fits. */
export function defaultRecordsPerEni(enis: number): number {
  return Math.max(1, Math.min(DEFAULT_RECORDS_PER_ENI, Math.floor(MAX_FLOW_LOG_RECORDS / Math.max(1, enis))));
}

export class FlowLogTable {
  /** ENIs (instances) this table has a region for; record(eni) with eni outside 0..enis-1 counts in skippedUnknown. */
  readonly enis: number;
  readonly recordsPerEni: number;
  /** Records of all ENIs. */
  readonly capacity: number;
  /** Slots per ENI region (a power of two, >= 4 x recordsPerEni). */
  private readonly regionSlots: number;
  private readonly regionMask: number;
  private readonly seed: number;
  /** Slot -> record number inside the ENI's quota, or EMPTY. */
  private readonly slots: Int32Array;

  // Records, struct of arrays; record r of ENI e is at e * recordsPerEni + n, n < recordsOf(e).
  readonly src: Int32Array;
  readonly dst: Int32Array;
  /** sport << 16 | dport */
  readonly ports: Int32Array;
  /** dir << 9 | proto << 1 | action (1 ACCEPT, 0 REJECT); dir a FlowDir */
  readonly protoAction: Int32Array;
  /** Addresses in the packet (pkt-srcaddr, pkt-dstaddr): differ from src/dst on a NAT gateway's ENI. Part of the key. */
  readonly pktSrc: Int32Array;
  readonly pktDst: Int32Array;
  /** AWS tcp-flags OR-ed over the interval (awsTcpFlags). */
  readonly tcpFlags: Uint8Array;
  /** traffic-path code (TrafficPath) of the record's first packet; 0 none. */
  readonly path: Uint8Array;
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
  /** Unix ms of the first/last packet in the interval. */
  readonly firstMs: Float64Array;
  readonly lastMs: Float64Array;
  /** The slot (inside its ENI's region) each record sits in, for clear(). */
  private readonly slotOf: Int32Array;

  /** Records per ENI this interval. */
  private readonly count: Int32Array;
  /** Packets per ENI not recorded this interval (quota used, or no slot within MAX_PROBES). */
  private readonly skipped: Float64Array;
  /** Packets for an ENI number the table has no region for (a bug elsewhere; counted, never a crash). */
  skippedUnknown = 0;
  /** Records in the table now (all ENIs). */
  size = 0;

  /** `enis`: ENIs (instances) to hold; `recordsPerEni`: the quota (default: defaultRecordsPerEni); `seed`: fixed in tests, random per process otherwise. */
  constructor(opts: { enis: number; recordsPerEni?: number; seed?: number }) {
    const enis = opts.enis;
    if (!Number.isInteger(enis) || enis < 1 || enis > MAX_FLOW_LOG_RECORDS) throw new RangeError(`flow-log table: ${enis} ENIs`);
    const perEni = opts.recordsPerEni ?? defaultRecordsPerEni(enis);
    if (!Number.isInteger(perEni) || perEni < 1 || perEni * enis > MAX_FLOW_LOG_RECORDS) {
      throw new RangeError(`flow-log table: ${perEni} records per ENI x ${enis} ENIs exceeds ${MAX_FLOW_LOG_RECORDS}`);
    }
    this.enis = enis;
    this.recordsPerEni = perEni;
    this.capacity = perEni * enis;
    this.regionSlots = nextPow2(Math.max(16, perEni * 4));
    this.regionMask = this.regionSlots - 1;
    this.seed = opts.seed ?? randomSeed();
    this.slots = new Int32Array(this.regionSlots * enis).fill(EMPTY);
    const n = this.capacity;
    this.src = new Int32Array(n);
    this.dst = new Int32Array(n);
    this.ports = new Int32Array(n);
    this.protoAction = new Int32Array(n);
    this.pktSrc = new Int32Array(n);
    this.pktDst = new Int32Array(n);
    this.tcpFlags = new Uint8Array(n);
    this.path = new Uint8Array(n);
    this.packets = new Float64Array(n);
    this.bytes = new Float64Array(n);
    this.firstMs = new Float64Array(n);
    this.lastMs = new Float64Array(n);
    this.slotOf = new Int32Array(n);
    this.count = new Int32Array(enis);
    this.skipped = new Float64Array(enis);
  }

  /**
   * One packet of `len` IP bytes seen on ENI `eni` with `action` (1 ACCEPT,
   * 0 REJECT) at Unix ms `nowMs`. `flags`: AWS tcp-flags of the packet
   * (awsTcpFlags); `dir`: FlowDir; `path`: TrafficPath; `pktSrc`/`pktDst`:
   * the packet's addresses when the record shows others (a NAT gateway's ENI).
   */
  record(eni: number, src: number, dst: number, sport: number, dport: number, proto: number, action: number, len: number, nowMs: number,
    flags = 0, dir = 0, path = 0, pktSrc = src, pktDst = dst): void {
    if (eni < 0 || eni >= this.enis) {
      this.skippedUnknown++;
      return;
    }
    src |= 0;
    dst |= 0;
    pktSrc |= 0;
    pktDst |= 0;
    const ports = ((sport & 0xffff) << 16) | (dport & 0xffff);
    const pa = ((dir & 3) << 9) | ((proto & 0xff) << 1) | (action & 1);
    const mask = this.regionMask;
    const base = eni * this.regionSlots;
    const slots = this.slots;
    let h = hash4(src, dst, ports, pa, this.seed);
    if (pktSrc !== src || pktDst !== dst) h = hash3(h, pktSrc, pktDst, this.seed);
    let i = h & mask;
    for (let p = 0; p < MAX_PROBES; p++) {
      const n = slots[base + i]!;
      if (n === EMPTY) {
        const c = this.count[eni]!;
        if (c >= this.recordsPerEni) break;
        const r = eni * this.recordsPerEni + c;
        slots[base + i] = c;
        this.count[eni] = c + 1;
        this.size++;
        this.src[r] = src;
        this.dst[r] = dst;
        this.ports[r] = ports;
        this.protoAction[r] = pa;
        this.pktSrc[r] = pktSrc;
        this.pktDst[r] = pktDst;
        this.tcpFlags[r] = flags;
        this.path[r] = path;
        this.packets[r] = 1;
        this.bytes[r] = len;
        this.firstMs[r] = nowMs;
        this.lastMs[r] = nowMs;
        this.slotOf[r] = i;
        return;
      }
      const r = eni * this.recordsPerEni + n;
      if (this.src[r] === src && this.dst[r] === dst && this.ports[r] === ports && this.protoAction[r] === pa &&
        this.pktSrc[r] === pktSrc && this.pktDst[r] === pktDst) {
        this.tcpFlags[r] |= flags;
        this.packets[r]++;
        this.bytes[r] += len;
        this.lastMs[r] = nowMs;
        return;
      }
      i = (i + 1) & mask;
    }
    this.skipped[eni]++;
  }

  /** Records ENI `eni` holds this interval; its records are at eni * recordsPerEni + 0..n-1. */
  recordsOf(eni: number): number {
    return this.count[eni] ?? 0;
  }

  /** Packets of ENI `eni` that were not recorded this interval (its SKIPDATA). */
  skippedOf(eni: number): number {
    return this.skipped[eni] ?? 0;
  }

  /** Empties the table for the next interval. O(records). Control plane. */
  clear(): void {
    for (let e = 0; e < this.enis; e++) {
      const c = this.count[e]!;
      const base = e * this.regionSlots;
      const first = e * this.recordsPerEni;
      for (let n = 0; n < c; n++) this.slots[base + this.slotOf[first + n]!] = EMPTY;
      this.count[e] = 0;
      this.skipped[e] = 0;
    }
    this.size = 0;
    this.skippedUnknown = 0;
  }

  /** Visits every record of the interval, then empties the table. Control plane (tests and tools). */
  drain(visit: (eni: number, src: number, dst: number, sport: number, dport: number, proto: number, accept: boolean,
    packets: number, bytes: number, firstMs: number, lastMs: number, tcpFlags: number, dir: number, path: number, pktSrc: number, pktDst: number) => void): { skipped: number } {
    let skipped = this.skippedUnknown;
    for (let e = 0; e < this.enis; e++) {
      skipped += this.skipped[e]!;
      const first = e * this.recordsPerEni;
      for (let n = 0; n < this.count[e]!; n++) {
        const r = first + n;
        const ports = this.ports[r]!, pa = this.protoAction[r]!;
        visit(e, this.src[r]! >>> 0, this.dst[r]! >>> 0, ports >>> 16, ports & 0xffff, (pa >>> 1) & 0xff, (pa & 1) === 1,
          this.packets[r]!, this.bytes[r]!, this.firstMs[r]!, this.lastMs[r]!, this.tcpFlags[r]!, pa >>> 9, this.path[r]!,
          this.pktSrc[r]! >>> 0, this.pktDst[r]! >>> 0);
      }
    }
    this.clear();
    return { skipped };
  }
}
