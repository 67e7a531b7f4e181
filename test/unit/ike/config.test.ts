import { describe, expect, it } from 'vitest';
import type { VpnConnection } from '../../../src/control/config-types.js';
import { resolveConfig, sessionConfigFromVpn, vpnAuthFromContract } from '../../../src/ike/config.js';
import { IdType } from '../../../src/ike/constants.js';
import { IkeErrorCode } from '../../../src/ike/errors.js';
import { IkeInitiator, IkeResponder } from '../../../src/ike/index.js';
import { onlyChild, Pair } from './harness.js';

const conn: VpnConnection = {
  name: 'to-aws', role: 'cgw', remoteNetworks: ['198.18.0.0/16'], localNetworks: ['198.19.0.0/16'], splitTunnel: true,
  auth: { kind: 'psk', psk: { env: 'VPN_PSK' } },
  tunnels: [{ peer: '198.51.100.1', insideCidr: '169.254.10.0/30' }, { peer: '198.51.100.9', insideCidr: '169.254.11.0/30' }],
  ike: { proposals: ['aes256gcm16-prfsha256-ecp256'], lifetime: 28800, dpdTimeout: 30 },
  esp: { proposals: ['aes256gcm16-ecp256'], lifetime: 3600 },
};

describe('config contract mapping', () => {
  it('maps a VpnConnection tunnel to a session config with AWS defaults', () => {
    const auth = vpnAuthFromContract(conn.auth, { env: { VPN_PSK: 'Abcdefgh_12345678' }, readFile: () => { throw new Error('no'); } });
    const c = sessionConfigFromVpn(conn, 1, '198.51.100.2', { auth });
    expect(c).toMatchObject({ peerAddr: '198.51.100.9', tunnel: 1, localTs: ['198.19.0.0/16'], remoteTs: ['198.18.0.0/16'], keepUp: true, dpdTimeoutSec: 30 });
    const r = resolveConfig(c, 'initiator');
    expect(r.childLifetimeMs).toBe(3_600_000);
    expect(r.ikeLifetimeMs).toBe(28_800_000);
    expect(r.rekeyMarginMs).toBe(270_000);
    expect(r.dpdTimeoutMs).toBe(30_000);
    expect(r.dpdAction).toBe('clear');
    expect(r.replayWindow).toBe(1024);
    expect(r.localId).toEqual({ idType: IdType.IPV4_ADDR, data: new Uint8Array([198, 51, 100, 2]) });
    expect(r.remoteId?.idType).toBe(IdType.IPV4_ADDR);
    const full = sessionConfigFromVpn({ ...conn, splitTunnel: false }, 0, '198.51.100.2', { auth });
    expect(full.remoteTs).toEqual(['0.0.0.0/0']);
  });

  it('reads a PSK from a file (newline trimmed) and refuses missing secrets without echoing them', () => {
    const a = vpnAuthFromContract({ kind: 'psk', psk: { file: '/x' } }, { env: {}, readFile: () => 'Secret_psk_0001\n' });
    expect(a.kind === 'psk' && Buffer.from(a.psk).toString()).toBe('Secret_psk_0001');
    expect(() => vpnAuthFromContract(conn.auth, { env: {}, readFile: () => '' })).toThrowError(/VPN_PSK is not set/);
    expect(() => vpnAuthFromContract(conn.auth, { env: { VPN_PSK: 'short' }, readFile: () => '' }))
      .toThrowError(expect.objectContaining({ code: IkeErrorCode.Config, message: expect.not.stringContaining('short') }));
    expect(() => vpnAuthFromContract({ kind: 'certificate', cert: '/c', key: '/k', ca: '/a' }, { env: {}, readFile: () => { throw new Error('ENOENT'); } }))
      .toThrowError(/certificate files: ENOENT/);
  });

  it('refuses bad proposals, addresses and selectors at construction', () => {
    const auth = { kind: 'psk' as const, psk: new Uint8Array(Buffer.from('0123456789')) };
    const base = sessionConfigFromVpn(conn, 0, '198.51.100.2', { auth });
    expect(() => new IkeInitiator({ ...base, ikeProposals: ['aes256gcm16-foo-ecp256'] })).toThrowError(/unknown algorithm 'foo'/);
    expect(() => new IkeInitiator({ ...base, localAddr: '198.51.100' })).toThrowError(expect.objectContaining({ code: IkeErrorCode.Config }));
    expect(() => new IkeInitiator({ ...base, remoteTs: ['fd00::/8'] })).toThrowError(expect.objectContaining({ code: IkeErrorCode.Config }));
  });

  it('two sessions built from the contract (cgw and vgw side) interoperate', () => {
    const auth = { kind: 'psk' as const, psk: new Uint8Array(Buffer.from('0123456789abc')) };
    const cgw = sessionConfigFromVpn(conn, 0, '198.51.100.2', { auth });
    const vgwConn: VpnConnection = { ...conn, role: 'vgw', localNetworks: conn.remoteNetworks, remoteNetworks: conn.localNetworks, tunnels: [{ peer: '198.51.100.2', insideCidr: '169.254.10.0/30' }] };
    const vgw = sessionConfigFromVpn(vgwConn, 0, '198.51.100.1', { auth });
    const p = new Pair(new IkeInitiator(cgw), new IkeResponder(vgw));
    p.start();
    onlyChild(p);
  });
});
