/**
 * A restart keeps connections, on real packets. A VPC site (vpcd as the VPN
 * gateway, with a NAT gateway to the lab internet) and an on-premises site
 * (vpcd as the customer gateway). Three TCP connections carry a line every
 * 100 ms, echoed back:
 *
 *   sg   instance to instance across two subnets; then a reload removes the
 *        rule that admitted it, so only its conntrack state lets it through
 *   nat  a private instance through the NAT gateway to an internet host
 *   vpn  the on-premises host through the tunnel to a VPC instance
 *
 * The VPC site's daemon gets SIGTERM and a new one starts right after it
 * exits. Each connection carries data again with no reset; the tunnel goes
 * on with the same SPIs and no new IKE_SA_INIT on either side (the peer's
 * IKE counters and the new daemon's log). Then the same restart without
 * the state file: the NAT connection is reset and the SG connection gets
 * nothing through, which is what the state file prevented.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonProc, ROOT, fetchText, isRoot, metricValue, nsx, sleep, uniquePrefix } from '../helpers/netns.js';
import { VpnLab, randomPort, spokeConfig, type HubSpec, type SpokeSpec } from '../helpers/vpn-lab.js';

const PROBE = join(ROOT, 'test', 'helpers', 'probe.mjs');
const PSK = 'vpcd-restart-test-psk-0123456789';
const CLI = '198.18.2.10', DB = '198.18.3.10', SRV = '198.18.2.20', WEB = '203.0.113.100';

function hubYaml(prefix: string, internet: string, port: number, dbRule: boolean): string {
  return `
vpc: { name: ${prefix}h, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
  app: { cidr: 198.18.2.0/24, routeTable: private }
  db: { cidr: 198.18.3.0/24, routeTable: private }
securityGroups:
  cli: { ingress: [] }
  db: { ingress: [${dbRule ? ` { protocol: tcp, ports: 7001, cidr: ${CLI}/32 } ` : ''}] }
  srv: { ingress: [ { protocol: tcp, ports: 7003, cidr: 198.19.0.0/16 } ] }
instances:
  cli: { subnet: app, ip: ${CLI}, securityGroups: [cli] }
  db: { subnet: db, ip: ${DB}, securityGroups: [db] }
  srv: { subnet: app, ip: ${SRV}, securityGroups: [srv] }
internetGateway: { name: igw }
natGateways:
  nat: { subnet: pub, type: public, ip: 198.18.1.5, publicIp: 203.0.113.5 }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: nat }, { destination: 198.19.0.0/16, target: vgw } ] }
vpnGateway: { name: vgw, asn: 64512 }
vpnConnections:
  to-site0:
    role: vgw
    remoteNetworks: [198.19.0.0/20]
    localNetworks: [198.18.0.0/16]
    auth: { psk: { env: VPN_PSK_0 } }
    tunnels:
      - { peer: 198.51.100.2, local: 198.51.100.1, insideCidr: 169.254.10.0/30 }
state: { path: hub.state }
metrics: { listen: "127.0.0.1:${port}" }
lab: { prefix: ${prefix}h, internet: ${internet}, internetHosts: { web: ${WEB} } }
`;
}

interface Progress { sent: number; echoed: number; error: string | null; closed: boolean }

/** A tcp-stream client: the latest progress line it printed. */
class Stream {
  last: Progress = { sent: 0, echoed: 0, error: null, closed: false };
  constructor(readonly name: string, readonly proc: ChildProcess) {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) if (l.trim()) this.last = JSON.parse(l) as Progress;
    });
  }
}

