/**
 * The frame vector every stage works on: struct-of-arrays, allocated once and
 * reused for every batch. The addon writes received frames into `arena` slots
 * and fills rxPort/rxOff/rxLen; stages read and rewrite frames in place and
 * append what leaves to the tx descriptors. Nothing here allocates per packet.
 */

export const Verdict = { Pass: 0, Drop: 1, Consumed: 2 } as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/**
 * Why a frame was dropped. The value indexes the drop counters; the name is
 * the `reason` label of `vpcd_drops_total` (see DROP_REASON_LABELS).
 */
export const DropReason = {
  None: 0,
  Malformed: 1,
  NoRoute: 2,
  Nacl: 3,
  Sg: 4,
  ConntrackFull: 5,
  NatPortExhausted: 6,
  SourceDestCheck: 7,
  Ipv6: 8,
  NotForRouter: 9,
  ReservedAddress: 10,
  UnknownEthertype: 11,
  TtlExceeded: 12,
  NoNeighbor: 13,
  TxError: 14,
  UnknownPort: 15,
  Unsolicited: 16,
  Fragment: 17,
  IgwNoPublicIp: 18,
  NatUnsupportedProto: 19,
  EspReplay: 20,
  EspAuth: 21,
  EspNoSa: 22,
  VpnDown: 23,
  TooBig: 24,
  ArpIgnored: 25,
  Multicast: 26,
  AfterClose: 27,
  NoDestination: 28,
  UnsupportedTarget: 29,
  IgwRejected: 30,
  VpcService: 31,
  PuntOverflow: 32,
  Blackhole: 33,
  NatSourceOutsideVpc: 34,
  VgwSourceOutsideVpc: 35,
  LinkLocalAllowance: 36,
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

export const DROP_REASON_LABELS: readonly string[] = [
  'none', 'malformed', 'no_route', 'nacl', 'sg', 'conntrack_full', 'nat_port_exhausted',
  'source_dest_check', 'ipv6', 'not_for_router', 'reserved_address', 'unknown_ethertype',
  'ttl_exceeded', 'no_neighbor', 'tx_error', 'unknown_port', 'unsolicited', 'fragment',
  'igw_no_public_ip', 'nat_unsupported_protocol', 'esp_replay', 'esp_auth', 'esp_no_sa',
  'vpn_down', 'too_big', 'arp_ignored', 'multicast', 'after_close', 'no_destination',
  'unsupported_target', 'igw_rejected', 'vpc_service', 'ike_punt_overflow', 'blackhole',
  'nat_source_outside_vpc', 'vgw_source_outside_vpc', 'linklocal_allowance_exceeded',
];
export const DROP_REASON_COUNT = DROP_REASON_LABELS.length;

/** Bytes of struct virtio_net_hdr in front of every frame when vnet headers are on. */
export const VNET_HDR_LEN = 10;

export class PacketBatch {
  /** Max frames per rx batch (the addon's slot count). */
  readonly slots: number;
  /** Bytes per rx slot: a 64 KB GSO super-frame plus its vnet header fits. */
  readonly slotSize: number;
  /** Extra tx space for frames the router generates (ARP replies, ICMP errors). */
  readonly scratchSlots: number;
  readonly scratchSize: number;
  readonly arenaBuffer: ArrayBuffer;
  readonly arena: Buffer;

  // rx descriptors, written by the addon
  readonly rxPort: Uint16Array;
  readonly rxOff: Uint32Array;
  readonly rxLen: Uint32Array;
  count = 0;

  // tx descriptors, written by stages, read by the addon
  readonly txPort: Uint16Array;
  readonly txOff: Uint32Array;
  readonly txLen: Uint32Array;
  txCount = 0;
  /** Next free scratch slot in this batch. */
  scratchUsed = 0;

  /**
   * scratchSlots: frames the router may generate per batch. Tunnel traffic
   * needs many: a 64 KB super-frame becomes ~46 encrypted packets.
   */
  constructor(slots: number, slotSize = 65_664, scratchSlots = Math.max(512, slots * 48), scratchSize = 2048) {
    this.slots = slots;
    this.slotSize = slotSize;
    this.scratchSlots = scratchSlots;
    this.scratchSize = scratchSize;
    this.arenaBuffer = new ArrayBuffer(slots * slotSize + scratchSlots * scratchSize);
    this.arena = Buffer.from(this.arenaBuffer);
    this.rxPort = new Uint16Array(slots);
    this.rxOff = new Uint32Array(slots);
    this.rxLen = new Uint32Array(slots);
    const txMax = slots + scratchSlots;
    this.txPort = new Uint16Array(txMax);
    this.txOff = new Uint32Array(txMax);
    this.txLen = new Uint32Array(txMax);
  }

  /** Queues bytes [off, off+len) of the arena for transmission on a port. */
  queueTx(port: number, off: number, len: number): void {
    const n = this.txCount;
    if (n >= this.txPort.length) return;
    this.txPort[n] = port;
    this.txOff[n] = off;
    this.txLen[n] = len;
    this.txCount = n + 1;
  }

  /** Offset of a free scratch slot for a generated frame, or -1 when all are taken this batch. */
  takeScratch(): number {
    if (this.scratchUsed >= this.scratchSlots) return -1;
    return this.slots * this.slotSize + this.scratchUsed++ * this.scratchSize;
  }

  reset(): void {
    this.count = 0;
    this.txCount = 0;
    this.scratchUsed = 0;
  }
}
