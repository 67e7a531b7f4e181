/**
 * What a restart keeps, end to end below the daemon (src/daemon/restart-state.ts):
 * the flows and NAT sessions saved at a stop come back at the next start
 * under the same configuration, aged by the time the daemon was down; a
 * configuration that changed in a part the state depends on (instances and
 * their order, NAT gateways, VPN connections or their secrets, conntrack.max,
 * the VPC) is named in the log and the start is empty; so is a corrupt file.
 * The file is gone after every start, restored or not.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/control/config.js';
import { compileSnapshot } from '../../../src/control/compile.js';
import type { VpcConfig } from '../../../src/control/config-types.js';
import { Conntrack, FlowTuple, initialTimeoutClass } from '../../../src/conntrack/conntrack.js';
import { NatGatewayState } from '../../../src/nat/nat-gateway.js';
import { restoreRestartState, saveRestartState, type RestartParts } from '../../../src/daemon/restart-state.js';
import { parseStateFile, writeStateFile } from '../../../src/daemon/state-file.js';
import { VpnGlue } from '../../../src/daemon/vpn-glue.js';
import type { Dataplane } from '../../../src/pipeline/dataplane.js';
import type { PacketBatch } from '../../../src/pipeline/batch.js';
import type { Counters } from '../../../src/pipeline/counters.js';
import type { FaultGuard } from '../../../src/daemon/guard.js';
import { ipToU32 } from '../../../src/wire/addr.js';

interface Line { level: string; fields: Record<string, unknown> }

function logger(lines: Line[]): Logger {
  const at = (level: string) => (fields: Record<string, unknown>) => { lines.push({ level, fields }); };
  return { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } as unknown as Logger;
}

const VPN = `customerGateway: { name: cgw, wan: { ip: 198.51.100.2 } }
vpnConnections:
  to-aws:
    role: cgw
    remoteNetworks: [198.19.0.0/16]
    auth: { psk: { env: VPCD_TEST_RESTART_PSK } }
    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/30 } ]
`;

function yaml(o: { statePath: string; instances?: string; max?: number; natIp?: string; vpc?: string; vpn?: boolean; enabled?: boolean }): string {
  return `
vpc: { name: ${o.vpc ?? 'rs'}, cidr: 198.18.0.0/16 }
subnets:
  a: { cidr: 198.18.1.0/24, routeTable: rt }
  b: { cidr: 198.18.2.0/24, routeTable: rt }
instances:
${o.instances ?? '  i1: { subnet: a, ip: 198.18.1.10 }\n  i2: { subnet: b, ip: 198.18.2.10 }'}
internetGateway: { name: igw }
natGateways:
  nat: { subnet: a, type: public, ip: ${o.natIp ?? '198.18.1.5'}, publicIp: 203.0.113.5 }
routeTables:
  rt: { routes: [ { destination: 0.0.0.0/0, target: nat } ] }
conntrack: { max: ${o.max ?? 4096} }
${o.vpn ? VPN : ''}state: { path: ${o.statePath}${o.enabled === false ? ', enabled: false' : ''} }
`;
}

/** A daemon's restart parts for a configuration, with empty tables. */
function parts(text: string): RestartParts & { nat: NatGatewayState } {
  const cfg: VpcConfig = parseConfig(text, '/etc/vpcd/rs.yaml');
  const policy = compileSnapshot(cfg, 1);
  const ct = new Conntrack(cfg.conntrack, 11);
  ct.setAllowances(policy.topology.instanceNames.map(() => 0));
  const nat = new NatGatewayState('nat', { ip: ipToU32(cfg.natGateways.get('nat')!.ip), publicIp: ipToU32('203.0.113.5'), subnet: 0, isPublic: true,
    maxPerDestination: 100, idleTimeout: 350, maxSessions: 1024, seed: 12 });
  const lines: Line[] = [];
  const vpn = new VpnGlue({} as Dataplane, {} as PacketBatch, {} as Counters, () => undefined, logger(lines), {} as FaultGuard);
  if (cfg.vpnConnections.size > 0) vpn.build(cfg);
  return { cfg, topo: policy.topology, ct, nats: [nat], nat, vpn, epoch: 1 };
}

