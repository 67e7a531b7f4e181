/**
 * The NAT gateway on the packet path (aws-semantics §5): what it admits,
 * the source translation (its private address and a port it allocates in
 * 1024-65535 per unique destination) and the reverse translation of the
 * answers, with the gateway's RST for a TCP segment whose session idled out.
 * Its security stages (the NACL legs of its subnet) are in the wiring
 * (pipeline/legs.ts); the session state is NatGatewayState (nat-gateway.ts).
 *
 * - TCP, UDP and ICMP only. Fragmented TCP and ICMP are dropped; fragmented
 *   UDP is forwarded: the first fragment (which carries the ports) is
 *   translated with its session, later fragments follow it (same source,
 *   destination and IP id), outbound and inbound.
 * - ICMP: queries that carry an identifier (echo, timestamp, information,
 *   address mask) open sessions keyed by it; ICMP errors pass only as the
 *   answer to a session (found from their quote), never open one.
 * - Unsolicited traffic from outside finds no session and is dropped.
 * Allocation-free.
 */
import type { Topology } from '../control/topology.js';
import { NO_FLOW, icmpPairedType } from '../conntrack/conntrack.js';
import { DropReason, type PacketBatch } from '../pipeline/batch.js';
import type { Packet } from '../pipeline/packet.js';
import type { Ports } from '../pipeline/ports.js';
import { takeFrame, vnetLen, writeL2ToInstance, writeTcpRst } from '../pipeline/frames.js';
import { FragCache } from '../lib/frag-cache.js';
import { type NatGatewayState, NatCounter } from './nat-gateway.js';
import { readIcmpQuote, rewriteAddrPort, rewriteIcmpQuote } from './translate.js';

const PROTO_ICMP = 1, PROTO_TCP = 6, PROTO_UDP = 17;
const NO_INSIDE = 0;

/**
 * An ICMP type that opens a NAT session: echo and timestamp requests (RFC
 * 5508 §3.1; information and address-mask requests are obsolete, RFC 6918).
 */
export function isIcmpQuery(type: number): boolean {
  return type === 8 || type === 13;
}

export class NatGatewayPath {
  private readonly ports: Ports;
  /** Later outbound fragments: (gateway address, destination, id, proto) whose first fragment left the gateway. */
  private readonly outFrags = new FragCache();
  /** Later inbound fragments: (remote, gateway address, id, proto) -> the inside address of the first. */
  private readonly inFrags = new FragCache();
  private readonly quote = new Uint32Array(5);
  /** The inside address the last reverse() translated to. */
  inside = 0;
  /** The last translate() opened a new session. */
  // Stryker disable next-line BooleanLiteral: equivalent: translate() sets it before anything reads it
  created = false;

  constructor(ports: Ports) {
    this.ports = ports;
  }

  /** Counts a packet arriving at the gateway from inside (PacketsInFromSource, BytesInFromSource). */
  received(pkt: Packet, nat: NatGatewayState): void {
    nat.counters[NatCounter.PacketsInFromSource]++;
    nat.counters[NatCounter.BytesInFromSource] += pkt.l3Len;
  }

  /**
   * The gateway's own checks after its subnet admitted the packet: TCP, UDP
   * and ICMP only; a source inside the VPC (NGW_REQUIRES_SOURCE_IN_VPC); ICMP
   * queries only (errors never open a session); no TCP/ICMP fragments.
   */
  admits(pkt: Packet, nat: NatGatewayState, topo: Topology): number {
    const proto = pkt.proto;
    const c = nat.counters;
    let r: number = DropReason.None;
    if (proto !== PROTO_TCP && proto !== PROTO_UDP && proto !== PROTO_ICMP) r = DropReason.NatUnsupportedProto;
    else if (((pkt.src & topo.vpcMask) >>> 0) !== topo.vpcNet) r = DropReason.NatSourceOutsideVpc;
    else if (pkt.isFragment() && proto !== PROTO_UDP) r = DropReason.Fragment;
    else if (proto === PROTO_ICMP && !isIcmpQuery(pkt.buf[pkt.l4Off])) r = DropReason.NatUnsupportedProto;
    if (r !== DropReason.None) c[NatCounter.PacketsDropped]++;
    return r;
  }

