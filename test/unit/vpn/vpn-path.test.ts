/**
 * The VPN's tables on the packet path (src/vpn/vpn-path.ts): connections and
 * their remote networks (a full tunnel is 0.0.0.0/0; IPv6 networks are not
 * carried), tunnel slots and their addresses (a tunnel's own `local`, else
 * the customer gateway's WAN address), which connection takes a destination
 * (most specific network; on a tie the first connection), what may arrive
 * through a connection, the active tunnel (the first one up with an outbound
 * SA: failover and failback) and the tunnel peers.
 */
import { describe, expect, it } from 'vitest';
import { VpnPath, tunnelLocal, type TunnelCrypto } from '../../../src/vpn/vpn-path.js';
import type { VpcConfig } from '../../../src/control/config-types.js';
import { ipToU32 } from '../../../src/wire/addr.js';

const ip = (s: string): number => ipToU32(s) | 0;

/** The parts of a configuration VpnPath reads. */
function config(withCgw = true): VpcConfig {
  const conn = (name: string, role: 'cgw' | 'vgw', splitTunnel: boolean, remoteNetworks: string[], tunnels: { peer: string; local?: string }[]) =>
    [name, { name, role, splitTunnel, remoteNetworks, tunnels }] as const;
  return {
    customerGateway: withCgw ? { wan: { ip: '198.51.100.2' } } : undefined,
    vpnConnections: new Map<string, unknown>([
      conn('full', 'cgw', false, ['198.19.0.0/16'], [{ peer: '198.51.100.10' }, { peer: '198.51.100.11', local: '198.51.100.3' }]),
      conn('branch', 'vgw', true, ['198.19.4.0/24', '2001:db8::/32', '203.0.113.0/25'], [{ peer: '198.51.100.20' }]),
      conn('lab', 'cgw', true, ['198.19.4.0/24', '198.19.4.128/25'], [{ peer: '198.51.100.30' }, { peer: '198.51.100.31' }]),
    ]),
  } as unknown as VpcConfig;
}

describe('VPN tables from the configuration', () => {
  it('connections, roles, split flags and their networks: a full tunnel is 0.0.0.0/0, IPv6 networks are left out', () => {
    const v = new VpnPath(config());
    expect(v.connNames).toEqual(['full', 'branch', 'lab']);
    expect([...v.connRole]).toEqual([0, 1, 0]);
    expect([...v.connSplit]).toEqual([0, 1, 1]);
    expect([...v.netStart]).toEqual([0, 1, 3]);
    expect([...v.netCount]).toEqual([1, 2, 2]);
    expect([...v.netAddr]).toEqual([0, ipToU32('198.19.4.0'), ipToU32('203.0.113.0'), ipToU32('198.19.4.0'), ipToU32('198.19.4.128')]);
    expect([...v.netMask]).toEqual([0, 0xffffff00, 0xffffff80, 0xffffff00, 0xffffff80]);
  });

  it('tunnel slots per connection, with their peers and local addresses (own, else the CGW WAN address, else none)', () => {
    const v = new VpnPath(config());
    expect([...v.tunStart]).toEqual([0, 2, 3]);
    expect([...v.tunCount]).toEqual([2, 1, 2]);
    expect([...v.tunConn]).toEqual([0, 0, 1, 2, 2]);
    expect([...v.tunIndex]).toEqual([0, 1, 0, 0, 1]);
    expect([...v.tunPeer]).toEqual(['198.51.100.10', '198.51.100.11', '198.51.100.20', '198.51.100.30', '198.51.100.31'].map(ip));
    expect([...v.tunLocal]).toEqual(['198.51.100.2', '198.51.100.3', '198.51.100.2', '198.51.100.2', '198.51.100.2'].map(ip));
    expect([...v.tunUp]).toEqual([0, 0, 0, 0, 0]);
    expect(v.counters.length).toBe(5 * 4);
    expect([...new VpnPath(config(false)).tunLocal]).toEqual([0, ip('198.51.100.3'), 0, 0, 0]);
  });

  it('slotOf: the slot of a connection\'s tunnel; -1 for an unknown connection or a tunnel it does not have', () => {
    const v = new VpnPath(config());
    expect([v.slotOf('full', 0), v.slotOf('full', 1), v.slotOf('branch', 0), v.slotOf('lab', 1)]).toEqual([0, 1, 2, 4]);
    expect([v.slotOf('full', 2), v.slotOf('branch', 1), v.slotOf('lab', -1), v.slotOf('nope', 0)]).toEqual([-1, -1, -1, -1]);
  });
});