/** Opens a TCP flow between the two instances and one NAT session, at nowMs. */
function traffic(p: RestartParts & { nat: NatGatewayState }, nowMs: number): void {
  const o = new FlowTuple().set(ipToU32('198.18.1.10'), ipToU32('198.18.2.10'), 40_000, 22, 6, 0);
  const f = p.ct.create(o, new FlowTuple().reverseOf(o), initialTimeoutClass(6), nowMs, 1, 0, 1);
  p.ct.touch(f * 2, nowMs, 60, 0x02);
  p.nat.create(ipToU32('198.18.2.10'), ipToU32('203.0.113.100'), 41_000, 443, 6, nowMs);
}

afterEach(() => {
  delete process.env.VPCD_TEST_RESTART_PSK;
});

function setup(o: Partial<Parameters<typeof yaml>[0]> = {}): { path: string; lines: Line[]; text: (x?: Partial<Parameters<typeof yaml>[0]>) => string } {
  const path = join(mkdtempSync(join(tmpdir(), 'vpcd-rs-')), 'rs.state');
  const text = (x: Partial<Parameters<typeof yaml>[0]> = {}): string => yaml({ statePath: path, ...o, ...x });
  const lines: Line[] = [];
  const a = parts(text());
  traffic(a, performance.now() - 1_000);
  expect(saveRestartState(a, logger(lines))).toEqual(new Set());
  return { path, lines, text };
}

