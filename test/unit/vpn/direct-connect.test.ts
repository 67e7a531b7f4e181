/**
 * The Direct Connect stand-in (src/vpn/direct-connect.ts): liveness (the
 * peer's ARP within the last 3 s), the networks behind the link, the L2-only
 * rewrite of what crosses it and its counters, which frames are ours, ARP on
 * the link (answers for our address, learns the peer's sender MAC) and the
 * liveness probe. Real frames in a real batch arena, at offsets other than 0.
 */
import { describe, expect, it } from 'vitest';
import { DirectConnect, DxCounter, DX_LIVENESS_MS } from '../../../src/vpn/direct-connect.js';
import { DropReason, PacketBatch } from '../../../src/pipeline/batch.js';
import { Packet } from '../../../src/pipeline/packet.js';
import { Ports } from '../../../src/pipeline/ports.js';
import { Counters } from '../../../src/pipeline/counters.js';
import { arpReply, arpRequest, ethIpv4Udp } from '../../helpers/frames.js';
import { formatMac, ipToU32 } from '../../../src/wire/addr.js';

const OURS = '198.18.250.1', PEER_IP = '198.18.250.2';
const OUR_MAC = [0x02, 0x64, 0x78, 0, 0, 1], PEER = '02:00:00:00:00:99', BRIDGE = '02:00:00:00:00:77';
const AT = 300; // where frames sit in the arena

function link(port = 0, vnet = false): { dx: DirectConnect; b: PacketBatch } {
  const ports = new Ports(new Counters(), 1);
  if (vnet) ports.attach(0, 0, 0, true);
  const dx = new DirectConnect(ports);
  dx.port = port;
  dx.mac.set(OUR_MAC);
  dx.ip = ipToU32(OURS) | 0;
  dx.peer = ipToU32(PEER_IP) | 0;
  dx.netAddr = Uint32Array.of(ipToU32('198.19.0.0'), ipToU32('203.0.113.0'));
  dx.netMask = Uint32Array.of(0xffff0000, 0xffffff00);
  const b = new PacketBatch(4, 2048, 2, 512);
  b.reset();
  return { dx, b };
}

/** `frame` placed at AT in the batch's arena, as a received packet (IPv4 parsed when it is IPv4). */
function received(b: PacketBatch, frame: Buffer, port = 0): Packet {
  b.arena.set(frame, AT);
  const p = new Packet();
  const et = p.begin(b.arena, port, AT, frame.length, false);
  if (et === 0x0800) expect(p.parseIpv4(AT + frame.length)).toBe(DropReason.None);
  return p;
}

function tx(b: PacketBatch, t: number): Buffer {
  return Buffer.from(b.arena.subarray(b.txOff[t]!, b.txOff[t]! + b.txLen[t]!));
}

describe('Direct Connect: liveness and the networks behind the link', () => {
  it('up only with a port and a sign of life from the peer less than 3 s ago', () => {
    const { dx } = link();
    expect(dx.up(1_000)).toBe(false); // never heard from
    dx.seenMs = 1_000;
    expect(dx.up(1_000)).toBe(true);
    expect(dx.up(1_000 + DX_LIVENESS_MS - 1)).toBe(true);
    expect(dx.up(1_000 + DX_LIVENESS_MS)).toBe(false);
    dx.port = -1;
    expect(dx.up(1_000)).toBe(false);
    dx.port = 0; // port 0 is a port
    expect(dx.up(1_000)).toBe(true);
    expect(DX_LIVENESS_MS).toBe(3000);
  });

  it('covers each network behind the link, first to last address, and nothing else', () => {
    const { dx } = link();
    for (const a of ['198.19.0.0', '198.19.255.255', '203.0.113.0', '203.0.113.255']) expect(dx.covers(ipToU32(a) | 0), a).toBe(true);
    for (const a of ['198.18.255.255', '198.20.0.0', '203.0.112.255', '203.0.114.0', OURS]) expect(dx.covers(ipToU32(a) | 0), a).toBe(false);
    dx.netAddr = new Uint32Array(0);
    dx.netMask = new Uint32Array(0);
    expect(dx.covers(ipToU32('198.19.0.1') | 0)).toBe(false);
  });
});

describe('Direct Connect: frames over the link', () => {
  it('send rewrites only the Ethernet addresses, queues the whole frame on the link and counts packets and IP bytes', () => {
    const { dx, b } = link(0);
    dx.peerMac.set([2, 0, 0, 0, 0, 0x99]);
    const f = ethIpv4Udp({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '198.18.1.10', dst: '198.19.0.5', sport: 4000, dport: 53, payload: Buffer.alloc(30, 7) });
    const p = received(b, f);
    expect(dx.send(b, p)).toBe(DropReason.None);
    expect(dx.send(b, p)).toBe(DropReason.None);
    expect(b.txCount).toBe(2);
    expect([b.txPort[0], b.txOff[0], b.txLen[0]]).toEqual([0, AT, f.length]);
    const out = tx(b, 0);
    expect(formatMac(out, 0)).toBe(PEER);
    expect(formatMac(out, 6)).toBe('02:64:78:00:00:01');
    expect(out.subarray(12)).toEqual(f.subarray(12));
    expect([...dx.counters]).toEqual([2, 2 * (f.length - 14), 0, 0]);
  });

  it('a frame is ours only when its destination MAC is ours in all six bytes; received frames are counted in', () => {
    const { dx, b } = link();
    const f = ethIpv4Udp({ srcMac: PEER, dstMac: '02:64:78:00:00:01', src: '198.19.0.5', dst: '198.18.1.10', sport: 53, dport: 4000, payload: Buffer.alloc(10) });
    expect(dx.forUs(received(b, f))).toBe(true);
    for (const at of [0, 5]) {
      const g = Buffer.from(f);
      g[at] ^= 0x01;
      expect(dx.forUs(received(b, g)), `byte ${at}`).toBe(false);
    }
    const p = received(b, f);
    dx.received(p);
    dx.received(p);
    expect(dx.counters[DxCounter.PacketsIn]).toBe(2);
    expect(dx.counters[DxCounter.BytesIn]).toBe(2 * (f.length - 14));
    expect(dx.counters[DxCounter.PacketsOut]).toBe(0);
  });
});

