/**
 * UdpDriver over loopback (no privileges): two sessions on 127.0.0.1 and
 * 127.0.0.2 with high ports exchange real datagrams, IKE moves to the NAT-T
 * port with the non-ESP marker, and ESP-looking datagrams on that port are
 * counted, not handed to IKE. Bounded waits only, no timing assertions.
 */
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { IkeInitiator, IkeResponder, type IkeAction } from '../../../src/ike/session.js';
import { UdpDriver } from '../../../src/ike/udp-driver.js';
import { pskConfigs } from './harness.js';

function waitFor(f: () => boolean, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const end = Date.now() + ms;
    const tick = (): void => {
      if (f()) resolve();
      else if (Date.now() > end) reject(new Error(`timeout waiting for ${what}`));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

describe('UdpDriver (loopback)', () => {
  it('brings a tunnel up over real sockets, ports 500/4500 mapped to high ports', async () => {
    const base = 20000 + (process.pid % 20000);
    const [ca, cb] = pskConfigs(
      { localAddr: '127.0.0.2', peerAddr: '127.0.0.1', localIkePort: base, localNattPort: base + 1, peerIkePort: base + 2, peerNattPort: base + 3 },
      { localAddr: '127.0.0.1', peerAddr: '127.0.0.2', localIkePort: base + 2, localNattPort: base + 3, peerIkePort: base, peerNattPort: base + 1 },
    );
    const seen: { a: IkeAction[]; b: IkeAction[] } = { a: [], b: [] };
    const b = new UdpDriver({ session: new IkeResponder(cb), onAction: (x) => seen.b.push(x) });
    const a = new UdpDriver({ session: new IkeInitiator(ca), onAction: (x) => seen.a.push(x) });
    try {
      await b.start();
      await a.start();
      await waitFor(() => a.session.tunnelState === 'up' && b.session.tunnelState === 'up', 10_000, 'tunnel up');
      const sends = seen.a.filter((x) => x.kind === 'send') as Extract<IkeAction, { kind: 'send' }>[];
      expect(sends[0].src.port).toBe(base);
      expect(sends[1].src.port).toBe(base + 1);
      expect(Array.from(sends[1].bytes.subarray(0, 4))).toEqual([0, 0, 0, 0]);
      const sa = a.session.childSas[0];
      expect(sa.peer.port).toBe(base + 3);
      // an ESP packet (non-zero SPI) to the NAT-T port never reaches IKE
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.send(new Uint8Array([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 1, 2, 3]), base + 3, '127.0.0.1', () => r()));
      s.close();
      await waitFor(() => b.espDatagrams === 1, 5000, 'ESP datagram counted');
      expect(b.session.errors.reduce((x, y) => x + y, 0)).toBe(0);
      // a rekey through the driver
      a.invoke((sess, now) => sess.rekeyChild(now));
      await waitFor(() => a.session.stats.childRekeys === 1 && b.session.childSas.length === 1 && a.session.childSas.length === 1, 10_000, 'rekey');
    } finally {
      await a.stop();
      await b.stop();
    }
    expect(seen.b.some((x) => x.kind === 'state' && x.state === 'down')).toBe(true); // a's DELETE reached b
  });
});
