/**
 * Valid seed frames for the data-plane fuzzer, built once with the test frame
 * builders (test/helpers/frames.ts): every kind of traffic the topology in
 * plane.ts routes (instance to instance, to the subnet router, to the
 * internet through the IGW and both NAT gateways, into the VPN, from the
 * internet to public addresses and the NAT gateway's Elastic IP, ARP both
 * sides, ICMP errors with quotes, fragments, IPv4 options, GSO and NEEDS_CSUM
 * virtio headers), plus frames the router must refuse (IPv6, VLAN, runts).
 * ESP and IKE are generated per use (sequence numbers must advance).
 */
import {
  arpReply, arpRequest, ethFrame, ethIpv4Fragment, ethIpv4Icmp, ethIpv4IcmpError, ethIpv4Tcp, ethIpv4Udp, ethIpv6Udp,
  fragmentFrame, ipv4Packet, tcpSegment4, udpDatagram4, withPartialCsum, withVnetHdr,
  TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN,
} from '../helpers/frames.js';
import { formatMac, u32ToIp } from '../../src/wire/addr.js';
import { type Plane, UPLINK_PORT } from './plane.js';

export interface Template {
  readonly port: number;
  /** virtio-net header + Ethernet frame. */
  readonly bytes: Uint8Array;
  readonly name: string;
}

/** Inner IPv4 packets (no Ethernet) that the VPN peer sends through the tunnel. */
export interface InnerTemplate {
  readonly bytes: Uint8Array;
  readonly name: string;
}

export const INTERNET_HOSTS = ['203.0.113.100', '198.51.100.50', '203.0.113.66', '198.51.100.200', '203.0.113.200'];
export const ONPREM_HOSTS = ['198.19.1.1', '198.19.200.7'];

const payload = (n: number, k = 0): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + k) & 0xff;
  return b;
};

/** A TCP/IPv4 GSO super-frame (gso TCPV4, NEEDS_CSUM) as a sender with TSO hands it over. */
function gsoFrame(f: Buffer, mss: number): Buffer {
  const p = withPartialCsum(f);
  p[1] = 1; // GSO_TCPV4
  const l3 = 10 + 14;
  const hdrLen = 14 + ((p[l3]! & 15) * 4) + ((p[l3 + ((p[l3]! & 15) * 4) + 12]! >>> 4) * 4);
  p.writeUInt16LE(hdrLen, 2);
  p.writeUInt16LE(mss, 4);
  return p;
}

