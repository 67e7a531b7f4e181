/**
 * The Direct Connect stand-in: a plain link on either gateway, preferred
 * over the VPN for the networks behind it while the peer is alive (it
 * answered ARP within the last 3 s). Over the link only L2 is rewritten
 * (offload metadata stays valid on a veth). The security stages of what
 * crosses it are in the wiring (pipeline/legs.ts). Allocation-free.
 */
import { readU16, readU32 } from '../wire/bytes.js';
import { DropReason, type PacketBatch } from '../pipeline/batch.js';
import type { Packet } from '../pipeline/packet.js';
import type { Ports } from '../pipeline/ports.js';
import { arpReplyInPlace, isEthernetIpv4Arp, takeFrame, vnetLen, writeArpRequest } from '../pipeline/frames.js';

/** How long the link counts as up after the peer's last sign of life. */
export const DX_LIVENESS_MS = 3000;

/** Slots of DirectConnect.counters. */
export const DxCounter = { PacketsOut: 0, BytesOut: 1, PacketsIn: 2, BytesIn: 3 } as const;

export class DirectConnect {
  private readonly ports: Ports;
  port = -1;
  readonly mac = new Uint8Array(6);
  ip = 0;
  peer = 0;
  netAddr: Uint32Array = new Uint32Array(0);
  netMask: Uint32Array = new Uint32Array(0);
  readonly peerMac = new Uint8Array(6);
  /** performance.now() of the last sign of life from the peer (an ARP from it); 0: never. */
  seenMs = 0;
  /** DxCounter slots. */
  readonly counters = new Float64Array(4);

  constructor(ports: Ports) {
    this.ports = ports;
  }

  up(nowMs: number): boolean {
    return this.port >= 0 && this.seenMs > 0 && nowMs - this.seenMs < DX_LIVENESS_MS;
  }

  /** One of the networks behind the link. */
  covers(addr: number): boolean {
    const a = this.netAddr, m = this.netMask;
    // Stryker disable next-line EqualityOperator: equivalent (i <= length): netAddr[length] is undefined, which no masked address equals
    for (let i = 0; i < a.length; i++) if (((addr & m[i]) >>> 0) === a[i]) return true;
    return false;
  }

  /** Sends the parsed packet over the link (L2 rewrite only). */
  send(b: PacketBatch, pkt: Packet): number {
    const buf = pkt.buf, e = pkt.ethOff;
    for (let k = 0; k < 6; k++) {
      buf[e + k] = this.peerMac[k];
      buf[e + 6 + k] = this.mac[k];
    }
    this.counters[DxCounter.PacketsOut]++;
    this.counters[DxCounter.BytesOut] += pkt.l3Len;
    this.ports.queue(b, this.port, pkt.start, pkt.end - pkt.start);
    return DropReason.None;
  }

  /** A frame from the link for us (our MAC), before parsing. */
  forUs(pkt: Packet): boolean {
    const buf = pkt.buf, e = pkt.ethOff;
    for (let k = 0; k < 6; k++) if (buf[e + k] !== this.mac[k]) return false;
    return true;
  }

  received(pkt: Packet): void {
    this.counters[DxCounter.PacketsIn]++;
    this.counters[DxCounter.BytesIn] += pkt.l3Len;
  }

  /** ARP on the link: answer for our address, take the peer's ARP as a sign of life and learn its MAC. */
  arp(b: PacketBatch, pkt: Packet, nowMs: number): number {
    const buf = pkt.buf;
    const a = pkt.ethOff + 14;
    if (pkt.end - a < 28 || !isEthernetIpv4Arp(buf, a)) return DropReason.Malformed;
    const op = readU16(buf, a + 6);
    const spa = readU32(buf, a + 14) | 0;
    const tpa = readU32(buf, a + 24) | 0;
    if (spa === this.peer) {
      // Stryker disable next-line EqualityOperator: equivalent (k <= 6): peerMac[6] is past the typed array, a write that is ignored
      for (let k = 0; k < 6; k++) this.peerMac[k] = buf[a + 8 + k];
      this.seenMs = nowMs;
    }
    if (op !== 1 || tpa !== this.ip) return DropReason.ArpIgnored;
    arpReplyInPlace(buf, pkt.ethOff, this.mac, 0);
    this.ports.queue(b, pkt.port, pkt.start, pkt.end - pkt.start);
    return DropReason.None;
  }

  /** The liveness probe: an ARP request for the peer (outside batch processing). */
  probe(b: PacketBatch): void {
    if (this.port < 0) return;
    const s = takeFrame(b, this.ports, this.port);
    // Stryker disable next-line EqualityOperator: equivalent (s <= 0): a scratch slot starts after the batch's rx slots, never at 0
    if (s < 0) return;
    const e = s + vnetLen(this.ports, this.port);
    const len = writeArpRequest(b.arena, e, this.mac, this.ip, this.peer);
    this.ports.queue(b, this.port, s, (e - s) + len);
  }
}
