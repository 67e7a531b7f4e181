/**
 * VPN forwarding on the WAN side (src/vpn/tunnel-forward.ts), without the
 * rest of the data plane: which addresses are ours, the MSS a connection's
 * active tunnel leaves, and what fromWan() makes of UDP to a WAN address:
 * IKE (port 500, or 4500 with the non-ESP marker) punted to the control
 * plane as a copy, at most MAX_PUNTS_PER_BATCH per batch; NAT keepalives
 * consumed; ESP decrypted in place (the inner packet right behind the
 * Ethernet header, counted on its tunnel, offload metadata cleared); every
 * refusal with its own reason. Real frames; the ESP engine is a stand-in
 * (the real one has its own tests in test/unit/ipsec).
 */
import { describe, expect, it } from 'vitest';
import { MAX_PUNTS_PER_BATCH, TunnelForward } from '../../../src/vpn/tunnel-forward.js';
import { VpnCounter, VpnPath, type TunnelCrypto } from '../../../src/vpn/vpn-path.js';
import type { VpcConfig } from '../../../src/control/config-types.js';
import { InternetGateway } from '../../../src/nat/igw.js';
import { Ports } from '../../../src/pipeline/ports.js';
import { Counters } from '../../../src/pipeline/counters.js';
import { DropReason, PacketBatch, VNET_HDR_LEN } from '../../../src/pipeline/batch.js';
import { Packet } from '../../../src/pipeline/packet.js';
import { EspError } from '../../../src/ipsec/esp.js';
import { TCP_SYN, ethIpv4Tcp, ethIpv4Udp, ipv4Packet, udpDatagram4 } from '../../helpers/frames.js';
import { ipToU32 } from '../../../src/wire/addr.js';

const WAN = '198.51.100.2', WAN2 = '198.51.100.3', PEER = '198.51.100.10';
const ip = (s: string): number => ipToU32(s) | 0;

function vpnPath(): VpnPath {
  return new VpnPath({
    customerGateway: { wan: { ip: WAN } },
    vpnConnections: new Map<string, unknown>([
      ['site', { name: 'site', role: 'cgw', splitTunnel: true, remoteNetworks: ['198.19.0.0/16'], tunnels: [{ peer: PEER }, { peer: '198.51.100.11', local: WAN2 }] }],
      ['other', { name: 'other', role: 'cgw', splitTunnel: true, remoteNetworks: ['198.20.0.0/16'], tunnels: [{ peer: '198.51.100.12' }] }],
    ]),
  } as unknown as VpcConfig);
}

/** A stand-in ESP engine: decrypt() writes `inner` at the output offset, or returns `code`. */
function engine(o: { mtu?: number; inner?: Buffer; code?: number; tunnel?: number } = {}): TunnelCrypto & { calls: number[][] } {
  return {
    calls: [],
    lastTunnel: 0,
    encrypt() { return -1; },
    decrypt(buf, espOff, espLen, out, outOff) {
      this.calls.push([espOff, espLen, outOff]);
      if (o.code !== undefined) return o.code;
      this.lastTunnel = o.tunnel ?? 0;
      out.set(o.inner!, outOff);
      return o.inner!.length;
    },
    innerMtu() { return o.mtu ?? 1438; },
    hasOutbound() { return true; },
  };
}

function forward(vpn: VpnPath | null = vpnPath()): TunnelForward {
  const f = new TunnelForward(new Ports(new Counters(), 1), new InternetGateway(new Ports(new Counters(), 1)));
  f.vpn = vpn;
  return f;
}

/** A UDP datagram from the peer to a WAN address, parsed as the data plane parses it (optionally behind a vnet header). */
function wanPacket(dport: number, payload: Buffer, vnet = false, sport = dport): Packet {
  const frame = ethIpv4Udp({ srcMac: '02:00:00:00:00:99', dstMac: '02:76:75:70:6c:6b', src: PEER, dst: WAN, sport, dport, payload });
  const buf = Buffer.concat([Buffer.alloc(vnet ? VNET_HDR_LEN : 0, 0xaa), frame, Buffer.alloc(64)]);
  const p = new Packet();
  expect(p.begin(buf, 0, 0, buf.length - 64, vnet)).toBe(0x0800);
  expect(p.parseIpv4(buf.length - 64)).toBe(DropReason.None);
  return p;
}