describe('restart state: save at stop, restore at start', () => {
  it('the flows and NAT sessions come back under the same configuration, aged by the downtime; the file is deleted', () => {
    const { path, lines, text } = setup();
    expect(lines.at(-1)!.fields).toMatchObject({ event: 'state-saved', path, flows: 1, natSessions: 1, espSas: 0, ikeSas: 0 });
    // The daemon was down for 30 s.
    const b = parts(text());
    const restored: Line[] = [];
    const saveWall = Date.now;
    Date.now = () => saveWall() + 30_000;
    try {
      restoreRestartState(b, logger(restored));
    } finally {
      Date.now = saveWall;
    }
    expect(restored.map((l) => l.fields.event)).toEqual(['state-restored']);
    expect(restored[0]!.fields).toMatchObject({ flows: 1, natSessions: 1, ikeSas: 0 });
    expect(restored[0]!.fields.ageMs as number).toBeGreaterThanOrEqual(30_000);
    expect(existsSync(path)).toBe(false);
    const ref = b.ct.lookup(ipToU32('198.18.2.10'), ipToU32('198.18.1.10'), 22, 40_000, 6, 0);
    expect(ref & 1).toBe(1);
    const idle = performance.now() - b.ct.pool.lastSeenMs[ref >>> 1]!;
    expect(idle).toBeGreaterThanOrEqual(31_000 - 50);
    expect(b.nat.sessions.entries).toBe(1);
  });

  const changes: [string, Partial<Parameters<typeof yaml>[0]>, string][] = [
    ['instances in another order', { instances: '  i2: { subnet: b, ip: 198.18.2.10 }\n  i1: { subnet: a, ip: 198.18.1.10 }' }, 'instances'],
    ['an instance added', { instances: '  i1: { subnet: a, ip: 198.18.1.10 }\n  i2: { subnet: b, ip: 198.18.2.10 }\n  i3: { subnet: b, ip: 198.18.2.11 }' }, 'instances'],
    ['the NAT gateway\'s address', { natIp: '198.18.1.6' }, 'natGateways'],
    ['conntrack.max', { max: 8192 }, 'conntrackMax'],
  ];
  for (const [what, change, part] of changes) {
    it(`${what}: not restored, the log names ${part}, the start is empty and the file deleted`, () => {
      const { path, text } = setup();
      const b = parts(text(change));
      const lines: Line[] = [];
      restoreRestartState(b, logger(lines));
      expect(lines.map((l) => l.fields.event)).toEqual(['state-not-restored']);
      expect(String(lines[0]!.fields.reason)).toBe(`the configuration changed since it was saved: ${part}`);
      expect(b.ct.entries).toBe(0);
      expect(b.nat.sessions.entries).toBe(0);
      expect(existsSync(path)).toBe(false);
    });
  }

  it('another VPC\'s file is not restored', () => {
    const { path, text } = setup();
    const b = parts(text({ vpc: 'other' }));
    const lines: Line[] = [];
    restoreRestartState(b, logger(lines));
    expect(String(lines[0]!.fields.reason)).toMatch(/state of VPC "rs"/);
    expect(b.ct.entries).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('a VPN connection whose secret changed: not restored (vpnConnections)', () => {
    process.env.VPCD_TEST_RESTART_PSK = 'first-secret-0123456789';
    const { path, text } = setup({ vpn: true });
    process.env.VPCD_TEST_RESTART_PSK = 'second-secret-0123456789';
    const b = parts(text());
    const lines: Line[] = [];
    restoreRestartState(b, logger(lines));
    expect(String(lines[0]!.fields.reason)).toBe('the configuration changed since it was saved: vpnConnections');
    expect(existsSync(path)).toBe(false);
    // ...and with the same secret it is restored (the sessions, never established, are simply started anew).
    process.env.VPCD_TEST_RESTART_PSK = 'first-secret-0123456789';
    const again = setup({ vpn: true });
    expect(again.lines.at(-1)!.fields).toMatchObject({ event: 'state-saved', unsavedTunnels: [{ connection: 'to-aws', tunnel: 0, reason: 'no established IKE SA' }] });
    const c = parts(again.text());
    const ok: Line[] = [];
    restoreRestartState(c, logger(ok));
    expect(ok.map((l) => l.fields.event)).toEqual(['state-restored']);
    expect(c.ct.entries).toBe(1);
  });

  it('a corrupt or truncated file: one log line, an empty start, the file deleted', () => {
    for (const damage of [(b: Buffer) => { b[b.length - 50] ^= 0xff; return b; }, (b: Buffer) => b.subarray(0, b.length >> 1), () => Buffer.from('hello')]) {
      const { path, text } = setup();
      writeFileSync(path, damage(readFileSync(path)));
      const b = parts(text());
      const lines: Line[] = [];
      restoreRestartState(b, logger(lines));
      expect(lines.map((l) => `${l.level} ${String(l.fields.event)}`)).toEqual(['warn state-not-restored']);
      expect(String(lines[0]!.fields.reason)).toMatch(/checksum|magic/);
      expect(b.ct.entries).toBe(0);
      expect(existsSync(path)).toBe(false);
    }
  });

  it('a well-formed file whose flows do not fit (a zone past the instances) is refused as a whole', () => {
    const { path, text } = setup();
    const b = parts(text({ instances: '  i1: { subnet: a, ip: 198.18.1.10 }\n  i2: { subnet: b, ip: 198.18.2.10 }' }));
    const raw = readFileSync(path);
    expect(raw.length).toBeGreaterThan(0);
    // Rewrite through the container with a damaged conntrack section (valid checksum).
    const f = parseStateFile(raw);
    const ct = Buffer.from(f.sections.get('conntrack')!);
    ct.writeInt32LE((7 << 8) | 6, 8 + 12);
    ct.writeInt32LE((7 << 8) | 6, 8 + 28);
    writeStateFile(path, f.header, [...f.sections].map(([n, s]) => [n, n === 'conntrack' ? ct : s] as const));
    const lines: Line[] = [];
    restoreRestartState(b, logger(lines));
    expect(String(lines[0]!.fields.reason)).toMatch(/flow record 0: zone 7/);
    expect(b.ct.entries).toBe(0);
    expect(b.nat.sessions.entries).toBe(0);
  });

  it('state.enabled false: a stop writes nothing, a start deletes a leftover file without using it', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'vpcd-rs-')), 'rs.state');
    const off = parts(yaml({ statePath: path, enabled: false }));
    traffic(off, performance.now());
    expect(saveRestartState(off, logger([]))).toEqual(new Set());
    expect(existsSync(path)).toBe(false);
    const on = parts(yaml({ statePath: path }));
    traffic(on, performance.now());
    saveRestartState(on, logger([]));
    const b = parts(yaml({ statePath: path, enabled: false }));
    const lines: Line[] = [];
    restoreRestartState(b, logger(lines));
    expect(String(lines[0]!.fields.reason)).toBe('state.enabled is false');
    expect(b.ct.entries).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('a file that cannot be written is logged; the stop goes on and sends DELETE for every tunnel (none detached)', () => {
    const d = mkdtempSync(join(tmpdir(), 'vpcd-rs-'));
    writeFileSync(join(d, 'file'), 'x');
    const a = parts(yaml({ statePath: join(d, 'file', 'rs.state') }));
    const lines: Line[] = [];
    expect(saveRestartState(a, logger(lines))).toEqual(new Set());
    expect(lines.map((l) => `${l.level} ${String(l.fields.event)}`)).toEqual(['error state-save-failed']);
  });
});