  /**
   * Source translation of an admitted inside packet: finds or opens its
   * session (a later fragment follows its first), rewrites the source to the
   * gateway's address and port. A TCP segment with no session that is not a
   * SYN (SYN-ACK included) is answered with a RST to `srcInst` and dropped.
   */
  translate(b: PacketBatch, pkt: Packet, nat: NatGatewayState, topo: Topology, srcInst: number, nowMs: number): number {
    const proto = pkt.proto;
    const c = nat.counters;
    // Stryker disable next-line UnaryOperator: equivalent: it stays -1 only for a later fragment, whose rewrite (no L4 header) never reads the port
    let natPort = -1;
    this.created = false;
    if (pkt.fragOff !== 0) {
      if (!this.outFrags.allowed(nat.ip, pkt.dst, pkt.ipId, proto, nowMs)) {
        c[NatCounter.PacketsDropped]++;
        return DropReason.Fragment;
      }
    } else {
      let ref = nat.lookupInside(pkt.src, pkt.dst, pkt.sport, pkt.dport, proto);
      if (ref === NO_FLOW) {
        const tcpFlags = pkt.tcpFlags();
        // Only a SYN opens a TCP session; a SYN-ACK is the answer of a connection that did not pass the gateway.
        if (proto === PROTO_TCP && (tcpFlags & 0x12) !== 0x02) {
          // No session for a mid-stream segment (it idled out, or never passed here): the NAT gateway answers with a RST.
          if ((tcpFlags & 0x04) === 0) this.sendRst(b, pkt, topo, srcInst);
          c[NatCounter.PacketsDropped]++;
          return DropReason.AfterClose;
        }
        const f = nat.create(pkt.src, pkt.dst, pkt.sport, pkt.dport, proto, nowMs);
        if (f === -1) {
          c[NatCounter.PacketsDropped]++;
          return DropReason.NatPortExhausted;
        }
        if (f < 0) return DropReason.ConntrackFull;
        ref = f * 2;
        this.created = true;
      }
      nat.touch(ref, nowMs, pkt.l3Len, pkt.tcpFlags());
      natPort = nat.sessions.pool.natPort[ref >>> 1];
      pkt.sport = natPort;
    }
    rewriteAddrPort(pkt.buf, pkt.l3Off, pkt.l4ForRewrite(), proto, 12, nat.ip, natPort, pkt.partialCsum());
    pkt.src = nat.ip;
    return DropReason.None;
  }

  /** A translated packet leaves towards its destination: counted; a first fragment lets its later fragments follow. */
  sent(pkt: Packet, nat: NatGatewayState, nowMs: number): void {
    nat.counters[NatCounter.PacketsOutToDestination]++;
    nat.counters[NatCounter.BytesOutToDestination] += pkt.l3Len;
    if (pkt.moreFrags && pkt.fragOff === 0) this.outFrags.allow(nat.ip, pkt.dst, pkt.ipId, pkt.proto, nowMs);
  }

