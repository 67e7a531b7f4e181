/**
 * The native I/O addon on real devices: TAP with IFF_VNET_HDR inside a
 * namespace, AF_PACKET errors, and the uv_poll wake-up.
 */
import { afterAll, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { loadAddon, netnsPath } from '../../src/io/native.js';
import { PacketBatch, VNET_HDR_LEN } from '../../src/pipeline/batch.js';
import { nsx, nsxOk, sleep, uniquePrefix } from '../helpers/netns.js';
import { ethIpv4Icmp } from '../helpers/frames.js';
import { describeWith } from '../helpers/needs.js';

const ns = `${uniquePrefix()}-io`;

function engine(b: PacketBatch) {
  const { IoEngine } = loadAddon();
  return new IoEngine(b.arenaBuffer, b.slotSize, b.slots, b.rxPort, b.rxOff, b.rxLen, b.txPort, b.txOff, b.txLen);
}

describeWith(['root'], 'native I/O addon', () => {
  afterAll(() => {
    try { execFileSync('ip', ['netns', 'del', ns]); } catch { /* not created */ }
  });

  it('reports a missing interface or namespace as an error with errno and the interface name', () => {
    const b = new PacketBatch(4, 4096, 4, 2048);
    const e = engine(b);
    type IoErr = Error & { errno?: number; code?: string; interface?: string };
    const caught = (fn: () => unknown): IoErr | undefined => {
      try { fn(); } catch (x) { return x as IoErr; }
      return undefined;
    };
    let err = caught(() => e.addPacketPort('vtnosuch0', null, true));
    expect(err?.code).toBe('ENODEV');
    expect(err?.interface).toBe('vtnosuch0');
    expect(typeof err?.errno).toBe('number');
    err = caught(() => e.addPacketPort('lo', '/run/netns/vt-no-such-ns', true));
    expect(err?.code).toBe('ENOENT');
    expect(err?.message).toMatch(/vt-no-such-ns/);
    e.close();
  });

  it('moves frames both ways through a TAP device with virtio-net headers, waking the loop by uv_poll', async () => {
    execFileSync('ip', ['netns', 'add', ns]);
    const b = new PacketBatch(8, 4096, 8, 2048);
    const e = engine(b);
    const port = e.addTapPort('vttap0', netnsPath(ns), true);
    expect(e.portInfo(port)?.kind).toBe('tap');
    // The kernel side of the TAP: an address, a static neighbour for our fake peer.
    nsxOk(ns, ['ip', 'link', 'set', 'vttap0', 'address', '02:00:00:00:0a:01']);
    nsxOk(ns, ['ip', 'addr', 'add', '198.18.9.1/24', 'dev', 'vttap0']);
    nsxOk(ns, ['ip', 'link', 'set', 'vttap0', 'up']);
    nsxOk(ns, ['ip', 'neigh', 'replace', '198.18.9.2', 'lladdr', '02:00:00:00:0a:02', 'dev', 'vttap0']);
    nsxOk(ns, ['sysctl', '-qw', 'net.ipv6.conf.vttap0.disable_ipv6=1']);
    let wakes = 0;
    e.start(() => { wakes++; });
    // We send an echo request from the fake peer; the kernel answers it through the TAP.
    const req = ethIpv4Icmp({ srcMac: '02:00:00:00:0a:02', dstMac: '02:00:00:00:0a:01', src: '198.18.9.2', dst: '198.18.9.1', type: 8, code: 0, id: 99, seq: 1, payload: Buffer.from('vpcd') });
    const off = b.takeScratch();
    b.arena.fill(0, off, off + VNET_HDR_LEN);
    b.arena.set(req, off + VNET_HDR_LEN);
    b.queueTx(port, off, req.length + VNET_HDR_LEN);
    expect(e.tx(b.txCount)).toBe(1);
    let got: Buffer | undefined;
    for (let k = 0; k < 100 && !got; k++) {
      await sleep(20);
      const n = e.rx(b.slots);
      for (let i = 0; i < n; i++) {
        const f = b.arena.subarray(b.rxOff[i] + VNET_HDR_LEN, b.rxOff[i] + b.rxLen[i]);
        if (f.readUInt16BE(12) === 0x0800 && f[23] === 1 && f[34] === 0) got = Buffer.from(f);
      }
    }
    expect(got, 'echo reply from the kernel').toBeDefined();
    expect(got!.subarray(26, 30).join('.')).toBe('198.18.9.1');
    expect(got!.readUInt16BE(38)).toBe(99);
    expect(wakes).toBeGreaterThan(0);
    const st = e.stats();
    expect(st[0]!.txFrames).toBe(1);
    expect(st[0]!.rxFrames).toBeGreaterThanOrEqual(1);
    e.stop();
    e.close();
  });
});
