/**
 * Amazon DHCP on every ENI (RFC 2131): the address is the ENI's private IP,
 * whatever the client asks; the server identifier is the subnet's router
 * (.1); options: subnet mask, router, domain name servers (dhcpOptions, with
 * AmazonProvidedDNS as the VPC base + 2), domain name (dhcpOptions or the
 * region's private domain), lease time.
 *
 *   DISCOVER -> OFFER
 *   REQUEST  -> ACK for the ENI's address; NAK for another; nothing when
 *               the client chose another server (server identifier)
 *   INFORM   -> ACK with the options, no address, no lease
 *   RELEASE, DECLINE -> nothing (the address stays the ENI's)
 *
 * Where the reply goes (§4.1): to ciaddr when the client has one, else
 * broadcast when the client set the broadcast bit (or for a NAK), else
 * unicast to the offered address at the client's hardware address.
 */
import { prefixMask } from '../lib/ipv4.js';
import { ipToU32 } from '../wire/addr.js';
import { buildDhcpReply, type DhcpMessage, DhcpType } from './dhcp-codec.js';
import type { ServiceInstance, ServiceSnapshot } from './snapshot.js';

/** Seconds of lease (AWS renews well before; the address never changes while the ENI exists). */
export const DHCP_LEASE_SECONDS = 3600;
const BROADCAST_FLAG = 0x8000;

export interface DhcpAnswer {
  readonly payload: Uint8Array;
  /** IPv4 destination (0xffffffff for broadcast) and whether the Ethernet destination is broadcast. */
  readonly dstIp: number;
  readonly l2Broadcast: boolean;
  /** The client's hardware address (the Ethernet destination when not broadcast). */
  readonly chaddr: Uint8Array;
  /** The server identifier (the subnet's router): the reply's source address. */
  readonly serverIp: number;
  readonly type: number;
}

/** The answer to `m` from the ENI of `inst`, or undefined when the message needs none. */
export function answerDhcp(m: DhcpMessage, inst: ServiceInstance, snap: ServiceSnapshot): DhcpAnswer | undefined {
  const server = ipToU32(inst.router) >>> 0;
  const own = ipToU32(inst.ip) >>> 0;
  let type: number;
  switch (m.type) {
    case DhcpType.Discover:
      type = DhcpType.Offer;
      break;
    case DhcpType.Request: {
      if (m.serverId !== undefined && m.serverId !== server) return undefined;
      const asked = m.requestedIp ?? m.ciaddr;
      type = asked === own ? DhcpType.Ack : DhcpType.Nak;
      break;
    }
    case DhcpType.Inform:
      type = DhcpType.Ack;
      break;
    default:
      return undefined;
  }
  const nak = type === DhcpType.Nak;
  const inform = m.type === DhcpType.Inform;
  const payload = buildDhcpReply({
    type, xid: m.xid, flags: m.flags, ciaddr: inform ? m.ciaddr : 0, yiaddr: nak || inform ? 0 : own, chaddr: m.chaddr, serverId: server,
    ...(nak ? {} : {
      subnetMask: prefixMask(inst.prefixLen) >>> 0,
      router: server,
      dns: snap.dhcpDnsServers.map((d) => ipToU32(d) >>> 0),
      domainName: snap.dhcpDomain,
      ...(inform ? {} : { leaseTime: DHCP_LEASE_SECONDS }),
    }),
  });
  let dstIp: number, l2Broadcast: boolean;
  if (nak) {
    dstIp = 0xffffffff;
    l2Broadcast = true;
  } else if (m.ciaddr !== 0) {
    dstIp = m.ciaddr;
    l2Broadcast = false;
  } else if ((m.flags & BROADCAST_FLAG) !== 0) {
    dstIp = 0xffffffff;
    l2Broadcast = true;
  } else {
    dstIp = own;
    l2Broadcast = false;
  }
  return { payload, dstIp, l2Broadcast, chaddr: m.chaddr, serverIp: server, type };
}