export function buildCorpus(plane: Plane): { frames: Template[]; inner: InnerTemplate[] } {
  const out: Template[] = [];
  const add = (port: number, name: string, frame: Uint8Array, vnet = false): void => {
    out.push({ port, name, bytes: vnet ? new Uint8Array(frame) : new Uint8Array(withVnetHdr(frame)) });
  };
  const mac = (b: Uint8Array): string => formatMac(b);
  const up = mac(plane.uplinkMac);
  const ports = plane.ports;
  ports.forEach((p, port) => {
    const srcMac = mac(p.mac), dstMac = mac(p.routerMac), src = u32ToIp(p.ip);
    const base = { srcMac, dstMac, src };
    const dsts = [
      ...ports.filter((_, q) => q !== port).map((q) => u32ToIp(q.ip)),
      ...INTERNET_HOSTS, ...ONPREM_HOSTS, u32ToIp(p.routerIp),
      '198.18.1.5', '198.18.2.5', '198.18.1.255', '198.18.2.2', '198.18.9.9', '203.0.113.10', '203.0.113.5',
    ];
    for (const dst of dsts) {
      const n = `${port}->${dst}`;
      add(port, `${n} tcp syn`, ethIpv4Tcp({ ...base, dst, sport: 40000 + port, dport: 443, flags: TCP_SYN, mss: 1460, df: true }));
      add(port, `${n} tcp ack`, ethIpv4Tcp({ ...base, dst, sport: 40000 + port, dport: 443, flags: TCP_ACK | TCP_PSH, seq: 5, ack: 9, payload: payload(100) }));
      add(port, `${n} udp`, ethIpv4Udp({ ...base, dst, sport: 5000 + port, dport: 1500, payload: payload(40) }));
      add(port, `${n} icmp echo`, ethIpv4Icmp({ ...base, dst, type: 8, id: 77 + port, seq: 1, payload: payload(32) }));
    }
    const inet = INTERNET_HOSTS[port % INTERNET_HOSTS.length]!;
    add(port, `${port} tcp fin`, ethIpv4Tcp({ ...base, dst: inet, sport: 40000 + port, dport: 80, flags: TCP_FIN | TCP_ACK }));
    add(port, `${port} tcp rst`, ethIpv4Tcp({ ...base, dst: inet, sport: 40000 + port, dport: 80, flags: TCP_RST }));
    add(port, `${port} tcp ip-options`, ethIpv4Tcp({ ...base, dst: inet, sport: 40001, dport: 443, flags: TCP_SYN, mss: 1460,
      ipOptions: [7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1] }));
    add(port, `${port} udp no-csum`, ethIpv4Udp({ ...base, dst: inet, sport: 5353, dport: 53, noChecksum: true, payload: payload(20) }));
    add(port, `${port} udp partial`, withPartialCsum(ethIpv4Udp({ ...base, dst: inet, sport: 5354, dport: 53, payload: payload(30) })), true);
    add(port, `${port} tcp partial`, withPartialCsum(ethIpv4Tcp({ ...base, dst: inet, sport: 40002, dport: 443, flags: TCP_ACK, payload: payload(300) })), true);
    add(port, `${port} vpn tcp syn mss`, ethIpv4Tcp({ ...base, dst: '198.19.1.1', sport: 40003, dport: 22, flags: TCP_SYN, mss: 1460, options: [1, 1, 4, 2] }));
    add(port, `${port} vpn udp df big`, ethIpv4Udp({ ...base, dst: '198.19.1.1', sport: 5001, dport: 5001, df: true, payload: payload(1460) }));
    add(port, `${port} vpn partial`, withPartialCsum(ethIpv4Udp({ ...base, dst: '198.19.1.1', sport: 5002, dport: 5002, payload: payload(200) })), true);
    for (const dst of ['198.19.1.1', inet, u32ToIp(ports[(port + 1) % ports.length]!.ip)]) {
      add(port, `${port} gso ${dst}`, gsoFrame(ethIpv4Tcp({ ...base, dst, sport: 40004, dport: 443, flags: TCP_ACK | TCP_PSH, seq: 1, ack: 1, payload: payload(6000) }), 1448), true);
    }
    add(port, `${port} gso tiny mss`, gsoFrame(ethIpv4Tcp({ ...base, dst: '198.19.1.1', sport: 40005, dport: 443, flags: TCP_ACK, payload: payload(3000) }), 8), true);
    add(port, `${port} gso 60k`, gsoFrame(ethIpv4Tcp({ ...base, dst: '198.19.1.1', sport: 40006, dport: 443, flags: TCP_ACK, payload: payload(60_000) }), 1448), true);
    // fragments: UDP 3000 bytes in three pieces, to a neighbour, to the internet and to the VPN
    for (const dst of [u32ToIp(ports[(port + 1) % ports.length]!.ip), inet, '198.19.1.1']) {
      const whole = ethIpv4Udp({ ...base, dst, sport: 6000, dport: 1500, id: 4242 + port, payload: payload(3000) });
      fragmentFrame(whole, 1480).forEach((f, k) => add(port, `${port} frag ${k} ${dst}`, f));
    }
    add(port, `${port} frag tcp`, ethIpv4Fragment({ ...base, dst: inet, proto: 6, id: 99, mf: true, payload: tcpSegment4(src, inet, { sport: 1, dport: 443, flags: TCP_SYN }) }));
    add(port, `${port} later frag`, ethIpv4Fragment({ ...base, dst: inet, proto: 17, id: 98, fragOffset: 1480, payload: payload(100) }));
    // ARP
    add(port, `${port} arp router`, arpRequest({ srcMac, spa: src, tpa: u32ToIp(p.routerIp) }));
    add(port, `${port} arp peer`, arpRequest({ srcMac, spa: src, tpa: u32ToIp(ports[(port + 1) % ports.length]!.ip), padTo: 60 }));
    add(port, `${port} arp reply`, arpReply({ srcMac, dstMac, spa: src, tpa: u32ToIp(p.routerIp) }));
    // an ICMP error the instance sends about a packet it received from the internet
    const recv = ipv4Packet({ src: inet, dst: src, proto: 17, payload: udpDatagram4(inet, src, { sport: 53, dport: 5353, payload: payload(12) }) });
    add(port, `${port} icmp error out`, ethIpv4IcmpError({ ...base, dst: inet, type: 3, code: 3, original: recv, originalIsIp: true }));
    add(port, `${port} icmp error vpn`, ethIpv4IcmpError({ ...base, dst: '198.19.1.1', type: 11, code: 0,
      original: ipv4Packet({ src: '198.19.1.1', dst: src, proto: 6, payload: tcpSegment4('198.19.1.1', src, { sport: 22, dport: 40003, flags: TCP_SYN }) }), originalIsIp: true }));
    // refused kinds
    add(port, `${port} ipv6`, ethIpv6Udp({ srcMac, dstMac, src: 'fd00::1', dst: 'fd00::2', sport: 1, dport: 2, payload: 'x' }));
    add(port, `${port} vlan`, ethIpv4Udp({ ...base, dst: inet, sport: 1, dport: 2, vlan: 5 }));
    add(port, `${port} ethertype`, ethFrame({ srcMac, dstMac, etherType: 0x88cc, payload: payload(46) }));
    add(port, `${port} broadcast`, ethIpv4Udp({ srcMac, dstMac: 'ff:ff:ff:ff:ff:ff', src, dst: '255.255.255.255', sport: 68, dport: 67 }));
  });
  // from the internet
  const hostMac = '02:fe:00:00:00:01';
  for (const src of [...INTERNET_HOSTS, '198.51.100.20', '10.1.2.3']) {
    const base = { srcMac: hostMac, dstMac: up, src };
    for (const dst of ['203.0.113.10', '203.0.113.11', '203.0.113.5', '203.0.113.2', '203.0.113.77', '198.51.100.1']) {
      const n = `inet ${src}->${dst}`;
      add(UPLINK_PORT, `${n} tcp syn`, ethIpv4Tcp({ ...base, dst, sport: 33333, dport: 443, flags: TCP_SYN, mss: 1460 }));
      add(UPLINK_PORT, `${n} tcp ack`, ethIpv4Tcp({ ...base, dst, sport: 443, dport: 1024, flags: TCP_ACK, payload: payload(64) }));
      add(UPLINK_PORT, `${n} udp`, ethIpv4Udp({ ...base, dst, sport: 53, dport: 1500, payload: payload(30) }));
      add(UPLINK_PORT, `${n} icmp echo`, ethIpv4Icmp({ ...base, dst, type: 8, id: 5, seq: 9, payload: payload(16) }));
      const sent = ipv4Packet({ src: dst, dst: src, proto: 6, payload: tcpSegment4(dst, src, { sport: 1024, dport: 443, flags: TCP_SYN }) });
      add(UPLINK_PORT, `${n} icmp error`, ethIpv4IcmpError({ ...base, dst, type: 3, code: 4, rest: 1400, original: sent, originalIsIp: true }));
    }
    add(UPLINK_PORT, `inet ${src} arp`, arpRequest({ srcMac: hostMac, spa: src, tpa: '203.0.113.10' }));
    add(UPLINK_PORT, `inet ${src} arp reply`, arpReply({ srcMac: hostMac, dstMac: up, spa: src, tpa: '203.0.113.2' }));
  }
  add(UPLINK_PORT, 'inet arp uplink ip', arpRequest({ srcMac: hostMac, spa: '203.0.113.100', tpa: '203.0.113.2' }));
  add(UPLINK_PORT, 'inet arp wan', arpRequest({ srcMac: hostMac, spa: '198.51.100.20', tpa: '198.51.100.1' }));
  add(UPLINK_PORT, 'inet not for us', ethIpv4Udp({ srcMac: hostMac, dstMac: '02:fe:00:00:00:02', src: '203.0.113.100', dst: '203.0.113.10', sport: 1, dport: 2 }));
  add(UPLINK_PORT, 'inet frag', ethIpv4Fragment({ srcMac: hostMac, dstMac: up, src: '203.0.113.100', dst: '203.0.113.10', proto: 17, id: 7, mf: true,
    payload: udpDatagram4('203.0.113.100', '203.0.113.10', { sport: 53, dport: 1500, payload: payload(1000) }).subarray(0, 1000) }));
  // IKE and NAT-T control traffic to the WAN addresses (punted, not parsed by the data plane)
  for (const [dst, dport, marker] of [['198.51.100.1', 500, false], ['198.51.100.1', 4500, true], ['198.51.100.9', 4500, true]] as const) {
    const ike = Buffer.concat([marker ? Buffer.alloc(4) : Buffer.alloc(0), payload(8, 1), Buffer.alloc(8), Buffer.from([33, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 28]), payload(60)]);
    add(UPLINK_PORT, `ike ${dst}:${dport}`, ethIpv4Udp({ srcMac: hostMac, dstMac: up, src: '198.51.100.20', dst, sport: dport, dport, payload: ike }));
  }
  add(UPLINK_PORT, 'nat-t keepalive', ethIpv4Udp({ srcMac: hostMac, dstMac: up, src: '198.51.100.20', dst: '198.51.100.1', sport: 4500, dport: 4500, payload: [0xff] }));
  add(UPLINK_PORT, 'esp unknown spi', ethIpv4Udp({ srcMac: hostMac, dstMac: up, src: '198.51.100.20', dst: '198.51.100.1', sport: 4500, dport: 4500,
    payload: Buffer.concat([Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1]), payload(60)]) }));
  // what the VPN peer sends (inner packets)
  const inner: InnerTemplate[] = [];
  for (const src of ONPREM_HOSTS) {
    for (const dst of ['198.18.2.20', '198.18.2.21', '198.18.1.10', '198.18.1.5', '198.18.2.5', '198.18.9.9', '198.19.5.5', '203.0.113.100']) {
      const n = `vpn ${src}->${dst}`;
      inner.push({ name: `${n} tcp syn`, bytes: ipv4Packet({ src, dst, proto: 6, payload: tcpSegment4(src, dst, { sport: 22, dport: 40003, flags: TCP_SYN | TCP_ACK, mss: 1460 }) }) });
      inner.push({ name: `${n} udp`, bytes: ipv4Packet({ src, dst, proto: 17, payload: udpDatagram4(src, dst, { sport: 5001, dport: 5001, payload: payload(100) }) }) });
      inner.push({ name: `${n} icmp`, bytes: ipv4Packet({ src, dst, proto: 1, payload: Buffer.from(ethIpv4Icmp({ src, dst, type: 8, id: 3, seq: 4 }).subarray(34)) }) });
    }
  }
  inner.push({ name: 'vpn spoofed source', bytes: ipv4Packet({ src: '203.0.113.9', dst: '198.18.2.20', proto: 17, payload: udpDatagram4('203.0.113.9', '198.18.2.20', { sport: 1, dport: 2 }) }) });
  return { frames: out, inner };
}
