/**
 * The uplink's ARP through the router (in memory): the first frame to an
 * internet address waits for an ARP answer and leaves with the answered MAC;
 * a forged, unsolicited ARP reply teaches the router nothing; a flood of
 * packets to many times the table's capacity in distinct internet addresses
 * neither stops the batch loop nor the traffic to a resolved neighbour.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { arpReply, ethIpv4Udp } from '../../helpers/frames.js';
import { PortRole } from '../../../src/pipeline/dataplane.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';
import { formatMac, ipToU32, parseMac, u32ToIp } from '../../../src/wire/addr.js';

const YAML = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: rt-pub }
routeTables:
  rt-pub: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
instances:
  web: { subnet: pub, ip: 198.18.1.10, publicIp: 203.0.113.10 }
internetGateway: {}
`;
const WEB = instanceMac('t', 'web');
const ROUTER = routerMac('t', 'pub');
const UPLINK_PORT = 5;
const UPLINK_MAC = '02:00:00:00:aa:01';
const PEER_MAC = '02:00:00:00:bb:02';

function setup(): Harness {
  const h = new Harness(YAML);
  h.dp.attachPort(UPLINK_PORT, PortRole.Uplink, 0, true);
  h.dp.uplinkPort = UPLINK_PORT;
  h.dp.uplinkMac.set(parseMac(UPLINK_MAC));
  return h;
}
const toInternet = (h: Harness, dst: string, sport = 40_000) => ({
  port: h.port('web'),
  frame: ethIpv4Udp({ srcMac: WEB, dstMac: ROUTER, src: '198.18.1.10', dst, sport, dport: 53, payload: Buffer.alloc(8) }),
});
const isArpRequestFor = (f: Buffer, ip: string): boolean => f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 1 && f.readUInt32BE(38) === ipToU32(ip);

describe('uplink ARP (in memory)', () => {
  it('holds the first frame, asks, and sends it with the answered MAC', () => {
    const h = setup();
    const out = h.run([toInternet(h, '203.0.113.99')]);
    expect(out).toHaveLength(1);
    expect(out[0]!.port).toBe(UPLINK_PORT);
    expect(isArpRequestFor(out[0]!.frame, '203.0.113.99')).toBe(true);
    h.now += 5;
    const released = h.run([{ port: UPLINK_PORT, frame: arpReply({ srcMac: PEER_MAC, dstMac: UPLINK_MAC, spa: '203.0.113.99', tpa: '203.0.113.10' }) }]);
    const udp = released.filter((f) => f.frame.readUInt16BE(12) === 0x0800);
    expect(udp).toHaveLength(1);
    expect(formatMac(udp[0]!.frame, 0)).toBe(PEER_MAC);
    expect(udp[0]!.frame.readUInt32BE(26)).toBe(ipToU32('203.0.113.10')); // public source
    // Resolved: the next frame goes straight out.
    const next = h.run([toInternet(h, '203.0.113.99', 40_001)]);
    expect(next).toHaveLength(1);
    expect(formatMac(next[0]!.frame, 0)).toBe(PEER_MAC);
  });

  it('ignores a forged ARP reply for an address it never asked for', () => {
    const h = setup();
    const unsolicited = h.dp.neighbors.unsolicited;
    h.run([{ port: UPLINK_PORT, frame: arpReply({ srcMac: PEER_MAC, dstMac: UPLINK_MAC, spa: '203.0.113.77', tpa: '203.0.113.10' }) }]);
    expect(h.dp.neighbors.unsolicited - unsolicited).toBe(1);
    // Sending there still needs a real resolution: the frame waits, a request goes out.
    const out = h.run([toInternet(h, '203.0.113.77')]);
    expect(out).toHaveLength(1);
    expect(isArpRequestFor(out[0]!.frame, '203.0.113.77')).toBe(true);
  });

  it('packets to 20x the table\'s capacity in distinct internet addresses: the loop goes on, the resolved neighbour keeps working', () => {
    const h = setup();
    h.run([toInternet(h, '198.51.100.1')]);
    h.run([{ port: UPLINK_PORT, frame: arpReply({ srcMac: PEER_MAC, dstMac: UPLINK_MAC, spa: '198.51.100.1', tpa: '203.0.113.10' }) }]);
    const n = 20 * h.dp.neighbors.capacity;
    const noNeighbor = h.drops(DropReason.NoNeighbor);
    const base = ipToU32('198.19.0.0');
    for (let i = 0; i < n; i += 16) {
      const batch = [];
      for (let k = 0; k < 16; k++) batch.push(toInternet(h, u32ToIp(base + i + k)));
      h.run(batch);
      if (i % 1024 === 0) h.now += 1;
    }
    expect(h.dp.neighbors.evicted).toBeGreaterThan(0);
    expect(h.drops(DropReason.NoNeighbor) - noNeighbor).toBeGreaterThan(0); // the 64-frame queue overflowed, counted
    const out = h.run([toInternet(h, '198.51.100.1', 40_002)]);
    expect(out).toHaveLength(1);
    expect(formatMac(out[0]!.frame, 0)).toBe(PEER_MAC);
  });
});
