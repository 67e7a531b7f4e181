/** DHCP (services/dhcp-codec.ts, services/dhcp.ts): what an ENI's client is told, and where the answer goes. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/control/config.js';
import { buildDhcpReply, DhcpOpt, DhcpType, parseDhcp } from '../../../src/services/dhcp-codec.js';
import { answerDhcp, DHCP_LEASE_SECONDS } from '../../../src/services/dhcp.js';
import { buildServiceSnapshot } from '../../../src/services/snapshot.js';

const MAC = [2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];

/** A client message as busybox udhcpc sends it. */
function client(type: number, o: { xid?: number; flags?: number; ciaddr?: number; requested?: number; server?: number } = {}): Uint8Array {
  const b = Buffer.alloc(300);
  b[0] = 1; b[1] = 1; b[2] = 6;
  b.writeUInt32BE(o.xid ?? 0x1234abcd, 4);
  b.writeUInt16BE(o.flags ?? 0, 10);
  b.writeUInt32BE(o.ciaddr ?? 0, 12);
  Buffer.from(MAC).copy(b, 28);
  b.writeUInt32BE(0x63825363, 236);
  let p = 240;
  b[p++] = 53; b[p++] = 1; b[p++] = type;
  if (o.requested !== undefined) { b[p++] = 50; b[p++] = 4; b.writeUInt32BE(o.requested, p); p += 4; }
  if (o.server !== undefined) { b[p++] = 54; b[p++] = 4; b.writeUInt32BE(o.server, p); p += 4; }
  b[p] = 255;
  return b;
}

/** Options of a reply, by code. */
function options(b: Uint8Array): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (let o = 240; o < b.length && b[o] !== 255;) {
    if (b[o] === 0) { o++; continue; }
    m.set(b[o]!, Buffer.from(b.subarray(o + 2, o + 2 + b[o + 1]!)));
    o += 2 + b[o + 1]!;
  }
  return m;
}

const ip = (s: string) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);
const CFG = (extra = '', region = '') => parseConfig(`vpc: { name: d, cidr: 198.18.0.0/16${region} }
subnets: { a: { cidr: 198.18.1.0/24 } }
instances: { i: { subnet: a, ip: 198.18.1.10 } }
${extra}`, 'd.yaml');

function ask(msg: Uint8Array, cfg = CFG()) {
  const snap = buildServiceSnapshot(cfg, 1);
  const m = parseDhcp(msg);
  if (typeof m === 'string') throw new Error(m);
  return answerDhcp(m, snap.instances[0]!, snap);
}

