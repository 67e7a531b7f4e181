import { describe, expect, it } from 'vitest';
import { IkeInitiator, IkeResponder } from '../../../src/ike/session.js';
import type { IkeSessionConfig } from '../../../src/ike/config.js';
import { mirrored, Pair, seededRandom } from './harness.js';

const PSK = new Uint8Array(Buffer.from('pv-interop-psk-0123456789'));

export function pskConfigs(over: Partial<IkeSessionConfig> = {}, overB: Partial<IkeSessionConfig> = {}): [IkeSessionConfig, IkeSessionConfig] {
  const a: IkeSessionConfig = {
    name: 'to-aws', localAddr: '198.51.100.2', peerAddr: '198.51.100.1', auth: { kind: 'psk', psk: PSK },
    ikeProposals: ['aes256gcm16-prfsha256-ecp256'], espProposals: ['aes256gcm16-ecp256'],
    localTs: ['198.19.0.0/16'], remoteTs: ['198.18.0.0/16'], random: seededRandom(1), ...over,
  };
  const b: IkeSessionConfig = {
    name: 'vgw', localAddr: '198.51.100.1', peerAddr: '198.51.100.2', auth: { kind: 'psk', psk: PSK },
    ikeProposals: ['aes256gcm16-prfsha256-ecp256-modp2048', 'aes256-sha256-ecp256-modp2048'],
    espProposals: ['aes256gcm16-ecp256-modp2048', 'aes256-sha256-ecp256-modp2048'],
    localTs: ['198.18.0.0/16'], remoteTs: ['198.19.0.0/16'], random: seededRandom(2), ...overB,
  };
  return [a, b];
}

describe('IKE initiator <-> responder (PSK, in process)', () => {
  it('establishes IKE SA + CHILD_SA with mirrored keys, on UDP 4500 after NAT-D', () => {
    const [ca, cb] = pskConfigs();
    const p = new Pair(new IkeInitiator(ca), new IkeResponder(cb));
    p.start();
    expect(p.a.tunnelState).toBe('up');
    expect(p.b.tunnelState).toBe('up');
    const [sa] = [...p.installed.a.values()];
    const [sb] = [...p.installed.b.values()];
    expect(sa).toBeDefined();
    expect(mirrored(sa, sb)).toBe(true);
    expect(sa.algorithm).toBe('aes256gcm16');
    expect(sa.encKeyIn.length).toBe(32);
    expect(sa.saltIn.length).toBe(4);
    expect(sa.encap).toBe(true);
    expect(sa.peer.port).toBe(4500);
    // IKE_SA_INIT on 500, IKE_AUTH on 4500 with the non-ESP marker
    expect(p.sent[0].dst.port).toBe(500);
    expect(p.sent[2].dst.port).toBe(4500);
    expect(Array.from(p.sent[2].bytes.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    expect(p.a.errors.reduce((x, y) => x + y, 0)).toBe(0);
    expect(p.b.errors.reduce((x, y) => x + y, 0)).toBe(0);
  });
});
