/**
 * VpnManager (src/vpn/manager.ts) as the daemon drives it: junk datagrams
 * from the internet are rate-limited and counted by reason without a log line
 * each, and a two-phase reload swaps PSKs in for the next negotiation without
 * touching live SAs. The peer is a sans-IO IKE session wired back to back with
 * the manager; time is faked (vitest timers + the manager's clock).
 */
import pino, { type Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { VpcConfig } from '../../../src/control/config-types.js';
import { parseConfig } from '../../../src/control/config.js';
import type { IkeSessionConfig } from '../../../src/ike/config.js';
import { IkeErrorCode } from '../../../src/ike/errors.js';
import { IkeInitiator, IkeResponder, type IkeAction, type IkeSession, type UdpEndpoint } from '../../../src/ike/session.js';
import { ConfigSecretError, IKE_DROP_REASONS, IkeDrop, VpnManager, type VpnHooks } from '../../../src/vpn/manager.js';
import { seededRandom } from './harness.js';

const US = '203.0.113.1';
const PEER = '203.0.113.20';
const OLD_PSK = 'old-secret-0123';
const NEW_PSK = 'new-secret-4567';

function vpcConfig(role: 'cgw' | 'vgw', extra = '', proposals = 'aes256gcm16-prfsha256-ecp256'): VpcConfig {
  const gw = role === 'cgw' ? `customerGateway: { name: cgw, asn: 65000, wan: { ip: ${US} } }` : 'vpnGateway: { name: vgw, asn: 64512 }';
  return parseConfig(`
vpc: { name: t, cidr: ${role === 'cgw' ? '198.19.0.0/16' : '198.18.0.0/16'}, accountId: "123456789012" }
${gw}
vpnConnections:
  site:
    role: ${role}
    remoteNetworks: [${role === 'cgw' ? '198.18.0.0/16' : '198.19.0.0/16'}]
    localNetworks: [${role === 'cgw' ? '198.19.0.0/16' : '198.18.0.0/16'}]
    splitTunnel: true
    auth: { psk: { env: SITE_PSK } }
    tunnels:
      - { peer: ${PEER}, local: ${US}, insideCidr: 169.254.10.0/30 }
    ike:  { proposals: [${proposals}], lifetime: 28800, dpdTimeout: 30 }
    esp:  { proposals: [aes256gcm16-ecp256], lifetime: 3600 }
${extra}
lab: { prefix: t }
`, 't.yaml');
}

/** The remote end: the side of the tunnel the manager is not. */
function peerConfig(role: 'initiator' | 'responder', psk: string, seed: number): IkeSessionConfig {
  return {
    name: 'peer', localAddr: PEER, peerAddr: US, auth: { kind: 'psk', psk: new TextEncoder().encode(psk) },
    ikeProposals: ['aes256gcm16-prfsha256-ecp256'], espProposals: ['aes256gcm16-ecp256'],
    localTs: role === 'responder' ? ['198.18.0.0/16'] : ['198.19.0.0/16'],
    remoteTs: role === 'responder' ? ['198.19.0.0/16'] : ['198.18.0.0/16'],
    random: seededRandom(seed), keepUp: false,
  };
}

interface Rig {
  mgr: VpnManager;
  env: Record<string, string | undefined>;
  lines: Record<string, unknown>[];
  installs: number;
  removals: number;
  /** The peer session datagrams from the manager go to. */
  peer: IkeSession | undefined;
  fromMgr: { dst: UdpEndpoint; src: UdpEndpoint; bytes: Uint8Array }[];
  flush(): void;
  takePeer(actions: readonly IkeAction[]): void;
}

function rig(role: 'cgw' | 'vgw', cfg: VpcConfig = vpcConfig(role)): Rig {
  const lines: Record<string, unknown>[] = [];
  const log: Logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const fromPeer: { dst: UdpEndpoint; src: UdpEndpoint; bytes: Uint8Array }[] = [];
  const r: Rig = {
    mgr: undefined as unknown as VpnManager,
    env: { SITE_PSK: OLD_PSK },
    lines, installs: 0, removals: 0, peer: undefined, fromMgr: [],
    takePeer(actions) {
      for (const a of actions) if (a.kind === 'send') fromPeer.push({ dst: a.dst, src: a.src, bytes: a.bytes });
    },
    flush() {
      for (let i = 0; i < 1000 && (r.fromMgr.length || fromPeer.length); i++) {
        const m = r.fromMgr.shift();
        if (m && r.peer) r.takePeer(r.peer.onDatagram(m.bytes, m.src, Date.now(), m.dst.port));
        const p = fromPeer.shift();
        if (p) r.mgr.onDatagram(p.dst.addr, p.dst.port, p.src, p.bytes);
      }
    },
  };
  const hooks: VpnHooks = {
    send: (src, dst, bytes) => void r.fromMgr.push({ src, dst, bytes }),
    installSa: () => void r.installs++,
    removeSa: () => void r.removals++,
    tunnelState: () => undefined,
  };
  r.mgr = new VpnManager(cfg, log, hooks, () => ({ retryDelayMs: 100 }), {
    clock: () => Date.now(),
    secrets: { env: r.env, readFile: (p) => { throw new Error(`no file ${p} in this test`); } },
  });
  r.mgr.build();
  return r;
}

/** Seeded xorshift32 for junk. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

describe('VpnManager: hostile datagrams', () => {
  it('100,000 junk datagrams: every one is counted under one reason, and the log gets at most one line per reason per 10 s', () => {
    const seed = 0x1badf00d;
    console.log(`junk flood seed ${seed.toString(16)}, 100000 datagrams`);
    let now = 50_000;
    const lines: Record<string, unknown>[] = [];
    const log: Logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const sends: unknown[] = [];
    const mgr = new VpnManager(vpcConfig('vgw'), log, {
      send: (...a) => void sends.push(a), installSa: () => undefined, removeSa: () => undefined, tunnelState: () => undefined,
    }, () => ({}), { clock: () => now, secrets: { env: { SITE_PSK: OLD_PSK }, readFile: () => '' } });
    mgr.build();
    mgr.start();
    const linesAtStart = lines.length;
    const before = Float64Array.from(mgr.dropped);
    const rnd = xorshift(seed);
    const N = 100_000;
    const stepMs = 1;
    for (let i = 0; i < N; i++) {
      now += stepMs;
      const pick = rnd() % 100;
      // 10 %: the configured peer (passes the limiter at its rate, then the session refuses the junk);
      // 20 %: one hot unknown source; 70 %: 512 other unknown sources
      const from = pick < 10 ? PEER : pick < 30 ? '198.51.100.66' : `${pick & 1 ? '203.0.113' : '198.51.100'}.${rnd() & 255}`;
      const len = 2 + (rnd() % 299);
      const bytes = new Uint8Array(len);
      for (let k = 0; k < len; k++) bytes[k] = rnd() & 255;
      const port = rnd() & 1 ? 500 : 4500;
      if (port === 4500 && rnd() & 1) bytes.fill(0, 0, Math.min(4, len)); // a zero non-ESP marker: the IKE parser sees it
      mgr.onDatagram(US, port, { addr: from, port: 500 + (rnd() & 7) }, bytes);
    }
    const delta = [...mgr.dropped].map((v, i) => v - before[i]);
    const byReason = Object.fromEntries(IKE_DROP_REASONS.map((n, i) => [n, delta[i]]));
    console.log('drops by reason', byReason);
    expect(delta.reduce((a, b) => a + b, 0)).toBe(N);
    expect(delta[IkeDrop.RateLimited]).toBeGreaterThan(0);
    expect(delta[IkeDrop.UnknownPeer]).toBeGreaterThan(0);
    expect(delta[IkeDrop.Malformed] + delta[IkeDrop.Refused]).toBeGreaterThan(0);
    expect(delta[IkeDrop.SessionError]).toBe(0);
    // the session saw exactly the datagrams that passed the limiter and the peer check
    const s = mgr.sessions()[0]!.session;
    expect(s.errors.reduce((a, b) => a + b, 0)).toBe(delta[IkeDrop.Malformed] + delta[IkeDrop.Refused]);
    expect(s.errors[IkeErrorCode.Internal]).toBe(0);
    expect(sends).toEqual([]);
    const flood = lines.slice(linesAtStart);
    const spanS = (N * stepMs) / 1000;
    const bound = IKE_DROP_REASONS.length * (Math.ceil(spanS / 10) + 1);
    console.log(`${flood.length} log lines for ${N} datagrams over ${spanS} s (bound ${bound})`);
    expect(flood.length).toBeGreaterThan(0);
    expect(flood.length).toBeLessThanOrEqual(bound);
    expect(flood.every((l) => l.event === 'ike-datagrams-dropped')).toBe(true);
    for (const reason of IKE_DROP_REASONS) {
      const mine = flood.filter((l) => l.reason === reason);
      expect(mine.length).toBeLessThanOrEqual(Math.ceil(spanS / 10) + 1);
      // the summaries add up to what was counted up to the last one
      if (mine.length) expect(mine.reduce((a, l) => a + (l.count as number), 0)).toBe(mine.at(-1)!.total);
    }
  });
});