  /**
   * Reverse translation of a packet for the gateway's address: the answer to
   * a session (an ICMP error through its quote; a later fragment through its
   * first), rewritten to the inside host (this.inside). Unsolicited, or a
   * TCP/ICMP fragment: dropped.
   */
  reverse(pkt: Packet, nat: NatGatewayState, nowMs: number): number {
    const proto = pkt.proto;
    const len = pkt.l3Len;
    const c = nat.counters;
    const buf = pkt.buf;
    if (pkt.fragOff !== 0) {
      // Only UDP first fragments are ever delivered (below), so only UDP later fragments find theirs.
      const inside = this.inFrags.valueOf(pkt.src, pkt.dst, pkt.ipId, proto, nowMs, NO_INSIDE);
      if (inside === NO_INSIDE) {
        // Its first fragment never passed the gateway: an orphan, whatever refused the first.
        c[NatCounter.PacketsDropped]++;
        return DropReason.Fragment;
      }
      rewriteAddrPort(buf, pkt.l3Off, -1, proto, 16, inside,
        // Stryker disable next-line UnaryOperator,BooleanLiteral: equivalent: with no L4 header (l4 -1) the rewrite returns before it reads the port or the partial flag
        -1, false);
      this.arrived(pkt, nat, inside, len);
      return DropReason.None;
    }
    let ref = NO_FLOW;
    let icmpErr = false;
    if (pkt.isIcmpError()) {
      // An error about a packet the gateway sent: the session from the quote (gateway -> destination).
      const q = this.quote;
      if (!readIcmpQuote(buf, pkt.l4Off, pkt.l3End, q) || (q[0] | 0) !== (nat.ip | 0)) {
        c[NatCounter.PacketsDropped]++;
        return DropReason.Unsolicited;
      }
      ref = q[2] === PROTO_ICMP ? nat.lookupOutside(q[1], q[3], quotedIcmpKey(q[4]), PROTO_ICMP) : nat.lookupOutside(q[1], q[4], q[3], q[2]);
      icmpErr = true;
    } else {
      // Sessions are TCP, UDP or ICMP only (admits): any other protocol finds none.
      ref = nat.lookupOutside(pkt.src, pkt.sport, pkt.dport, proto);
    }
    if (ref === NO_FLOW) {
      c[NatCounter.PacketsDropped]++;
      return DropReason.Unsolicited;
    }
    if (pkt.moreFrags && proto !== PROTO_UDP) {
      // The first fragment of a TCP or ICMP answer: the gateway drops fragmented TCP and ICMP both ways.
      c[NatCounter.PacketsDropped]++;
      return DropReason.Fragment;
    }
    const f = ref >>> 1;
    const pool = nat.sessions.pool;
    const insideIp = pool.key[f * 8] | 0;
    const insidePort = pool.key[f * 8 + 2] >>> 16;
    if (icmpErr) {
      rewriteIcmpQuote(buf, pkt.l4Off, pkt.l3End, 12, insideIp, insidePort);
      rewriteAddrPort(buf, pkt.l3Off, pkt.l4Off, proto, 16, insideIp, -1,
        // Stryker disable next-line BooleanLiteral: equivalent: an ICMP message has no pseudo-header checksum, the only use of the partial flag
        false);
    } else {
      nat.touch(ref, nowMs, len, pkt.tcpFlags());
      rewriteAddrPort(buf, pkt.l3Off, pkt.l4ForRewrite(), proto, 16, insideIp, insidePort, pkt.partialCsum());
      if (proto !== PROTO_ICMP) pkt.dport = insidePort;
      else pkt.sport = insidePort;
    }
    this.arrived(pkt, nat, insideIp, len);
    return DropReason.None;
  }

  private arrived(pkt: Packet, nat: NatGatewayState, inside: number, len: number): void {
    pkt.dst = inside;
    this.inside = inside;
    nat.counters[NatCounter.PacketsInFromDestination]++;
    nat.counters[NatCounter.BytesInFromDestination] += len;
  }

  /** A reverse-translated packet reaches the inside host: counted; a first fragment lets its later fragments follow. */
  delivered(pkt: Packet, nat: NatGatewayState, nowMs: number): void {
    nat.counters[NatCounter.PacketsOutToSource]++;
    nat.counters[NatCounter.BytesOutToSource] += pkt.l3Len;
    if (pkt.moreFrags && pkt.fragOff === 0) this.inFrags.allow(pkt.src, nat.ip, pkt.ipId, pkt.proto, nowMs, pkt.dst);
  }

  /**
   * A TCP RST to the inside host for the segment being processed (the NAT
   * gateway's answer to a connection it no longer knows, AWS: after the idle
   * timeout): from the segment's destination to its source, in a scratch slot.
   */
  private sendRst(b: PacketBatch, pkt: Packet, topo: Topology, inst: number): void {
    const port = this.ports.instPort[inst];
    // Stryker disable next-line ConditionalExpression: equivalent mutant (false): the segment came in on this instance's port, so it has one
    if (port < 0) return;
    const s = takeFrame(b, this.ports, port);
    // Stryker disable next-line EqualityOperator: equivalent mutant (s <= 0): a scratch slot starts after the batch's rx slots, never at 0
    if (s < 0) return;
    const e = s + vnetLen(this.ports, port);
    writeL2ToInstance(b.arena, e, topo, this.ports, inst);
    const len = writeTcpRst(b.arena, e + 14, pkt.buf, pkt.l4Off, pkt.l3End, pkt.src, pkt.dst, pkt.sport, pkt.dport);
    this.ports.queue(b, port, s, (e - s) + 14 + len);
  }
}

/**
 * The reply-side session key of a quoted ICMP query the gateway sent: the
 * quote holds the query (type << 8 | code); its session's reply key holds
 * the answer's type (echo 8 -> reply 0), made as NatGatewayState.create
 * makes it (a type with no answer gives type 255, which no session has).
 */
function quotedIcmpKey(typeCode: number): number {
  return ((icmpPairedType(typeCode >>> 8) & 0xff) << 8) | (typeCode & 0xff);
}