describe('DHCP answers', () => {
  it('DISCOVER -> OFFER of the ENI address, mask, router .1, DNS base+2, ec2.internal in us-east-1, lease', () => {
    const a = ask(client(DhcpType.Discover))!;
    expect(a.type).toBe(DhcpType.Offer);
    const b = Buffer.from(a.payload);
    expect(b[0]).toBe(2);
    expect(b.readUInt32BE(4)).toBe(0x1234abcd);
    expect(b.readUInt32BE(16)).toBe(ip('198.18.1.10'));
    expect([...b.subarray(28, 34)]).toEqual(MAC);
    const o = options(b);
    expect(o.get(DhcpOpt.MessageType)![0]).toBe(DhcpType.Offer);
    expect(o.get(DhcpOpt.SubnetMask)!.readUInt32BE(0)).toBe(ip('255.255.255.0'));
    expect(o.get(DhcpOpt.Router)!.readUInt32BE(0)).toBe(ip('198.18.1.1'));
    expect(o.get(DhcpOpt.Dns)!.readUInt32BE(0)).toBe(ip('198.18.0.2'));
    expect(o.get(DhcpOpt.DomainName)!.toString()).toBe('ec2.internal');
    expect(o.get(DhcpOpt.LeaseTime)!.readUInt32BE(0)).toBe(DHCP_LEASE_SECONDS);
    expect(o.get(DhcpOpt.ServerId)!.readUInt32BE(0)).toBe(ip('198.18.1.1'));
    // no broadcast bit, no ciaddr: unicast to the offered address at the client's MAC
    expect(a.l2Broadcast).toBe(false);
    expect(a.dstIp).toBe(ip('198.18.1.10'));
  });

  it('the broadcast bit makes the answer broadcast', () => {
    const a = ask(client(DhcpType.Discover, { flags: 0x8000 }))!;
    expect(a.l2Broadcast).toBe(true);
    expect(a.dstIp).toBe(0xffffffff);
  });

  it('another region: <region>.compute.internal; dhcpOptions override domain and servers (AmazonProvidedDNS = base+2)', () => {
    const o1 = options(ask(client(DhcpType.Discover), CFG('', ', region: eu-west-3'))!.payload);
    expect(o1.get(DhcpOpt.DomainName)!.toString()).toBe('eu-west-3.compute.internal');
    const o2 = options(ask(client(DhcpType.Discover), CFG('dhcpOptions: { domainName: corp.internal, domainNameServers: [198.51.100.53, AmazonProvidedDNS] }'))!.payload);
    expect(o2.get(DhcpOpt.DomainName)!.toString()).toBe('corp.internal');
    const d = o2.get(DhcpOpt.Dns)!;
    expect([d.readUInt32BE(0), d.readUInt32BE(4)]).toEqual([ip('198.51.100.53'), ip('198.18.0.2')]);
  });

  it('REQUEST for the ENI address -> ACK; for another -> NAK (broadcast); for another server -> nothing', () => {
    expect(ask(client(DhcpType.Request, { requested: ip('198.18.1.10'), server: ip('198.18.1.1') }))!.type).toBe(DhcpType.Ack);
    const nak = ask(client(DhcpType.Request, { requested: ip('198.18.1.99') }))!;
    expect(nak.type).toBe(DhcpType.Nak);
    expect(nak.l2Broadcast).toBe(true);
    expect(options(nak.payload).has(DhcpOpt.LeaseTime)).toBe(false);
    expect(ask(client(DhcpType.Request, { requested: ip('198.18.1.10'), server: ip('198.51.100.1') }))).toBeUndefined();
  });

  it('a renewal (ciaddr set) is answered by unicast to ciaddr', () => {
    const a = ask(client(DhcpType.Request, { ciaddr: ip('198.18.1.10') }))!;
    expect(a.type).toBe(DhcpType.Ack);
    expect(a.dstIp).toBe(ip('198.18.1.10'));
    expect(a.l2Broadcast).toBe(false);
  });

  it('INFORM -> ACK with options, no address, no lease; RELEASE and DECLINE -> nothing', () => {
    const a = ask(client(DhcpType.Inform, { ciaddr: ip('198.18.1.10') }))!;
    expect(a.type).toBe(DhcpType.Ack);
    expect(Buffer.from(a.payload).readUInt32BE(16)).toBe(0);
    const o = options(a.payload);
    expect(o.has(DhcpOpt.LeaseTime)).toBe(false);
    expect(o.has(DhcpOpt.Router)).toBe(true);
    expect(ask(client(DhcpType.Release, { ciaddr: ip('198.18.1.10') }))).toBeUndefined();
    expect(ask(client(DhcpType.Decline))).toBeUndefined();
  });
});

describe('DHCP codec refusals', () => {
  it('short, a reply, not Ethernet, no cookie, a truncated option, no message type', () => {
    expect(parseDhcp(new Uint8Array(200))).toBe('short');
    const r = client(DhcpType.Discover); r[0] = 2;
    expect(parseDhcp(r)).toBe('not-request');
    const e = client(DhcpType.Discover); e[1] = 6;
    expect(parseDhcp(e)).toBe('not-ethernet');
    const c = client(DhcpType.Discover); c[236] = 0;
    expect(parseDhcp(c)).toBe('no-cookie');
    const t = Buffer.from(client(DhcpType.Discover)).subarray(0, 243); t[241] = 9;
    expect(parseDhcp(t)).toBe('bad-option');
    const n = client(DhcpType.Discover); n[242] = 0;
    expect(parseDhcp(n)).toBe('no-type');
  });

  it('a reply parses back as what it says (round trip of the fixed fields)', () => {
    const b = buildDhcpReply({ type: DhcpType.Ack, xid: 7, flags: 0, ciaddr: 0, yiaddr: ip('198.18.1.10'), chaddr: new Uint8Array(MAC), serverId: ip('198.18.1.1') });
    expect(b.length).toBeGreaterThanOrEqual(300);
    expect(Buffer.from(b).readUInt32BE(236)).toBe(0x63825363);
  });
});
