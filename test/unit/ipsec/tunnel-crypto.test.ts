/**
 * EspTunnelCrypto against the VPN path's interface (src/vpn): it must be
 * assignable to BoundTunnelCrypto, follow the data plane's calling convention
 * (decrypt in place, the inner packet written 28 bytes before the ESP packet
 * where the outer IPv4 + UDP headers were), and interoperate with the first
 * binding in src/vpn/crypto.ts (an independent AES-GCM ESP implementation).
 */
import { describe, expect, it } from 'vitest';
import { EspError } from '../../../src/ipsec/esp.js';
import { loadEspNative } from '../../../src/ipsec/esp-native.js';
import type { EspBackend } from '../../../src/ipsec/sa-table.js';
import { EspTunnelCrypto } from '../../../src/ipsec/tunnel-crypto.js';
import { type BoundTunnelCrypto, createTunnelCrypto } from '../../../src/vpn/crypto.js';
import type { VpnPath } from '../../../src/vpn/vpn-path.js';
import { ipv4Packet, makeChildSa, mirror } from './helpers.js';

const backends: EspBackend[] = loadEspNative() === null ? ['node'] : ['node', 'native'];
const fakePath = { tunConn: new Int32Array(4) } as unknown as VpnPath;

describe.each(backends)('EspTunnelCrypto (%s backend)', (backend) => {
  it('is a BoundTunnelCrypto and works in place like the data plane calls it', () => {
    const mine: BoundTunnelCrypto = new EspTunnelCrypto(4, { backend });
    const peer: BoundTunnelCrypto = new EspTunnelCrypto(4, { backend });
    const child = makeChildSa('aes256gcm16');
    expect(mine.hasOutbound(2)).toBe(false);
    expect(mine.encrypt(2, ipv4Packet(40), 0, 40, Buffer.alloc(200), 0)).toBe(EspError.NoSa);
    mine.install(2, child);
    peer.install(1, mirror(child));
    expect(mine.hasOutbound(2)).toBe(true);
    expect(mine.innerMtu(2)).toBe(1438);
    const arena = Buffer.alloc(4096);
    const inner = ipv4Packet(1000, 4);
    inner.copy(arena, 100);
    const ethOff = 2000;
    const pay = ethOff + 14 + 28;
    const n = mine.encrypt(2, arena, 100, 1000, arena, pay);
    expect(n).toBeGreaterThan(1000);
    const m = peer.decrypt(arena, pay, n, arena, ethOff + 14);
    expect(m).toBe(1000);
    expect(peer.lastTunnel).toBe(1);
    expect(arena.subarray(ethOff + 14, ethOff + 14 + 1000).equals(inner)).toBe(true);
    peer.remove(child.spiOut);
    expect(peer.decrypt(arena, pay, n, arena, ethOff + 14)).toBe(EspError.NoSa);
    expect(peer.lastTunnel).toBe(-1);
  });

  it('interoperates with the first binding (src/vpn/crypto.ts) both ways', () => {
    const mine = new EspTunnelCrypto(4, { backend });
    const theirs = createTunnelCrypto(fakePath);
    const child = makeChildSa('aes256gcm16');
    mine.install(0, child);
    theirs.install(3, mirror(child));
    const out = Buffer.alloc(2048);
    const back = Buffer.alloc(2048);
    for (const len of [20, 21, 22, 23, 500, 1400]) {
      const inner = ipv4Packet(len, len);
      let n = mine.encrypt(0, inner, 0, len, out, 0);
      expect(theirs.decrypt(out, 0, n, back, 0)).toBe(len);
      expect(theirs.lastTunnel).toBe(3);
      expect(back.subarray(0, len).equals(inner)).toBe(true);
      n = theirs.encrypt(3, inner, 0, len, out, 0);
      expect(mine.decrypt(out, 0, n, back, 0)).toBe(len);
      expect(mine.lastTunnel).toBe(0);
      expect(back.subarray(0, len).equals(inner)).toBe(true);
    }
  });
});