describe('Direct Connect: ARP on the link', () => {
  it('the peer asking for our address: answered in place at its own length, its sender MAC learned, its time kept', () => {
    const { dx, b } = link(0);
    const q = arpRequest({ srcMac: PEER, spa: PEER_IP, tpa: OURS, padTo: 60 });
    q.set([2, 0, 0, 0, 0, 0x77], 6); // Ethernet source: a bridge in front of the peer
    expect(dx.arp(b, received(b, q), 5_000)).toBe(DropReason.None);
    expect(formatMac(dx.peerMac, 0)).toBe(PEER);
    expect(dx.seenMs).toBe(5_000);
    expect([b.txCount, b.txOff[0], b.txLen[0]]).toEqual([1, AT, 60]);
    const r = tx(b, 0);
    expect(r.readUInt16BE(20)).toBe(2);
    expect(formatMac(r, 22)).toBe('02:64:78:00:00:01');
    expect([r.readUInt32BE(28), r.readUInt32BE(38)]).toEqual([ipToU32(OURS), ipToU32(PEER_IP)]);
  });

  it('the peer\'s reply (or a request for another address) is a sign of life but gets no answer', () => {
    const { dx, b } = link(0);
    expect(dx.arp(b, received(b, arpReply({ srcMac: PEER, dstMac: '02:64:78:00:00:01', spa: PEER_IP, tpa: OURS })), 7_000)).toBe(DropReason.ArpIgnored);
    expect(dx.seenMs).toBe(7_000);
    expect(formatMac(dx.peerMac, 0)).toBe(PEER);
    expect(dx.arp(b, received(b, arpRequest({ srcMac: PEER, spa: PEER_IP, tpa: '198.18.250.9' })), 8_000)).toBe(DropReason.ArpIgnored);
    expect(dx.seenMs).toBe(8_000);
    expect(b.txCount).toBe(0);
  });

  it('another host asking for our address is answered, but is no sign of the peer\'s life and changes no MAC', () => {
    const { dx, b } = link(0);
    expect(dx.arp(b, received(b, arpRequest({ srcMac: BRIDGE, spa: '198.18.250.3', tpa: OURS })), 9_000)).toBe(DropReason.None);
    expect(dx.seenMs).toBe(0);
    expect([...dx.peerMac]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(b.txCount).toBe(1);
  });

  it('ARP cut short or for another protocol is malformed, and teaches nothing', () => {
    const { dx, b } = link(0);
    const good = arpRequest({ srcMac: PEER, spa: PEER_IP, tpa: OURS });
    const short = good.subarray(0, 41);
    const ipv6 = Buffer.from(good);
    ipv6.writeUInt16BE(0x86dd, 16);
    for (const f of [short, ipv6]) expect(dx.arp(b, received(b, f), 1_000)).toBe(DropReason.Malformed);
    expect(dx.seenMs).toBe(0);
    // exactly 28 bytes of ARP is enough
    expect(dx.arp(b, received(b, good.subarray(0, 42)), 1_000)).toBe(DropReason.None);
  });

  it('the probe asks for the peer from our address, broadcast from our MAC; no port or no scratch slot: no probe', () => {
    const { dx, b } = link(0);
    dx.probe(b);
    expect(b.txCount).toBe(1);
    const r = tx(b, 0);
    expect(formatMac(r, 0)).toBe('ff:ff:ff:ff:ff:ff');
    expect(formatMac(r, 6)).toBe('02:64:78:00:00:01');
    expect(r.readUInt16BE(12)).toBe(0x0806);
    expect(r.readUInt16BE(20)).toBe(1);
    expect([r.readUInt32BE(28), r.readUInt32BE(38)]).toEqual([ipToU32(OURS), ipToU32(PEER_IP)]);
    dx.probe(b); // the second scratch slot
    expect(b.txCount).toBe(2);
    dx.probe(b); // none left
    expect(b.txCount).toBe(2);
    const none = link(-1);
    none.dx.probe(none.b);
    expect(none.b.txCount).toBe(0);
  });
});

describe('Direct Connect: before it is configured, and behind a virtio-net header', () => {
  it('a link never given a port sends no probe', () => {
    const dx = new DirectConnect(new Ports(new Counters(), 1));
    const b = new PacketBatch(4, 2048, 2, 512);
    b.reset();
    dx.probe(b);
    expect(b.txCount).toBe(0);
    expect(dx.up(1)).toBe(false);
  });

  it('on a port with a virtio-net header the probe is the header (zeroed) and then the ARP request', () => {
    const { dx, b } = link(0, true);
    b.arena.fill(0xee);
    dx.probe(b);
    expect(b.txCount).toBe(1);
    const r = tx(b, 0);
    expect(r.length).toBe(10 + 60);
    expect([...r.subarray(0, 10)]).toEqual(new Array(10).fill(0));
    expect(r.readUInt16BE(10 + 12)).toBe(0x0806);
    expect([r.readUInt32BE(10 + 28), r.readUInt32BE(10 + 38)]).toEqual([ipToU32(OURS), ipToU32(PEER_IP)]);
  });
});