async function until(what: string, f: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await f()) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timeout: ${what}`);
    await sleep(100);
  }
}

const events = (d: DaemonProc, event: string) => d.lines.filter((l) => l.event === event);

describe.runIf(isRoot)('a restart keeps connections: security-group state, NAT gateway sessions, VPN SAs', () => {
  const prefix = uniquePrefix();
  const internet = `${prefix}-net`;
  const lab = new VpnLab(prefix);
  const hp = randomPort(), sp = randomPort();
  const hub: HubSpec = { tunnels: [{ local: '198.51.100.1' }] };
  const spoke: SpokeSpec = { cidr: '198.19.0.0/20', subnet: '198.19.1.0/24', host: '198.19.1.10', wan: '198.51.100.2' };
  const hubSite = lab.add('hub', hubYaml(prefix, internet, hp, true), hp);
  const spokeSite = lab.add('spoke', spokeConfig(prefix, 0, internet, sp, hub, spoke), sp);
  const statePath = lab.path(hubSite, 'hub.state');
  const kids: ChildProcess[] = [];
  const streams: Stream[] = [];
  const m = (port: number) => fetchText(`http://127.0.0.1:${port}/metrics`);
  const ike = async (port: number, event: string) => metricValue(await m(port), 'vpcd_vpn_ike_events_total', { event }) ?? 0;

  function inNs(ns: string, args: string[]): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, PROBE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    kids.push(p);
    return p;
  }
  async function serve(ns: string, ip: string, port: number): Promise<void> {
    const p = inNs(ns, ['tcp-serve', ip, String(port), '240']);
    await new Promise<void>((res) => p.stderr!.once('data', () => res()));
  }
  async function stream(name: string, ns: string, ip: string, port: number): Promise<Stream> {
    const s = new Stream(name, inNs(ns, ['tcp-stream', ip, String(port), '240', '100']));
    streams.push(s);
    await until(`${name} connected and echoing`, () => s.last.echoed >= 5, 15_000);
    return s;
  }
  /** Waits until every stream echoed `n` more lines than it had; returns how long that took. */
  async function allEcho(n: number, timeoutMs: number): Promise<number> {
    const base = streams.map((s) => s.last.echoed);
    return until(`every stream echoes ${n} more lines (${streams.map((s) => `${s.name} ${JSON.stringify(s.last)}`).join('; ')})`,
      () => streams.every((s, i) => s.last.echoed >= base[i]! + n), timeoutMs);
  }
  async function restartHub(): Promise<{ old: DaemonProc; neu: DaemonProc; outageMs: number }> {
    const old = hubSite.daemon!;
    const t0 = Date.now();
    old.signal('SIGTERM');
    expect(await old.exit()).toBe(0);
    const neu = await lab.start(hubSite, { VPN_PSK_0: PSK });
    return { old, neu, outageMs: Date.now() - t0 };
  }

  let sg: Stream, nat: Stream, vpn: Stream;

  beforeAll(async () => {
    lab.up();
    await lab.start(hubSite, { VPN_PSK_0: PSK });
    await lab.start(spokeSite, { VPN_PSK: PSK });
    await until('tunnel up on both sides', async () => (metricValue(await m(hp), 'vpcd_vpn_tunnel_state') ?? 0) >= 1 &&
      (metricValue(await m(sp), 'vpcd_vpn_tunnel_state') ?? 0) >= 1, 20_000);
    await serve(`${prefix}h-db`, DB, 7001);
    await serve(internet, WEB, 7002);
    await serve(`${prefix}h-srv`, SRV, 7003);
    sg = await stream('sg', `${prefix}h-cli`, DB, 7001);
    nat = await stream('nat', `${prefix}h-cli`, WEB, 7002);
    vpn = await stream('vpn', `${prefix}s0-host`, SRV, 7003);
  }, 90_000);

  afterAll(async () => {
    for (const k of kids) k.kill('SIGKILL');
    await lab.down();
    rmSync(statePath, { force: true });
  });

  it('after a reload removes the rule that admitted it, the SG connection lives on its conntrack state alone', async () => {
    lab.rewrite(hubSite, hubYaml(prefix, internet, hp, false));
    const seen = hubSite.daemon!.lines.length;
    hubSite.daemon!.signal('SIGHUP');
    await hubSite.daemon!.waitFor((l) => hubSite.daemon!.lines.indexOf(l) >= seen && l.event === 'reloaded');
    const fresh = nsx(`${prefix}h-cli`, [process.execPath, PROBE, 'tcp-connect', DB, '7001', '1500']);
    expect(JSON.parse(fresh.stdout)).toEqual({ ok: false, error: 'timeout' });
    await allEcho(10, 10_000);
  });

  it('SIGTERM and a new daemon: every connection carries data again with no reset; the tunnel keeps its SAs with no new IKE_SA_INIT', async () => {
    const old = hubSite.daemon!;
    const ikeSa = /IKE SA ([0-9a-f]{16})_i ([0-9a-f]{16})_r established/.exec(String(events(old, 'ike-sa-established').at(-1)?.msg))!;
    expect(ikeSa, 'the hub logged its IKE SA').not.toBeNull();
    const child = events(old, 'child-sa-installed').filter((l) => typeof l.spiIn === 'string').at(-1)!;
    const spokeBefore = { ike: await ike(sp, 'ike_sa_established'), child: await ike(sp, 'child_sa_installed'), down: await ike(sp, 'tunnel_down') };
    const spokeLines = spokeSite.daemon!.lines.length;

    const { neu, outageMs } = await restartHub();
    const saved = events(old, 'state-saved')[0]!;
    expect(saved, JSON.stringify(old.lines.slice(-6))).toBeDefined();
    expect(saved).toMatchObject({ path: statePath, natSessions: 1, espSas: 1, ikeSas: 1 });
    expect(saved.flows as number).toBeGreaterThanOrEqual(3); // cli->db, cli->nat gateway, on-premises->srv
    expect(saved.unsavedTunnels).toBeUndefined();
    const restored = events(neu, 'state-restored')[0];
    expect(restored, JSON.stringify(neu.lines.slice(-8))).toMatchObject({ flows: saved.flows, natSessions: 1, ikeSas: 1 });
    expect(existsSync(statePath), 'the state file is deleted once restored').toBe(false);
    const back = events(neu, 'ike-sa-restored')[0]!;
    expect(back).toMatchObject({ connection: 'to-site0', tunnel: 0, spiI: ikeSa[1], spiR: ikeSa[2], children: [{ spiIn: child.spiIn, spiOut: child.spiOut }] });

    const took = await allEcho(20, 20_000);
    console.log(`restart: ${outageMs} ms from SIGTERM to the new daemon running; every connection echoing again ${took} ms later`);
    for (const s of [sg, nat, vpn]) expect(s.last, s.name).toMatchObject({ error: null, closed: false });
    // No renegotiation anywhere: the new daemon established nothing, the peer established nothing and saw no tunnel go down.
    expect(events(neu, 'ike-sa-established')).toEqual([]);
    expect(events(neu, 'child-sa-installed')).toEqual([]);
    expect(await ike(hp, 'ike_sa_restored')).toBe(1);
    expect(await ike(sp, 'ike_sa_established')).toBe(spokeBefore.ike);
    expect(await ike(sp, 'child_sa_installed')).toBe(spokeBefore.child);
    expect(await ike(sp, 'tunnel_down')).toBe(spokeBefore.down);
    expect(spokeSite.daemon!.lines.slice(spokeLines).filter((l) => l.event === 'tunnel-state' || l.event === 'peer-dead')).toEqual([]);
    expect(metricValue(await m(hp), 'vpcd_vpn_tunnel_state')).toBe(1);
  }, 60_000);

  it('the same restart without the state file: the NAT connection is reset and the SG connection gets nothing through', async () => {
    await allEcho(5, 10_000);
    const old = hubSite.daemon!;
    old.signal('SIGTERM');
    expect(await old.exit()).toBe(0);
    expect(existsSync(statePath)).toBe(true);
    rmSync(statePath);
    const neu = await lab.start(hubSite, { VPN_PSK_0: PSK });
    expect(events(neu, 'state-restored')).toEqual([]);
    const sgBefore = sg.last.echoed;
    await until(`the NAT gateway resets the connection it no longer knows (${JSON.stringify(nat.last)})`, () => nat.last.error !== null || nat.last.closed, 20_000);
    expect(nat.last.error).toBe('ECONNRESET');
    // Longer than the restored connections needed to echo again above.
    await sleep(8_000);
    expect(sg.last.echoed, 'no echo without conntrack state').toBe(sgBefore);
  }, 60_000);
});