describe('tunnel forwarding: our addresses and the MSS', () => {
  it('isWanAddr: the tunnels\' local addresses (own or the customer gateway\'s); nothing without a VPN', () => {
    const f = forward();
    expect([f.isWanAddr(ip(WAN)), f.isWanAddr(ip(WAN2)), f.isWanAddr(ip(PEER)), f.isWanAddr(ip('198.51.100.4'))]).toEqual([true, true, false, false]);
    expect(forward(null).isWanAddr(ip(WAN))).toBe(false);
  });

  it('mss: the active tunnel\'s inner MTU less 40 bytes of headers; 1400 - 40 when no tunnel is active', () => {
    const vpn = vpnPath();
    const f = forward(vpn);
    expect(f.mss(0)).toBe(1360); // no ESP engine
    vpn.crypto = engine({ mtu: 1418 });
    expect(f.mss(0)).toBe(1360); // no tunnel up
    vpn.tunUp[1] = 1;
    expect(f.mss(0)).toBe(1378);
    expect(f.mss(1)).toBe(1360);
    vpn.tunUp[2] = 1; // slot 2: connection 1's only tunnel
    expect(f.mss(1)).toBe(1378);
    vpn.tunUp[0] = 1; // slot 0 is a tunnel like any other
    vpn.crypto = engine({ mtu: 1300 });
    expect(f.mss(0)).toBe(1260);
  });

  it('a forwarder that has decrypted nothing names no tunnel', () => {
    expect(forward().tunnel).toBe(-1);
  });
});

