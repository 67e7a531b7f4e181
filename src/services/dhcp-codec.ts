/**
 * DHCP messages (RFC 2131 BOOTP layout, RFC 2132 options): the only owner of
 * this wire format. parseDhcp reads a client's message; buildDhcpReply
 * writes a server's.
 */

export const DHCP_MAGIC = 0x63825363;
const BOOTREQUEST = 1, BOOTREPLY = 2;
const FIXED_LEN = 236;
/** The smallest BOOTP datagram (RFC 951 / 1542): replies are padded to it. */
const MIN_REPLY = 300;

export const DhcpType = { Discover: 1, Offer: 2, Request: 3, Decline: 4, Ack: 5, Nak: 6, Release: 7, Inform: 8 } as const;
export type DhcpType = (typeof DhcpType)[keyof typeof DhcpType];

export const DhcpOpt = {
  Pad: 0, SubnetMask: 1, Router: 3, Dns: 6, Hostname: 12, DomainName: 15, RequestedIp: 50, LeaseTime: 51,
  MessageType: 53, ServerId: 54, RenewalTime: 58, RebindingTime: 59, End: 255,
} as const;

export interface DhcpMessage {
  readonly type: number;
  readonly xid: number;
  /** The broadcast bit (0x8000) and the rest as sent. */
  readonly flags: number;
  readonly ciaddr: number;
  readonly giaddr: number;
  /** The client's hardware address (6 bytes for Ethernet). */
  readonly chaddr: Uint8Array;
  readonly requestedIp?: number;
  readonly serverId?: number;
}

export type DhcpRefusal = 'short' | 'not-request' | 'not-ethernet' | 'no-cookie' | 'bad-option' | 'no-type';

const u32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** A client's DHCP message, or why it is not one. Option overload (sname/file) is not honoured. */
export function parseDhcp(b: Uint8Array): DhcpMessage | DhcpRefusal {
  if (b.length < FIXED_LEN + 4) return 'short';
  if (b[0] !== BOOTREQUEST) return 'not-request';
  if (b[1] !== 1 || b[2] !== 6) return 'not-ethernet';
  if (u32(b, FIXED_LEN) !== DHCP_MAGIC) return 'no-cookie';
  let type = 0;
  let requestedIp: number | undefined;
  let serverId: number | undefined;
  let o = FIXED_LEN + 4;
  // Every option advances o by at least one byte: the loop ends.
  while (o < b.length) {
    const code = b[o];
    if (code === DhcpOpt.End) break;
    if (code === DhcpOpt.Pad) {
      o++;
      continue;
    }
    if (o + 1 >= b.length) return 'bad-option';
    const len = b[o + 1];
    const v = o + 2;
    if (v + len > b.length) return 'bad-option';
    if (code === DhcpOpt.MessageType && len === 1) type = b[v];
    else if (code === DhcpOpt.RequestedIp && len === 4) requestedIp = u32(b, v);
    else if (code === DhcpOpt.ServerId && len === 4) serverId = u32(b, v);
    o = v + len;
  }
  if (type < DhcpType.Discover || type > DhcpType.Inform) return 'no-type';
  return {
    type, xid: u32(b, 4), flags: (b[10] << 8) | b[11], ciaddr: u32(b, 12), giaddr: u32(b, 24), chaddr: b.slice(28, 34),
    ...(requestedIp !== undefined ? { requestedIp } : {}), ...(serverId !== undefined ? { serverId } : {}),
  };
}

export interface DhcpReply {
  readonly type: number;
  readonly xid: number;
  readonly flags: number;
  readonly ciaddr: number;
  /** 0 for NAK and for an ACK to INFORM. */
  readonly yiaddr: number;
  readonly chaddr: Uint8Array;
  readonly serverId: number;
  /** Absent on NAK. */
  readonly subnetMask?: number;
  readonly router?: number;
  readonly dns?: readonly number[];
  readonly domainName?: string;
  /** Seconds; absent for INFORM and NAK. */
  readonly leaseTime?: number;
}

/** The reply's BOOTP bytes, options in RFC 2132 form, padded to 300 bytes. */
export function buildDhcpReply(r: DhcpReply): Uint8Array {
  const domain = r.domainName !== undefined ? Buffer.from(r.domainName, 'ascii').subarray(0, 255) : undefined;
  const dns = (r.dns ?? []).slice(0, 63);
  const size = Math.max(MIN_REPLY, FIXED_LEN + 4 + 3 + 6 + 6 + 6 + (dns.length > 0 ? 2 + 4 * dns.length : 0) + (domain ? 2 + domain.length : 0) + 18 + 1);
  const b = new Uint8Array(size);
  b[0] = BOOTREPLY;
  b[1] = 1;
  b[2] = 6;
  putU32(b, 4, r.xid);
  b[10] = (r.flags >>> 8) & 0xff;
  b[11] = r.flags & 0xff;
  putU32(b, 12, r.ciaddr);
  putU32(b, 16, r.yiaddr);
  putU32(b, 20, r.serverId); // siaddr: the server
  b.set(r.chaddr.subarray(0, 6), 28);
  putU32(b, FIXED_LEN, DHCP_MAGIC);
  let o = FIXED_LEN + 4;
  const opt = (code: number, bytes: ArrayLike<number>): void => {
    b[o++] = code;
    b[o++] = bytes.length;
    for (let i = 0; i < bytes.length; i++) b[o++] = bytes[i];
  };
  const ip = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  opt(DhcpOpt.MessageType, [r.type]);
  opt(DhcpOpt.ServerId, ip(r.serverId));
  if (r.leaseTime !== undefined) {
    opt(DhcpOpt.LeaseTime, ip(r.leaseTime));
    opt(DhcpOpt.RenewalTime, ip(Math.floor(r.leaseTime / 2)));
    opt(DhcpOpt.RebindingTime, ip(Math.floor((r.leaseTime * 7) / 8)));
  }
  if (r.subnetMask !== undefined) opt(DhcpOpt.SubnetMask, ip(r.subnetMask));
  if (r.router !== undefined) opt(DhcpOpt.Router, ip(r.router));
  if (dns.length > 0) opt(DhcpOpt.Dns, dns.flatMap(ip));
  if (domain !== undefined) opt(DhcpOpt.DomainName, domain);
  b[o] = DhcpOpt.End;
  return b;
}