describe('VPN routing decisions', () => {
  it('connectionFor: the most specific network wins; on a tie the first connection; `except` is skipped', () => {
    const v = new VpnPath(config());
    expect(v.connectionFor(ip('198.19.4.200'), -1)).toBe(2); // /25 of lab beats /24 of branch and lab, /0 of full
    expect(v.connectionFor(ip('198.19.4.5'), -1)).toBe(1); // /24: branch and lab tie, branch comes first
    expect(v.connectionFor(ip('198.19.4.5'), 1)).toBe(2);
    expect(v.connectionFor(ip('203.0.113.127'), -1)).toBe(1);
    expect(v.connectionFor(ip('203.0.113.128'), -1)).toBe(0); // only the full tunnel's 0.0.0.0/0
    expect(v.connectionFor(ip('203.0.113.128'), 0)).toBe(-1);
    expect(v.connectionFor(ip('198.19.4.200'), 2)).toBe(1);
  });

  it('connectionFor with no connection covering the address is -1', () => {
    const cfg = config();
    (cfg.vpnConnections as Map<string, unknown>).delete('full');
    const v = new VpnPath(cfg);
    expect(v.connectionFor(ip('198.18.0.1'), -1)).toBe(-1);
    expect(v.connectionFor(ip('198.19.4.1'), -1)).toBe(0);
  });

  it('fromRemote: only a connection\'s own networks, first to last address', () => {
    const v = new VpnPath(config());
    for (const a of ['198.19.4.0', '198.19.4.255', '203.0.113.0', '203.0.113.127']) expect(v.fromRemote(1, ip(a)), a).toBe(true);
    for (const a of ['198.19.3.255', '198.19.5.0', '203.0.113.128']) expect(v.fromRemote(1, ip(a)), a).toBe(false);
    expect(v.fromRemote(0, ip('192.0.2.1'))).toBe(true); // the full tunnel: anything
    expect(v.fromRemote(2, ip('203.0.113.1'))).toBe(false);
  });

  it('activeTunnel: the first tunnel up with an outbound SA; it fails over to the next and back; none without the ESP engine', () => {
    const v = new VpnPath(config());
    const outbound = new Set<number>([0, 1, 3, 4]);
    const crypto = { hasOutbound: (t: number) => outbound.has(t) } as unknown as TunnelCrypto;
    v.tunUp.fill(1);
    expect(v.activeTunnel(0)).toBe(-1); // no ESP engine yet
    v.crypto = crypto;
    expect([v.activeTunnel(0), v.activeTunnel(1), v.activeTunnel(2)]).toEqual([0, -1, 3]);
    v.tunUp[0] = 0;
    expect(v.activeTunnel(0)).toBe(1);
    outbound.delete(1);
    expect(v.activeTunnel(0)).toBe(-1);
    v.tunUp[0] = 1;
    expect(v.activeTunnel(0)).toBe(0); // failback
    v.tunUp[3] = 0;
    expect(v.activeTunnel(2)).toBe(4);
    outbound.add(2);
    expect(v.activeTunnel(1)).toBe(2);
  });

  it('isPeer: the tunnels\' peer addresses only', () => {
    const v = new VpnPath(config());
    for (const a of ['198.51.100.10', '198.51.100.11', '198.51.100.20', '198.51.100.31']) expect(v.isPeer(ip(a)), a).toBe(true);
    for (const a of ['198.51.100.2', '198.51.100.3', '198.51.100.32', '198.19.4.1']) expect(v.isPeer(ip(a)), a).toBe(false);
  });
});

describe('VPN routing decisions: networks in no particular order', () => {
  // A /25 first, then a /16 and a /24 that also hold the destination.
  const cfg = {
    customerGateway: { wan: { ip: '198.51.100.2' } },
    vpnConnections: new Map<string, unknown>([
      ['a', { name: 'a', role: 'cgw', splitTunnel: true, remoteNetworks: ['198.19.4.128/25'], tunnels: [{ peer: '198.51.100.10' }] }],
      ['b', { name: 'b', role: 'cgw', splitTunnel: true, remoteNetworks: ['198.19.0.0/16'], tunnels: [{ peer: '198.51.100.11' }] }],
      ['c', { name: 'c', role: 'cgw', splitTunnel: true, remoteNetworks: ['198.19.4.0/24'], tunnels: [{ peer: '198.51.100.12' }] }],
    ]),
  } as unknown as VpcConfig;

  it('a less specific match after the best one changes nothing, whatever comes after it', () => {
    const v = new VpnPath(cfg);
    expect(v.connectionFor(ip('198.19.4.200'), -1)).toBe(0);
    expect(v.connectionFor(ip('198.19.4.100'), -1)).toBe(2);
    expect(v.connectionFor(ip('198.19.9.9'), -1)).toBe(1);
  });

  it('fromRemote does not read the next connection\'s networks', () => {
    const v = new VpnPath(cfg);
    expect(v.fromRemote(0, ip('198.19.9.9'))).toBe(false);
    expect(v.fromRemote(1, ip('198.19.9.9'))).toBe(true);
    expect(v.fromRemote(2, ip('198.19.9.9'))).toBe(false);
  });

  it('tunnelLocal of a tunnel the connection does not have is the customer gateway\'s WAN address', () => {
    const conn = cfg.vpnConnections.get('a')!;
    expect(tunnelLocal(cfg, conn, 0)).toBe('198.51.100.2');
    expect(tunnelLocal(cfg, conn, 3)).toBe('198.51.100.2');
  });
});