describe('tunnel forwarding: UDP to a WAN address', () => {
  it('IKE on port 500 is punted as a copy with its addresses and ports; nothing is forwarded', () => {
    const f = forward();
    const ike = Buffer.from(Array.from({ length: 40 }, (_, i) => i + 1));
    const p = wanPacket(500, ike, false, 501);
    expect(f.fromWan(p)).toBe(DropReason.None);
    expect(f.tunnel).toBe(-1);
    expect(f.punts).toHaveLength(1);
    const d = f.punts[0]!;
    expect([d.local, d.localPort, d.from, d.fromPort]).toEqual([ip(WAN), 500, ip(PEER), 501]);
    expect(d.bytes).toEqual(ike);
    p.buf.fill(0); // a copy: the frame's buffer is reused by the next batch
    expect(d.bytes).toEqual(ike);
  });

  it('IKE on port 4500 behind the non-ESP marker is punted whole (marker included)', () => {
    const f = forward();
    const ike = Buffer.concat([Buffer.alloc(4), Buffer.alloc(28, 7)]);
    expect(f.fromWan(wanPacket(4500, ike))).toBe(DropReason.None);
    expect(f.punts.map((d) => [d.localPort, d.bytes.length])).toEqual([[4500, 32]]);
  });

  it(`at most ${MAX_PUNTS_PER_BATCH} datagrams are punted per batch; the next is punt_overflow`, () => {
    const f = forward();
    const p = wanPacket(500, Buffer.alloc(28, 1));
    for (let i = 0; i < MAX_PUNTS_PER_BATCH; i++) expect(f.fromWan(p)).toBe(DropReason.None);
    expect(f.fromWan(p)).toBe(DropReason.PuntOverflow);
    expect(f.punts).toHaveLength(MAX_PUNTS_PER_BATCH);
    expect(MAX_PUNTS_PER_BATCH).toBe(64);
  });

  it('an empty datagram to port 500 is malformed; so is a payload on 4500 that is neither keepalive, IKE nor ESP', () => {
    const f = forward();
    expect(f.fromWan(wanPacket(500, Buffer.alloc(0)))).toBe(DropReason.Malformed);
    expect(f.fromWan(wanPacket(4500, Buffer.from([1, 2, 3])))).toBe(DropReason.Malformed);
    expect(f.fromWan(wanPacket(4500, Buffer.from([0xfe])))).toBe(DropReason.Malformed);
    expect(f.punts).toHaveLength(0);
  });

  it('the non-ESP marker on another port than 4500 is not IKE: not for the router', () => {
    const f = forward();
    expect(f.fromWan(wanPacket(4501, Buffer.concat([Buffer.alloc(4), Buffer.alloc(28, 7)])))).toBe(DropReason.NotForRouter);
    expect(f.punts).toHaveLength(0);
  });

  it('an IKE datagram of up to 65,000 bytes is punted; a larger one is malformed', () => {
    const f = forward();
    expect(f.fromWan(wanPacket(500, Buffer.alloc(65_000, 1)))).toBe(DropReason.None);
    expect(f.fromWan(wanPacket(500, Buffer.alloc(65_001, 1)))).toBe(DropReason.Malformed);
    expect(f.punts.map((d) => d.bytes.length)).toEqual([65_000]);
  });

  it('a NAT keepalive (one 0xFF byte on 4500) is consumed: nothing punted, nothing forwarded', () => {
    const vpn = vpnPath();
    const cr = engine({ inner: Buffer.alloc(20) });
    vpn.crypto = cr;
    const f = forward(vpn);
    expect(f.fromWan(wanPacket(4500, Buffer.from([0xff])))).toBe(DropReason.None);
    expect([f.tunnel, f.punts.length, cr.calls.length]).toEqual([-1, 0, 0]);
  });

  it('another port is not for the router; ESP without an engine has no SA', () => {
    const f = forward();
    expect(f.fromWan(wanPacket(4501, Buffer.alloc(32, 9)))).toBe(DropReason.NotForRouter);
    expect(f.fromWan(wanPacket(4500, Buffer.alloc(32, 9)))).toBe(DropReason.EspNoSa);
  });

  it('ESP refused by the engine gets its reason; a dummy packet is consumed', () => {
    for (const [code, reason] of [[EspError.Auth, DropReason.EspAuth], [EspError.Replay, DropReason.EspReplay], [EspError.Dummy, DropReason.None]] as const) {
      const vpn = vpnPath();
      vpn.crypto = engine({ code });
      const f = forward(vpn);
      expect(f.fromWan(wanPacket(4500, Buffer.alloc(32, 9)))).toBe(reason);
      expect(f.tunnel).toBe(-1);
      expect([...vpn.counters].every((x) => x === 0)).toBe(true);
    }
  });

  it('ESP decrypted: the inner packet behind the Ethernet header, counted on its tunnel, offload metadata cleared', () => {
    const inner = ipv4Packet({ src: '198.19.1.1', dst: '198.18.2.10', proto: 17, payload: udpDatagram4('198.19.1.1', '198.18.2.10', { sport: 53, dport: 4000, payload: Buffer.alloc(11, 5) }) });
    for (const vnet of [false, true]) {
      const vpn = vpnPath();
      const cr = engine({ inner, tunnel: 1 });
      vpn.crypto = cr;
      const f = forward(vpn);
      const esp = Buffer.alloc(inner.length + 40, 0x33);
      const p = wanPacket(4500, esp, vnet);
      Buffer.from(p.buf.buffer, p.buf.byteOffset).writeUInt16BE(0x86dd, p.ethOff + 12); // the EtherType must be written, not assumed
      expect(f.fromWan(p)).toBe(DropReason.None);
      expect(cr.calls).toEqual([[p.l4Off + 8, esp.length, p.ethOff + 14]]);
      expect(f.tunnel).toBe(1);
      expect(f.innerEnd).toBe(p.ethOff + 14 + inner.length);
      expect(Buffer.from(p.buf.buffer, p.buf.byteOffset).readUInt16BE(p.ethOff + 12)).toBe(0x0800);
      expect(p.buf.subarray(p.ethOff + 14, f.innerEnd)).toEqual(inner);
      if (vnet) expect([...p.buf.subarray(0, VNET_HDR_LEN)]).toEqual(new Array(VNET_HDR_LEN).fill(0));
      // the Ethernet header in front of it is untouched
      expect([...p.buf.subarray(p.ethOff, p.ethOff + 12)]).toEqual([2, 0x76, 0x75, 0x70, 0x6c, 0x6b, 2, 0, 0, 0, 0, 0x99]);
      expect(vpn.counters[1 * 4 + VpnCounter.BytesIn]).toBe(inner.length);
      expect(vpn.counters[1 * 4 + VpnCounter.PacketsIn]).toBe(1);
      expect(vpn.counters[0 * 4 + VpnCounter.PacketsIn]).toBe(0);
    }
  });
});

