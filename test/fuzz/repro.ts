/**
 * The minimal reproducers of test/fuzz/FINDINGS.md, as code: each builds the
 * fuzz data plane (plane.ts) and sends its frames, one batch after another.
 * A fixed data plane runs each to the end without an exception; an unfixed
 * one throws or never returns, so fuzz.test.ts runs them in a worker
 * thread with a deadline.
 */
import { ethIpv4Udp, withVnetHdr } from '../helpers/frames.js';
import { formatMac } from '../../src/wire/addr.js';
import { buildPlane, type Plane, UPLINK_PORT } from './plane.js';

export interface ReproFrame {
  port: number;
  bytes: Uint8Array;
}

/** Each reproducer: batches of frames (each batch at most 64 frames). */
export const REPROS: Record<string, (p: Plane) => ReproFrame[][]> = {
  /**
   * An instance with a public IP sends one UDP datagram to each of 2049
   * internet addresses; the uplink's neighbour table (2048 slots, never
   * evicted) fills and NeighborTable.slot() probes forever.
   */
  'neighbor-table-hang': (p) => {
    const web1 = p.ports[0]!;
    const batches: ReproFrame[][] = [];
    for (let k = 0; k < 2100; k++) {
      const dst = `45.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`;
      batches.push([{ port: 0, bytes: withVnetHdr(ethIpv4Udp({ srcMac: formatMac(web1.mac), dstMac: formatMac(web1.routerMac), src: '198.18.1.10', dst, sport: 1000, dport: 53, payload: 'x' })) }]);
    }
    return batches;
  },
  /**
   * iso-1 (198.18.3.4) sends UDP 1000 -> 1500 to web-2's private address;
   * then the internet sends the same datagram with the spoofed source
   * 198.18.3.4 to web-2's public address 203.0.113.11. After the IGW's
   * translation it matches the first flow, whose cached verdict holds an
   * outbound NACL slot, and SecurityStage.hitOut(-1, ...) throws.
   */
  'spoofed-vpc-source-crash': (p) => {
    const iso = p.ports[5]!;
    const a = withVnetHdr(ethIpv4Udp({ srcMac: formatMac(iso.mac), dstMac: formatMac(iso.routerMac), src: '198.18.3.4', dst: '198.18.1.11', sport: 1000, dport: 1500, payload: 'a' }));
    const b = withVnetHdr(ethIpv4Udp({ srcMac: '02:fe:00:00:00:01', dstMac: formatMac(p.uplinkMac), src: '198.18.3.4', dst: '203.0.113.11', sport: 1000, dport: 1500, payload: 'b' }));
    return [[{ port: 5, bytes: a }, { port: UPLINK_PORT, bytes: b }]];
  },
};

/** Runs a reproducer on a fresh data plane; throws what the data plane throws. */
export function runRepro(name: string): { batches: number; tx: number } {
  const make = REPROS[name];
  if (!make) throw new Error(`no reproducer ${name}`);
  const p = buildPlane();
  try {
    const b = p.batch;
    let tx = 0, now = 10_000;
    const batches = make(p);
    for (const frames of batches) {
      b.reset();
      let at = 0;
      frames.forEach((f, i) => {
        b.arena.set(f.bytes, at);
        b.rxPort[i] = f.port;
        b.rxOff[i] = at;
        b.rxLen[i] = f.bytes.length;
        at += b.slotSize;
      });
      b.count = frames.length;
      p.h.dp.processBatch(b, now++);
      tx += b.txCount;
      p.h.dp.punts.length = 0;
    }
    return { batches: batches.length, tx };
  } finally {
    p.close();
  }
}
