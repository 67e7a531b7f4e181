/**
 * VpnManager (src/vpn/manager.ts) as the daemon drives it: junk datagrams
 * from the internet are rate-limited and counted by reason without a log line
 * each, and a two-phase reload swaps PSKs in for the next negotiation without
 * touching live SAs. The peer is a sans-IO IKE session wired back to back with
 * the manager; time is faked (vitest timers + the manager's clock).
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { VpcConfig } from '../../../src/control/config-types.js';
import { parseConfig } from '../../../src/control/config.js';
import type { IkeSessionConfig } from '../../../src/ike/config.js';
import { ipToU32 } from '../../../src/wire/addr.js';
import { loadCertCredentials, type CertCredentials } from '../../../src/ike/auth.js';
import { IkeErrorCode } from '../../../src/ike/errors.js';
import { IkeInitiator, IkeResponder, type IkeAction, type IkeSession, type UdpEndpoint } from '../../../src/ike/session.js';
import { ConfigSecretError, IKE_DROP_REASONS, IkeDrop, VpnManager, type VpnHooks } from '../../../src/vpn/manager.js';
import { seededRandom } from './harness.js';
import { TestPki, type Issued } from './pki.js';
import { describeWith } from '../../helpers/needs.js';

const US = '203.0.113.1';
const PEER = '203.0.113.20';
const OLD_PSK = 'old-secret-0123';
const NEW_PSK = 'new-secret-4567';

function vpcConfig(role: 'cgw' | 'vgw', extra = '', proposals = 'aes256gcm16-prfsha256-ecp256', auth = '{ psk: { env: SITE_PSK } }'): VpcConfig {
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
    auth: ${auth}
    tunnels:
      - { peer: ${PEER}, local: ${US}, insideCidr: 169.254.10.0/30 }
    ike:  { proposals: [${proposals}], lifetime: 28800, dpdTimeout: 30 }
    esp:  { proposals: [aes256gcm16-ecp256], lifetime: 3600 }
${extra}
lab: { prefix: t }
`, 't.yaml');
}

/** The remote end: the side of the tunnel the manager is not. */
function peerConfig(role: 'initiator' | 'responder', psk: string | CertCredentials, seed: number): IkeSessionConfig {
  return {
    name: 'peer', localAddr: PEER, peerAddr: US,
    auth: typeof psk === 'string' ? { kind: 'psk', psk: new TextEncoder().encode(psk) } : { kind: 'cert', credentials: psk },
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
  /** The peer sessions' log messages. */
  peerLogs: string[];
  flush(): void;
  takePeer(actions: readonly IkeAction[]): void;
}

function rig(role: 'cgw' | 'vgw', cfg: VpcConfig = vpcConfig(role), readFile?: (path: string) => string): Rig {
  const lines: Record<string, unknown>[] = [];
  const log: Logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const fromPeer: { dst: UdpEndpoint; src: UdpEndpoint; bytes: Uint8Array }[] = [];
  const r: Rig = {
    mgr: undefined as unknown as VpnManager,
    env: { SITE_PSK: OLD_PSK },
    lines, installs: 0, removals: 0, peer: undefined, fromMgr: [], peerLogs: [],
    takePeer(actions) {
      for (const a of actions) {
        if (a.kind === 'send') fromPeer.push({ dst: a.dst, src: a.src, bytes: a.bytes });
        if (a.kind === 'log') r.peerLogs.push(a.msg);
      }
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
    secrets: { env: r.env, readFile: readFile ?? ((p) => { throw new Error(`no file ${p} in this test`); }) },
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
      const fromPort = 500 + (rnd() & 7);
      // both entry points: text addresses (onDatagram) and host-order u32 (onPunt)
      if (i & 1) mgr.onPunt(ipToU32(US), port, ipToU32(from), fromPort, bytes);
      else mgr.onDatagram(US, port, { addr: from, port: fromPort }, bytes);
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

describe('VpnManager: two-phase reload of secrets', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.now() }); // wall time: certificate validity
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a rotated PSK is used for the next negotiation: live SAs stay, a peer with the new PSK succeeds, one with the old fails', () => {
    const r = rig('cgw');
    r.peer = new IkeResponder(peerConfig('responder', OLD_PSK, 1));
    r.takePeer(r.peer.start(Date.now()));
    r.mgr.start();
    r.flush();
    expect(r.mgr.tunnels[0]!.state).toBe('up');
    expect(r.installs).toBe(1);

    r.env.SITE_PSK = NEW_PSK;
    const reload = r.mgr.prepare(vpcConfig('cgw'));
    expect({ added: reload.added, removed: reload.removed, changed: reload.changed, credentials: reload.credentials })
      .toEqual({ added: [], removed: [], changed: [], credentials: ['site'] });
    const removalsBefore = r.removals;
    reload.apply();
    expect(r.fromMgr).toEqual([]);
    expect(r.removals).toBe(removalsBefore);
    expect(r.mgr.tunnels[0]!.state).toBe('up');
    // a CHILD_SA rekey on the live IKE SA still works (no authentication involved)
    r.mgr.rekeyChild('site', 0);
    r.flush();
    expect(r.installs).toBe(2);
    expect(r.mgr.tunnels[0]!.state).toBe('up');

    // the peer goes away; the next negotiation meets a peer that still has the old PSK: refused
    r.takePeer(r.peer.stop(Date.now()));
    r.flush();
    expect(r.mgr.tunnels[0]!.state).toBe('down');
    const stale = new IkeResponder(peerConfig('responder', OLD_PSK, 2));
    r.peer = stale;
    r.takePeer(stale.start(Date.now()));
    vi.advanceTimersByTime(100);
    r.flush();
    expect(stale.errors[IkeErrorCode.AuthFailed]).toBe(1);
    expect(stale.tunnelState).not.toBe('up');
    expect(r.mgr.tunnels[0]!.state).not.toBe('up');

    // ... and one with the new PSK: established
    const fresh = new IkeResponder(peerConfig('responder', NEW_PSK, 3));
    r.peer = fresh;
    r.takePeer(fresh.start(Date.now()));
    vi.advanceTimersByTime(400);
    r.flush();
    expect(fresh.tunnelState).toBe('up');
    expect(fresh.errors[IkeErrorCode.AuthFailed]).toBe(0);
    expect(r.mgr.tunnels[0]!.state).toBe('up');
  });

  it('as responder: after apply() an initiator with the old PSK is refused and one with the new PSK gets through', () => {
    const r = rig('vgw');
    r.mgr.start();
    r.env.SITE_PSK = NEW_PSK;
    r.mgr.prepare(vpcConfig('vgw')).apply();
    for (const [psk, seed, up] of [[OLD_PSK, 4, false], [NEW_PSK, 5, true]] as const) {
      const init = new IkeInitiator(peerConfig('initiator', psk, seed));
      r.peer = init;
      r.takePeer(init.start(Date.now()));
      r.flush();
      expect(init.tunnelState === 'up', psk).toBe(up);
      expect(r.mgr.tunnels[0]!.state === 'up', psk).toBe(up);
    }
    // a failed authentication is an outcome the operator needs, not junk: it keeps its own log line
    expect(r.lines.filter((l) => l.event === 'refused-auth_failed' && l.connection === 'site')).toHaveLength(1);
    expect(r.mgr.dropped.reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('a missing environment variable makes prepare() throw naming it, and the old PSK stays in force', () => {
    const r = rig('cgw');
    r.peer = new IkeResponder(peerConfig('responder', OLD_PSK, 6));
    r.takePeer(r.peer.start(Date.now()));
    r.mgr.start();
    r.flush();
    expect(r.mgr.tunnels[0]!.state).toBe('up');

    delete r.env.SITE_PSK;
    expect(() => r.mgr.prepare(vpcConfig('cgw'))).toThrowError(ConfigSecretError);
    expect(() => r.mgr.prepare(vpcConfig('cgw'))).toThrowError(/site: PSK environment variable SITE_PSK is not set/);
    r.env.SITE_PSK = 'short';
    expect(() => r.mgr.prepare(vpcConfig('cgw'))).toThrowError(/site: PSK must be at least 8 characters/);
    expect(r.lines.some((l) => JSON.stringify(l).includes('short'))).toBe(false);

    // re-establish: the old PSK is what the manager uses
    r.takePeer(r.peer.stop(Date.now()));
    r.flush();
    const again = new IkeResponder(peerConfig('responder', OLD_PSK, 7));
    r.peer = again;
    r.takePeer(again.start(Date.now()));
    vi.advanceTimersByTime(100);
    r.flush();
    expect(again.tunnelState).toBe('up');
    expect(r.mgr.tunnels[0]!.state).toBe('up');
  });

  it('reports added, removed and changed connections, and checks the secrets of added ones', () => {
    const r = rig('cgw');
    const branch = `
  branch:
    role: cgw
    remoteNetworks: [198.18.128.0/17]
    auth: { psk: { env: BRANCH_PSK } }
    tunnels:
      - { peer: 203.0.113.30, insideCidr: 169.254.20.0/30 }`;
    const cfg2 = parseConfigWith(branch, 'aes256-sha256-modp2048');
    expect(() => r.mgr.prepare(cfg2)).toThrowError(/branch: PSK environment variable BRANCH_PSK is not set/);
    r.env.BRANCH_PSK = 'branch-secret-1';
    const reload = r.mgr.prepare(cfg2);
    expect({ added: reload.added, removed: reload.removed, changed: reload.changed, credentials: reload.credentials })
      .toEqual({ added: ['branch'], removed: [], changed: ['site'], credentials: [] });
    reload.apply();
    expect(r.mgr.tunnels.map((t) => t.connection)).toEqual(['site']);

    const noVpn: VpcConfig = { ...vpcConfig('cgw'), vpnConnections: new Map() };
    expect(r.mgr.prepare(noVpn).removed).toEqual(['site']);
  });
});

describeWith(['openssl'], 'VpnManager: reloaded certificates', () => {
  let pki: TestPki;
  let ca: Issued, a: Issued, b: Issued, v: Issued;
  beforeAll(() => {
    // issued before the clock is faked, so they are valid at the faked wall time
    pki = new TestPki();
    ca = pki.ca('root', 'ecdsa');
    a = pki.issue('cgw-a.vpcd.test', ca, { type: 'ecdsa', san: 'DNS:cgw-a.vpcd.test' });
    b = pki.issue('cgw-b.vpcd.test', ca, { type: 'ecdsa', san: 'DNS:cgw-b.vpcd.test' });
    v = pki.issue('vgw.vpcd.test', ca, { type: 'ecdsa', san: 'DNS:vgw.vpcd.test' });
  }, 60_000);
  afterAll(() => pki?.dispose());
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.now() }); // wall time: certificate validity
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a replaced certificate and key are used from the next IKE_AUTH; an unreadable one makes prepare() throw and changes nothing', () => {
    const vgw = loadCertCredentials(pki.read(v.cert), pki.read(v.key), pki.read(ca.cert));
    const cert = join(pki.dir, 'cgw.crt');
    const key = join(pki.dir, 'cgw.key');
    copyFileSync(a.cert, cert);
    copyFileSync(a.key, key);
    const auth = (c: string) => `{ certificate: { cert: ${c}, key: ${key}, ca: ${ca.cert} } }`;
    const r = rig('cgw', vpcConfig('cgw', '', undefined, auth(cert)), (p) => readFileSync(p, 'utf8'));
    r.peer = new IkeResponder(peerConfig('responder', vgw, 8));
    r.takePeer(r.peer.start(Date.now()));
    r.mgr.start();
    r.flush();
    expect(r.mgr.tunnels[0]!.state).toBe('up');
    expect(r.peerLogs.join('\n')).toMatch(/established with 'cgw-a\.vpcd\.test'/);

    expect(() => r.mgr.prepare(vpcConfig('cgw', '', undefined, auth(join(pki.dir, 'missing.crt'))))).toThrowError(/site: certificate files: .*missing\.crt/);
    copyFileSync(b.cert, cert);
    copyFileSync(b.key, key);
    const reload = r.mgr.prepare(vpcConfig('cgw', '', undefined, auth(cert)));
    expect(reload.credentials).toEqual(['site']);
    reload.apply();
    expect(r.mgr.tunnels[0]!.state).toBe('up');
    expect(r.fromMgr).toEqual([]);

    r.peerLogs.length = 0;
    r.takePeer(r.peer.stop(Date.now()));
    r.flush();
    r.peer = new IkeResponder(peerConfig('responder', vgw, 9));
    r.takePeer(r.peer.start(Date.now()));
    vi.advanceTimersByTime(100);
    r.flush();
    expect(r.mgr.tunnels[0]!.state).toBe('up');
    expect(r.peerLogs.join('\n')).toMatch(/established with 'cgw-b\.vpcd\.test'/);
  });
});

/** The cgw config with another connection after `site` and other IKE proposals for `site`. */
function parseConfigWith(connYaml: string, proposals: string): VpcConfig {
  const base = vpcConfig('cgw', '', proposals);
  const extra = parseConfig(`
vpc: { name: t, cidr: 198.19.0.0/16, accountId: "123456789012" }
customerGateway: { name: cgw, asn: 65000, wan: { ip: ${US} } }
vpnConnections:${connYaml}
lab: { prefix: t }
`, 'u.yaml');
  return { ...base, vpnConnections: new Map([...base.vpnConnections, ...extra.vpnConnections]) };
}