describe('tunnel forwarding: into the tunnel', () => {
  const UPLINK_PEER = '02:00:00:00:00:99';
  /** A data plane's WAN side: the uplink on port 0 with the tunnels' peers resolved; tunnel 1 of `site` up. */
  function outbound(o: { mtu?: number; espExtra?: number; code?: number; scratchSize?: number } = {}) {
    const vpn = vpnPath();
    const sealed: number[][] = [];
    vpn.crypto = {
      lastTunnel: 0,
      encrypt(t, inner, off, len, out, outOff) {
        sealed.push([t, len]);
        if (o.code !== undefined) return o.code;
        out.set(inner.subarray(off, off + len), outOff);
        out.fill(0xe5, outOff + len, outOff + len + (o.espExtra ?? 16));
        return len + (o.espExtra ?? 16);
      },
      decrypt() { return -1; },
      innerMtu() { return o.mtu ?? 1438; },
      hasOutbound() { return true; },
    };
    vpn.tunUp[1] = 1; // tunnel 0 down: the packet takes tunnel 1 (slot 1)
    const igwPorts = new Ports(new Counters(), 1);
    const igw = new InternetGateway(igwPorts);
    igw.port = 0;
    for (const peer of ['198.51.100.10', '198.51.100.11']) {
      igw.neighbors.shouldRequest(ip(peer), 0);
      igw.neighbors.learn(ip(peer), Buffer.from(UPLINK_PEER.split(':').map((x) => parseInt(x, 16))), 0, 0);
    }
    const f = new TunnelForward(igwPorts, igw);
    f.vpn = vpn;
    const b = new PacketBatch(4, 4096, 4, o.scratchSize ?? 2048);
    b.arena.fill(0xff);
    b.reset();
    return { f, vpn, b, sealed };
  }
  function innerPacket(frame: Buffer): Packet {
    const p = new Packet();
    const buf = Buffer.concat([frame, Buffer.alloc(64)]);
    expect(p.begin(buf, 0, 0, frame.length, false)).toBe(0x0800);
    expect(p.parseIpv4(frame.length)).toBe(DropReason.None);
    return p;
  }
  const udpOut = (payload: number, df = false) => innerPacket(ethIpv4Udp({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '198.18.2.10', dst: '198.19.1.1', sport: 4000, dport: 53, payload: Buffer.alloc(payload, 0x61), ...(df ? { df: true } : {}) }));
  const topo = null as unknown as Parameters<TunnelForward['encryptOut']>[2];

  it('ESP in UDP 4500 from the tunnel\'s local address to its peer, on the uplink to the peer\'s MAC, counted on the tunnel', () => {
    const { f, vpn, b, sealed } = outbound();
    const p = udpOut(100);
    expect(f.encryptOut(b, p, topo, 0, -1, 0)).toBe(DropReason.None);
    expect(sealed).toEqual([[1, p.l3Len]]);
    expect(b.txCount).toBe(1);
    const fr = Buffer.from(b.arena.subarray(b.txOff[0]!, b.txOff[0]! + b.txLen[0]!));
    expect(fr.subarray(0, 6)).toEqual(Buffer.from([2, 0, 0, 0, 0, 0x99]));
    expect(fr.readUInt16BE(12)).toBe(0x0800);
    const espLen = p.l3Len + 16;
    expect(fr.length).toBe(14 + 20 + 8 + espLen);
    expect(fr.readUInt16BE(14 + 2)).toBe(28 + espLen);
    expect(fr[14 + 6]! & 0x40).toBe(0); // DF not set on the outer packet
    expect([fr[14 + 9], fr.readUInt32BE(14 + 12), fr.readUInt32BE(14 + 16)]).toEqual([17, ipToU32(WAN2), ipToU32('198.51.100.11')]);
    expect([fr.readUInt16BE(34), fr.readUInt16BE(36), fr.readUInt16BE(38)]).toEqual([4500, 4500, 8 + espLen]);
    expect(fr.subarray(42, 42 + p.l3Len)).toEqual(Buffer.from(p.buf.subarray(p.l3Off, p.l3End)));
    expect([...vpn.counters.subarray(4, 8)]).toEqual([0, p.l3Len, 0, 1]);
    expect([...vpn.counters.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
  });

  it('a TCP SYN\'s MSS is clamped to the tunnel (inner MTU - 40); UDP is left as it is', () => {
    const { f, b, sealed } = outbound({ mtu: 1200 });
    const syn = innerPacket(ethIpv4Tcp({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '198.18.2.10', dst: '198.19.1.1', sport: 40000, dport: 22, flags: TCP_SYN, mss: 1460 }));
    expect(f.encryptOut(b, syn, topo, 0, -1, 0)).toBe(DropReason.None);
    const out = (i: number) => Buffer.from(b.arena.subarray(b.txOff[i]! + 42, b.txOff[i]! + 42 + sealed[i]![1]!));
    expect(out(0).readUInt16BE(20 + 22)).toBe(1160);
    // UDP whose payload reads like a SYN with an MSS option, were it TCP
    const look = Buffer.alloc(60);
    look[4] = 0x60;
    look[5] = 0x02;
    look.set([2, 4, 0x05, 0xb4], 12);
    const udp = innerPacket(ethIpv4Udp({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '198.18.2.10', dst: '198.19.1.1', sport: 4000, dport: 53, payload: look }));
    const u = Buffer.from(udp.buf.subarray(udp.l3Off, udp.l3End));
    expect(f.encryptOut(b, udp, topo, 0, -1, 0)).toBe(DropReason.None);
    expect(out(1)).toEqual(u);
  });

  it('the seal is deferred to the batch\'s one native call when the frame goes straight out; sealed now when it must wait for ARP', () => {
    for (const resolved of [true, false]) {
      const { f, vpn, b } = outbound();
      if (!resolved) vpn.tunPeer[1] = ip('198.51.100.50'); // a peer with no MAC yet
      const calls: string[] = [];
      const cr = vpn.crypto!;
      cr.encrypt = (_t, _i, _o, len) => { calls.push('now'); return len + 16; };
      cr.encryptDeferred = (_t, _i, _o, len, _out, _oo, tag) => { calls.push(`deferred ${tag}`); return len + 16; };
      b.queueTx(0, 0, 60); // a frame already queued in this batch: the tag is the next tx index
      expect(f.encryptOut(b, udpOut(10), topo, 0, -1, 0)).toBe(DropReason.None);
      expect(calls).toEqual([resolved ? 'deferred 1' : 'now']);
    }
  });

  it('no tunnel up: vpn_down; the engine refusing: its reason; no scratch room: tx_error; nothing is sent', () => {
    const down = outbound();
    down.vpn.tunUp[1] = 0;
    expect(down.f.encryptOut(down.b, udpOut(10), topo, 0, -1, 0)).toBe(DropReason.VpnDown);
    const refused = outbound({ code: EspError.NoSa });
    expect(refused.f.encryptOut(refused.b, udpOut(10), topo, 0, -1, 0)).toBe(DropReason.EspNoSa);
    const small = outbound({ scratchSize: 300 });
    expect(small.f.encryptOut(small.b, udpOut(140 - 28), topo, 0, -1, 0)).toBe(DropReason.None); // 140 + 160 fits 300
    expect(small.f.encryptOut(small.b, udpOut(141 - 28), topo, 0, -1, 0)).toBe(DropReason.TxError);
    const full = outbound();
    while (full.b.takeScratch() >= 0); // every scratch slot taken
    expect(full.f.encryptOut(full.b, udpOut(10), topo, 0, -1, 0)).toBe(DropReason.TxError);
    for (const x of [down, refused, full]) expect([x.b.txCount, ...x.vpn.counters].every((v) => v === 0)).toBe(true);
    expect(small.b.txCount).toBe(1);
  });

  it('a packet larger than the tunnel\'s inner MTU is too big (with or without DF, no sender to tell); one of exactly the MTU goes', () => {
    const { f, b } = outbound({ mtu: 200 });
    expect(f.encryptOut(b, udpOut(200 - 28), topo, 0, -1, 0)).toBe(DropReason.None);
    expect(f.encryptOut(b, udpOut(201 - 28), topo, 0, -1, 0)).toBe(DropReason.TooBig);
    expect(f.encryptOut(b, udpOut(201 - 28, true), topo, 0, -1, 0)).toBe(DropReason.TooBig);
    expect(b.txCount).toBe(1);
  });
});
