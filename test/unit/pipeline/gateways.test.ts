/**
 * The internet gateway, the NAT gateway's RST and ICMP-error paths and the
 * VPN tunnel forwarding as stages of the in-process data plane (real frames,
 * the code the daemon runs), not only through the daemon.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Tcp, ethIpv4Udp, ethIpv4IcmpError, ipv4Of, refChecksum, TCP_SYN, TCP_ACK, TCP_RST } from '../../helpers/frames.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { VpnPath } from '../../../src/vpn/vpn-path.js';
import { standInEsp } from '../../helpers/stand-in-esp.js';
import { routerMac, instanceMac } from '../../../src/lab/names.js';

const MAC = (i: string) => instanceMac('t', i);
const R = (s: string) => routerMac('t', s);
const PEER = '02:00:00:00:00:99', UPLINK = '02:76:75:70:6c:6b';

const VPC = (extra = '') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
internetGateway: { name: igw ${extra} }
natGateways:
  nat-a: { subnet: pub, type: public, ip: 198.18.1.5, publicIp: 203.0.113.5 }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: nat-a } ] }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
instances:
  web: { subnet: pub, ip: 198.18.1.10, publicIp: 203.0.113.10, securityGroups: [open] }
  nopub: { subnet: pub, ip: 198.18.1.11, securityGroups: [open] }
  app: { subnet: priv, ip: 198.18.2.10, securityGroups: [open] }
`;
const NET = '203.0.113.100';

describe('internet gateway', () => {
  it('1:1 NAT both ways: the source becomes the public address, the answer is delivered to the private one', () => {
    const h = new Harness(VPC(), { security: true, uplink: true, neighbors: [NET] });
    const out = h.run([{ port: h.port('web'), frame: ethIpv4Udp({ srcMac: MAC('web'), dstMac: R('pub'), src: '198.18.1.10', dst: NET, sport: 5000, dport: 53 }) }]);
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
    const ip = ipv4Of(out[0]!.frame);
    expect(ip.readUInt32BE(12)).toBe(0xcb00710a);
    expect(refChecksum(ip.subarray(0, 20))).toBe(0);
    const back = h.run([{ port: h.uplinkPort, frame: ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: '203.0.113.10', sport: 53, dport: 5000 }) }]);
    expect(back.map((f) => f.port)).toEqual([h.port('web')]);
    expect(ipv4Of(back[0]!.frame).readUInt32BE(16)).toBe(0xc612010a);
  });

  it('no public address: igw_no_public_ip; a private destination: igw_rejected', () => {
    const h = new Harness(VPC(), { security: true, uplink: true, neighbors: [NET] });
    expect(h.run([{ port: h.port('nopub'), frame: ethIpv4Udp({ srcMac: MAC('nopub'), dstMac: R('pub'), src: '198.18.1.11', dst: NET, sport: 1, dport: 2 }) }])).toHaveLength(0);
    expect(h.drops(DropReason.IgwNoPublicIp)).toBe(1);
    expect(h.run([{ port: h.port('web'), frame: ethIpv4Udp({ srcMac: MAC('web'), dstMac: R('pub'), src: '198.18.1.10', dst: '192.168.1.1', sport: 1, dport: 2 }) }])).toHaveLength(0);
    expect(h.drops(DropReason.IgwRejected)).toBe(1);
  });

  it('with uplinkGateway, remote destinations go to the gateway (one ARP request, one neighbour entry)', () => {
    const h = new Harness(VPC(', uplinkIp: 203.0.113.2, uplinkGateway: 203.0.113.1, uplinkCidr: 203.0.113.0/28'), { security: true, uplink: true });
    expect(h.dp.legs.igw.gateway).toBe(0xcb007101 | 0);
    const frames = [1, 2, 3, 4].map((k) => ({ port: h.port('web'), frame: ethIpv4Udp({ srcMac: MAC('web'), dstMac: R('pub'), src: '198.18.1.10', dst: `198.51.100.${k}`, sport: 5000, dport: 53 }) }));
    const out = h.run(frames);
    // One ARP request, for the gateway; the four datagrams wait for its answer.
    const arps = out.filter((f) => f.frame.readUInt16BE(12) === 0x0806);
    expect(arps).toHaveLength(1);
    expect(arps[0]!.frame.readUInt32BE(38)).toBe(0xcb007101);
  });
});

describe('NAT gateway stage', () => {
  it('a segment with no session gets a RST from the destination, seq = its ack', () => {
    const h = new Harness(VPC(), { security: true, uplink: true, neighbors: [NET] });
    const seg = ethIpv4Tcp({ srcMac: MAC('app'), dstMac: R('priv'), src: '198.18.2.10', dst: NET, sport: 40000, dport: 443, flags: TCP_ACK, seq: 100, ack: 777 });
    const out = h.run([{ port: h.port('app'), frame: seg }]);
    expect(h.drops(DropReason.AfterClose)).toBe(1);
    expect(out.map((f) => f.port)).toEqual([h.port('app')]);
    const ip = ipv4Of(out[0]!.frame);
    expect(ip.readUInt32BE(12)).toBe(0xcb007164); // from the destination
    expect(ip.readUInt32BE(16)).toBe(0xc612020a); // to the instance
    expect(ip.readUInt16BE(20)).toBe(443);
    expect(ip.readUInt16BE(22)).toBe(40000);
    expect(ip.readUInt32BE(24)).toBe(777);
    expect(ip[33]! & TCP_RST).toBe(TCP_RST);
  });

  it('a port unreachable for a translated datagram reaches the inside host with its quote translated back', () => {
    const h = new Harness(VPC(), { security: true, uplink: true, neighbors: [NET] });
    const out = h.run([{ port: h.port('app'), frame: ethIpv4Udp({ srcMac: MAC('app'), dstMac: R('priv'), src: '198.18.2.10', dst: NET, sport: 5353, dport: 9 }) }]);
    const sent = out[0]!.frame;
    const err = ethIpv4IcmpError({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: '203.0.113.5', type: 3, code: 3, original: sent });
    const back = h.run([{ port: h.uplinkPort, frame: err }]);
    expect(back.map((f) => f.port)).toEqual([h.port('app')]);
    const ip = ipv4Of(back[0]!.frame);
    expect(ip.readUInt32BE(16)).toBe(0xc612020a);
    const quote = ip.subarray(28);
    expect(quote.readUInt32BE(12)).toBe(0xc612020a); // quoted source: the instance again
    expect(quote.readUInt16BE(20)).toBe(5353);       // its own port
    expect(refChecksum(ip.subarray(20))).toBe(0);
  });

  it('an unsolicited packet to the Elastic IP is dropped and counted', () => {
    const h = new Harness(VPC(), { security: true, uplink: true, neighbors: [NET] });
    expect(h.run([{ port: h.uplinkPort, frame: ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: '203.0.113.5', sport: 53, dport: 40000 }) }])).toHaveLength(0);
    expect(h.drops(DropReason.Unsolicited)).toBe(1);
  });
});

describe('tunnel forwarding', () => {
  const VPN = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  priv: { cidr: 198.18.2.0/24, routeTable: private }
routeTables:
  private: { routes: [ { destination: 198.19.0.0/16, target: vgw } ] }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
instances:
  app: { subnet: priv, ip: 198.18.2.10, securityGroups: [open] }
customerGateway: { name: cgw, asn: 65000, wan: { ip: 198.51.100.2 } }
vpnConnections:
  to-site:
    role: cgw
    remoteNetworks: [198.19.0.0/16]
    localNetworks: [198.18.0.0/16]
    auth: { psk: { env: VPN_PSK } }
    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/30 } ]
`;
  const setup = (mtu: number) => {
    const h = new Harness(VPN, { security: true, uplink: true, neighbors: ['198.51.100.1'] });
    const vpn = new VpnPath(h.cfg);
    const cr = standInEsp(mtu);
    vpn.crypto = cr;
    vpn.tunUp[0] = 1;
    h.dp.vpn = vpn;
    return { h, cr };
  };

  it('an instance packet for the remote network leaves as ESP in UDP 4500 from the WAN address, its SYN MSS clamped', () => {
    const { h, cr } = setup(1400);
    const syn = ethIpv4Tcp({ srcMac: MAC('app'), dstMac: R('priv'), src: '198.18.2.10', dst: '198.19.1.1', sport: 40000, dport: 22, flags: TCP_SYN, seq: 1, ack: 0, options: [2, 4, 0x05, 0xb4] });
    const out = h.run([{ port: h.port('app'), frame: syn }]);
    expect(cr.sealed).toHaveLength(1);
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
    const ip = ipv4Of(out[0]!.frame);
    expect(ip.readUInt32BE(12)).toBe(0xc6336402); // 198.51.100.2
    expect(ip.readUInt32BE(16)).toBe(0xc6336401);
    expect(ip.readUInt16BE(20)).toBe(4500);
    const inner = ip.subarray(28 + 8);
    expect(inner.readUInt16BE(20 + 22)).toBe(1400 - 40); // MSS option value clamped to the tunnel
  });

  it('a packet over the tunnel MTU with DF gets fragmentation-needed back from the subnet router', () => {
    const { h, cr } = setup(600);
    const big = ethIpv4Udp({ srcMac: MAC('app'), dstMac: R('priv'), src: '198.18.2.10', dst: '198.19.1.1', sport: 1, dport: 2, df: true, payload: Buffer.alloc(1000) });
    const out = h.run([{ port: h.port('app'), frame: big }]);
    expect(cr.sealed).toHaveLength(0);
    expect(h.drops(DropReason.TooBig)).toBe(1);
    expect(out.map((f) => f.port)).toEqual([h.port('app')]);
    const ip = ipv4Of(out[0]!.frame);
    expect([ip[20], ip[21], ip.readUInt16BE(26)]).toEqual([3, 4, 600]);
    expect(ip.readUInt32BE(12)).toBe(0xc6120201); // the subnet router .1
  });
});

describe('super-frames into the tunnel', () => {
  const VPN2 = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  priv: { cidr: 198.18.2.0/24, routeTable: private }
routeTables:
  private: { routes: [ { destination: 198.19.0.0/16, target: vgw } ] }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
instances:
  app: { subnet: priv, ip: 198.18.2.10, securityGroups: [open] }
customerGateway: { name: cgw, asn: 65000, wan: { ip: 198.51.100.2 } }
vpnConnections:
  to-site:
    role: cgw
    remoteNetworks: [198.19.0.0/16]
    localNetworks: [198.18.0.0/16]
    auth: { psk: { env: VPN_PSK } }
    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/30 } ]
`;
  const MTU = 1400;
  function run(gsoSize: number, payload: number) {
    const h = new Harness(VPN2, { security: true, uplink: true, neighbors: ['198.51.100.1'], slotSize: 70_000 });
    const vpn = new VpnPath(h.cfg);
    const inner: number[] = [];
    vpn.crypto = {
      lastTunnel: 0,
      encrypt(_t, _b, _o, len, out, outOff) { inner.push(len); out.fill(0, outOff, outOff + 8); return len + 8; },
      decrypt() { return -1; },
      innerMtu() { return MTU; },
      hasOutbound() { return true; },
    };
    vpn.tunUp[0] = 1;
    h.dp.vpn = vpn;
    // TCP with the timestamp option (12 bytes): 32-byte TCP headers.
    const seg = ethIpv4Tcp({ srcMac: MAC('app'), dstMac: R('priv'), src: '198.18.2.10', dst: '198.19.1.1', sport: 40000, dport: 22, flags: TCP_ACK, seq: 1, ack: 1,
      options: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], payload: Buffer.alloc(payload, 0x61) });
    const vnet = Buffer.alloc(10);
    vnet[1] = 1; // GSO_TCPV4
    vnet.writeUInt16LE(gsoSize, 4);
    h.run([{ port: h.port('app'), frame: seg, vnet }]);
    return inner;
  }

  it('segments that carry TCP options still fit the tunnel MTU', () => {
    const inner = run(1448, 8000);
    expect(inner.length).toBeGreaterThan(5);
    expect(Math.max(...inner)).toBeLessThanOrEqual(MTU);
  });

  it('a tiny gso_size does not fan one frame out into thousands of ESP packets', () => {
    const inner = run(8, 8000);
    expect(inner.length).toBeLessThanOrEqual(Math.ceil(8000 / 536));
    expect(Math.max(...inner)).toBeLessThanOrEqual(MTU);
  });
});
