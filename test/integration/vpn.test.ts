/**
 * Site-to-site VPN between vpcd daemons on real packets: vpcd as the VPN
 * gateway of a VPC site and as the customer gateway of on-premises sites,
 * over a shared lab internet. Tunnel failover and failback, rekeying under
 * traffic, VPN CloudHub, split vs full tunnel, and hostile input.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, fetchText, metricValue, nsx, nsxOk, sh, shTry, sleep, tcpTransfer, uniquePrefix } from '../helpers/netns.js';
import { VpnLab, hubConfig, spokeConfig, randomPort, type HubSpec, type SpokeSpec } from '../helpers/vpn-lab.js';
import { describeWith } from '../helpers/needs.js';

const PROBE = join(ROOT, 'test', 'helpers', 'probe.mjs');
const PSK = 'vpcd-vpn-test-psk-0123456789';
const SRV = '198.18.1.10';

async function m(port: number): Promise<string> {
  return fetchText(`http://127.0.0.1:${port}/metrics`);
}

/** Polls `cond` every 100 ms until it holds or `timeoutMs` passes; returns whether it held. */
async function until(cond: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  for (const t0 = Date.now(); ;) {
    if (await cond()) return true;
    if (Date.now() - t0 > timeoutMs) return false;
    await sleep(100);
  }
}

async function waitTunnels(port: number, want: number, timeoutMs = 15_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const up = metricValue(await m(port), 'vpcd_vpn_tunnel_state') ?? 0;
    if (up >= want) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`tunnels up: ${up}, wanted ${want}`);
    await sleep(100);
  }
}


async function replayAndTamper(prefix: string, internet: string, onprem: string, hp: number, sp: number): Promise<void> {
  const pcap = `/tmp/${prefix}-esp.pcap`;
  const td = spawn('ip', ['netns', 'exec', internet, 'timeout', '8', 'tcpdump', '-n', '-i', 'inet0', '-c', '1', '-w', pcap,
    'udp dst port 4500 and udp[8:4] != 0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  // tcpdump reports "listening" on stderr once its capture is attached
  await new Promise<void>((res) => td.stderr!.once('data', () => res()));
  const tdExit = new Promise<number | null>((res) => td.on('exit', (code) => res(code)));
  // ping until the capture has its packet (tcpdump -c 1 exits then)
  let captured = false;
  void tdExit.then(() => { captured = true; });
  for (let i = 0; i < 10 && !captured; i++) {
    nsx(onprem, ['ping', '-c', '1', '-W', '1', SRV]);
    await sleep(100);
  }
  expect(await tdExit, 'tcpdump captured an ESP-in-UDP packet').toBe(0);
  const before = await m(hp), beforeSpoke = await m(sp);
  const inject = join(ROOT, 'test', 'helpers', 'inject-esp.py');
  // the attacker sits on the lab internet
  nsxOk(internet, ['ip', 'addr', 'replace', '198.51.100.250/24', 'dev', 'inet0']);
  const r1 = nsx(internet, ['python3', inject, pcap, 'replay']);
  expect(r1.code, r1.stdout + r1.stderr).toBe(0);
  const r2 = nsx(internet, ['python3', inject, pcap, 'tamper']);
  expect(r2.code, r2.stdout + r2.stderr).toBe(0);
  // whichever gateway the captured packet was for counts it: one replay drop and one authentication drop
  const count = (t: string, reason: string) => metricValue(t, 'vpcd_drops_total', { reason }) ?? 0;
  const grown = async (reason: string): Promise<number> => count(await m(hp), reason) - count(before, reason) + count(await m(sp), reason) - count(beforeSpoke, reason);
  expect(await until(async () => (await grown('esp_replay')) >= 1 && (await grown('esp_auth')) >= 1, 5000),
    `esp_replay +${await grown('esp_replay')}, esp_auth +${await grown('esp_auth')}`).toBe(true);
  expect(nsx(onprem, ['ping', '-c', '1', '-W', '2', SRV]).code).toBe(0);
}

describeWith(['root', 'python3', 'tcpdump', 'nft'], 'vpcd customer gateway <-> vpcd VPN gateway: failover, rekey, traffic', () => {
  const prefix = uniquePrefix();
  const internet = `${prefix}-net`;
  const lab = new VpnLab(prefix);
  const hp = randomPort(), sp = randomPort();
  const hub: HubSpec = { tunnels: [{ local: '198.51.100.1' }, { local: '198.51.100.9' }], lifetimes: { ike: 40, esp: 12, dpd: 4 } };
  const spoke: SpokeSpec = { cidr: '198.19.0.0/20', subnet: '198.19.1.0/24', host: '198.19.1.10', wan: '198.51.100.2', lifetimes: { ike: 40, esp: 12, dpd: 4 } };
  const hubSite = lab.add('hub', hubConfig(prefix, internet, hp, hub, [spoke]), hp);
  const spokeSite = lab.add('spoke', spokeConfig(prefix, 0, internet, sp, hub, spoke), sp);
  const onprem = `${prefix}s0-host`, vpcHost = `${prefix}h-srv`;
  const kids: ChildProcess[] = [];

  beforeAll(async () => {
    lab.up();
    await lab.start(hubSite, { VPN_PSK_0: PSK });
    await lab.start(spokeSite, { VPN_PSK: PSK });
    await waitTunnels(sp, 2);
    await waitTunnels(hp, 2);
  });

  afterAll(async () => {
    for (const k of kids) k.kill('SIGKILL');
    shTry('ip', ['netns', 'exec', internet, 'nft', 'delete', 'table', 'bridge', 'vtblock']);
    await lab.down();
  });

  it('carries ping both ways and a 10 MB TCP transfer byte for byte', async () => {
    expect(nsx(onprem, ['ping', '-c', '2', '-i', '0.2', '-W', '2', SRV]).code).toBe(0);
    expect(nsx(vpcHost, ['ping', '-c', '2', '-i', '0.2', '-W', '2', spoke.host]).code).toBe(0);
    const t = await tcpTransfer(onprem, vpcHost, SRV, 10 << 20, 7101);
    expect(t.got).toBe(t.sent);
    expect(t.peer).toBe(spoke.host);
    const back = await tcpTransfer(vpcHost, onprem, spoke.host, 10 << 20, 7102);
    expect(back.got).toBe(back.sent);
  });

  it('logs and counts the SAs; tunnel bytes move; setup time is reported', async () => {
    const text = await m(sp);
    expect(metricValue(text, 'vpcd_vpn_tunnel_bytes_total', { connection: 'to-aws', tunnel: '0', direction: 'out' })).toBeGreaterThan(10 << 20);
    expect(metricValue(text, 'vpcd_vpn_tunnel_setup_seconds', { tunnel: '0' })).toBeGreaterThan(0);
    expect(spokeSite.daemon!.lines.some((l) => l.event === 'child-sa-installed')).toBe(true);
    // never a key or a PSK in a log line
    const all = JSON.stringify(spokeSite.daemon!.lines) + JSON.stringify(hubSite.daemon!.lines);
    expect(all).not.toContain(PSK);
  });

  it('rekeys CHILD_SAs (lifetime 12 s) while a TCP connection carries traffic, without losing it', async () => {
    const srv = spawn('ip', ['netns', 'exec', vpcHost, process.execPath, PROBE, 'tcp-serve', SRV, '7200', '60'], { stdio: ['ignore', 'ignore', 'pipe'] });
    kids.push(srv);
    await new Promise<void>((res) => srv.stderr!.once('data', () => res()));
    const before = metricValue(await m(sp), 'vpcd_vpn_ike_events_total', { event: 'child_sa_installed' }) ?? 0;
    const r = nsx(onprem, [process.execPath, PROBE, 'tcp-hold', SRV, '7200', '18', '50'], { timeoutMs: 40_000 });
    const o = JSON.parse(r.stdout) as { sent: number; echoed: number; error: string | null };
    expect(o.error).toBeNull();
    expect(o.sent).toBeGreaterThan(200);
    expect(o.echoed).toBeGreaterThanOrEqual(o.sent - 1);
    const after = metricValue(await m(sp), 'vpcd_vpn_ike_events_total', { event: 'child_sa_installed' }) ?? 0;
    expect(after - before).toBeGreaterThanOrEqual(2); // at least one rekey of each tunnel's CHILD_SA
  });

  it('fails over to the standby tunnel when the active one dies (DPD), and fails back when it returns', async () => {
    const srv = spawn('ip', ['netns', 'exec', vpcHost, process.execPath, PROBE, 'tcp-serve', SRV, '7300', '90'], { stdio: ['ignore', 'ignore', 'pipe'] });
    kids.push(srv);
    await new Promise<void>((res) => srv.stderr!.once('data', () => res()));
    const hold = spawn('ip', ['netns', 'exec', onprem, process.execPath, PROBE, 'tcp-hold', SRV, '7300', '30', '100'], { stdio: ['ignore', 'pipe', 'pipe'] });
    kids.push(hold);
    let out = '';
    hold.stdout!.on('data', (x: Buffer) => { out += x.toString(); });
    await new Promise<void>((res) => hold.stderr!.once('data', () => res()));
    // the held connection runs over the active tunnel 0 before it dies
    const t0Start = metricValue(await m(sp), 'vpcd_vpn_tunnel_bytes_total', { tunnel: '0', direction: 'out' }) ?? 0;
    expect(await until(async () => (metricValue(await m(sp), 'vpcd_vpn_tunnel_bytes_total', { tunnel: '0', direction: 'out' }) ?? 0) > t0Start, 5000)).toBe(true);
    const t1Before = metricValue(await m(sp), 'vpcd_vpn_tunnel_bytes_total', { tunnel: '1', direction: 'out' }) ?? 0;
    // The active tunnel's far end goes away: the internet drops everything to and from 198.51.100.1.
    sh('ip', ['netns', 'exec', internet, 'nft', '-f', '-'], { input: 'table bridge vtblock {\n chain f {\n  type filter hook forward priority 0; policy accept;\n  ip saddr 198.51.100.1 drop\n  ip daddr 198.51.100.1 drop\n }\n}\n' });
    const t0 = Date.now();
    let downAt = 0;
    while (Date.now() - t0 < 20_000) {
      const st = metricValue(await m(sp), 'vpcd_vpn_tunnel_state', { tunnel: '0' });
      if (st === 0) { downAt = Date.now() - t0; break; }
      await sleep(200);
    }
    expect(downAt, `tunnel 0 declared dead; spoke log: ${JSON.stringify(spokeSite.daemon!.lines.slice(-12))}`).toBeGreaterThan(0);
    // Within DPD's delay plus its timeout (12 s at most from the last packet received), plus the timer's tick
    // and this loop's 200 ms scrape of /metrics.
    expect(downAt).toBeLessThan(4000 * 3 + 1500);
    // Traffic moves to the standby: a ping goes through it at once (the held TCP connection may be in
    // retransmission back-off for a few seconds, so the probe does not rely on it).
    let moved = false, pinged = false;
    for (const t1 = Date.now(); Date.now() - t1 < 20_000 && !(moved && pinged);) {
      pinged = nsx(onprem, ['ping', '-c', '1', '-W', '1', SRV]).code === 0;
      moved = (metricValue(await m(sp), 'vpcd_vpn_tunnel_bytes_total', { tunnel: '1', direction: 'out' }) ?? 0) > t1Before;
    }
    expect(moved, 'traffic on the standby tunnel').toBe(true);
    expect(pinged, 'ping through the standby tunnel').toBe(true);
    // the far end returns: the customer gateway reconnects and traffic goes back to tunnel 0
    sh('ip', ['netns', 'exec', internet, 'nft', 'delete', 'table', 'bridge', 'vtblock']);
    await waitTunnels(sp, 2, 30_000);
    const t0Back = metricValue(await m(sp), 'vpcd_vpn_tunnel_bytes_total', { tunnel: '0', direction: 'out' }) ?? 0;
    let back = false;
    for (const t2 = Date.now(); Date.now() - t2 < 15_000 && !back;) {
      nsx(onprem, ['ping', '-c', '1', '-W', '1', SRV]);
      back = (metricValue(await m(sp), 'vpcd_vpn_tunnel_bytes_total', { tunnel: '0', direction: 'out' }) ?? 0) > t0Back;
    }
    expect(back, 'traffic back on tunnel 0').toBe(true);
    await new Promise<void>((res) => hold.on('exit', () => res()));
    const o = JSON.parse(out) as { sent: number; echoed: number; error: string | null };
    expect(o.error).toBeNull();
    expect(o.echoed).toBeGreaterThan(o.sent / 2);
  });

  it('counts and survives garbage and truncated IKE datagrams; other tunnels unaffected', async () => {
    const inject = join(ROOT, 'test', 'helpers', 'inject-udp.py');
    const dropped = (t: string, reason: string): number => metricValue(t, 'vpcd_ike_datagrams_dropped_total', { reason }) ?? 0;
    // the attacker sits on the lab internet
    nsxOk(internet, ['ip', 'addr', 'replace', '198.51.100.250/24', 'dev', 'inet0']);
    const before = await m(hp);
    const garbage = ['00', 'ffffffffffffffffffffffffffffffff', '0011223344556677' + '00'.repeat(20) + '2120082200000000000000ff'];
    // from an address that is no peer: dropped before any parsing
    for (const payload of garbage) {
      const r = nsx(internet, ['python3', inject, '198.51.100.250', '500', '198.51.100.1', '500', payload]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    // from the peer's address (spoofed): reaches the peer's IKE session, which refuses it
    for (const payload of garbage) {
      const r = nsx(internet, ['python3', inject, spoke.wan, '500', '198.51.100.1', '500', payload]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    let after = before;
    const refused = (t: string): number => dropped(t, 'malformed') + dropped(t, 'refused');
    const counted = await until(async () => {
      after = await m(hp);
      return dropped(after, 'unknown_peer') - dropped(before, 'unknown_peer') >= garbage.length && refused(after) - refused(before) >= garbage.length;
    }, 5000);
    expect(counted, `unknown_peer +${dropped(after, 'unknown_peer') - dropped(before, 'unknown_peer')}, malformed/refused +${refused(after) - refused(before)}`).toBe(true);
    expect(dropped(after, 'session_error')).toBe(dropped(before, 'session_error'));
    expect(metricValue(after, 'vpcd_vpn_tunnel_state')).toBe(metricValue(before, 'vpcd_vpn_tunnel_state'));
    expect(nsx(onprem, ['ping', '-c', '1', '-W', '2', SRV]).code).toBe(0);
    expect(hubSite.daemon!.proc.exitCode).toBeNull();
  });
});

describeWith(['root', 'python3', 'tcpdump', 'nft'], 'VPN CloudHub: two customer gateways on one VPN gateway, spoke to spoke', () => {
  const prefix = uniquePrefix();
  const internet = `${prefix}-net`;
  const lab = new VpnLab(prefix);
  const hp = randomPort(), s0p = randomPort(), s1p = randomPort();
  const hub: HubSpec = { tunnels: [{ local: '198.51.100.1' }] };
  const s0: SpokeSpec = { cidr: '198.19.0.0/20', subnet: '198.19.1.0/24', host: '198.19.1.10', wan: '198.51.100.2', viaHub: ['198.19.16.0/20'] };
  const s1: SpokeSpec = { cidr: '198.19.16.0/20', subnet: '198.19.17.0/24', host: '198.19.17.10', wan: '198.51.100.3', viaHub: ['198.19.0.0/20'] };
  const hubSite = lab.add('hub', hubConfig(prefix, internet, hp, hub, [s0, s1]), hp);
  const a = lab.add('s0', spokeConfig(prefix, 0, internet, s0p, hub, s0), s0p);
  const b = lab.add('s1', spokeConfig(prefix, 1, internet, s1p, hub, s1), s1p);

  beforeAll(async () => {
    lab.up();
    await lab.start(hubSite, { VPN_PSK_0: PSK, VPN_PSK_1: `${PSK}-b` });
    await lab.start(a, { VPN_PSK: PSK });
    await lab.start(b, { VPN_PSK: `${PSK}-b` });
    await waitTunnels(hp, 2);
  });
  afterAll(() => lab.down());

  it('refuses a replayed ESP packet and a tampered one, counted; the tunnel keeps working', async () => {
    await replayAndTamper(prefix, internet, `${prefix}s0-host`, hp, s0p);
  });

  it('each site reaches the VPC, and the two sites reach each other through the hub', async () => {
    expect(nsx(`${prefix}s0-host`, ['ping', '-c', '2', '-i', '0.2', '-W', '2', SRV]).code).toBe(0);
    expect(nsx(`${prefix}s1-host`, ['ping', '-c', '2', '-i', '0.2', '-W', '2', SRV]).code).toBe(0);
    const r = nsx(`${prefix}s0-host`, ['ping', '-c', '3', '-i', '0.2', '-W', '2', s1.host]);
    expect(r.code, r.stdout).toBe(0);
    const t = await tcpTransfer(`${prefix}s0-host`, `${prefix}s1-host`, s1.host, 2 << 20, 7400);
    expect(t.got).toBe(t.sent);
    expect(t.peer).toBe(s0.host);
    // the hub carried it: bytes out on the hub's tunnel to site 1 include site 0's transfer
    expect(metricValue(await m(hp), 'vpcd_vpn_tunnel_bytes_total', { connection: 'to-site1', direction: 'out' })).toBeGreaterThan(2 << 20);
  });
});

describeWith(['root', 'python3', 'tcpdump', 'nft'], 'split tunnel vs full tunnel; wrong PSK', () => {
  const prefix = uniquePrefix();
  const internet = `${prefix}-net`;
  const lab = new VpnLab(prefix);
  const hp = randomPort(), sp = randomPort(), fp = randomPort(), wp = randomPort(), mp = randomPort();
  const hub: HubSpec = { tunnels: [{ local: '198.51.100.1' }] };
  const split: SpokeSpec = { cidr: '198.19.0.0/20', subnet: '198.19.1.0/24', host: '198.19.1.10', wan: '198.51.100.2', splitTunnel: true, publicIp: '203.0.113.50' };
  const full: SpokeSpec = { cidr: '198.19.16.0/20', subnet: '198.19.17.0/24', host: '198.19.17.10', wan: '198.51.100.3', splitTunnel: false };
  const wrong: SpokeSpec = { cidr: '198.19.32.0/20', subnet: '198.19.33.0/24', host: '198.19.33.10', wan: '198.51.100.4' };
  const mismatch: SpokeSpec = { cidr: '198.19.48.0/20', subnet: '198.19.49.0/24', host: '198.19.49.10', wan: '198.51.100.5',
    lifetimes: { ike: 28800, esp: 3600, dpd: 30 }, proposals: { ike: 'aes128gcm16-prfsha256-ecp256', esp: 'aes128gcm16-ecp256' } };
  const hubSite = lab.add('hub', hubConfig(prefix, internet, hp, hub, [split, full, wrong, mismatch]), hp);
  const sSite = lab.add('split', spokeConfig(prefix, 0, internet, sp, hub, split).replace('internetHosts', 'internetHosts') + '', sp);
  const fSite = lab.add('full', spokeConfig(prefix, 1, internet, fp, hub, full), fp);
  const wSite = lab.add('wrong', spokeConfig(prefix, 2, internet, wp, hub, wrong), wp);
  const mSite = lab.add('mismatch', spokeConfig(prefix, 3, internet, mp, hub, mismatch), mp);
  const kids: ChildProcess[] = [];

  beforeAll(async () => {
    lab.up();
    nsxOk(internet, ['ip', 'addr', 'add', '203.0.113.100/24', 'dev', 'inet0']);
    await lab.start(hubSite, { VPN_PSK_0: PSK, VPN_PSK_1: PSK, VPN_PSK_2: PSK, VPN_PSK_3: PSK });
    await lab.start(sSite, { VPN_PSK: PSK });
    await lab.start(fSite, { VPN_PSK: PSK });
    await lab.start(wSite, { VPN_PSK: 'not-the-right-psk-0000' });
    await lab.start(mSite, { VPN_PSK: PSK });
    await waitTunnels(hp, 2);
    const srv = spawn('ip', ['netns', 'exec', internet, process.execPath, PROBE, 'udp-serve', '203.0.113.100', '5353', '60'], { stdio: ['ignore', 'ignore', 'pipe'] });
    kids.push(srv);
    await new Promise<void>((res) => srv.stderr!.once('data', () => res()));
  });
  afterAll(async () => {
    for (const k of kids) k.kill('SIGKILL');
    await lab.down();
  });

  it('split tunnel: an internet host is reached directly through the site\'s own internet gateway, not the tunnel', async () => {
    const before = metricValue(await m(sp), 'vpcd_vpn_tunnel_bytes_total', { direction: 'out' }) ?? 0;
    const r = nsx(`${prefix}s0-host`, [process.execPath, PROBE, 'udp-request', '203.0.113.100', '5353', '2000']);
    expect(r.code, r.stdout).toBe(0);
    expect((JSON.parse(r.stdout) as { reply: string }).reply.startsWith('203.0.113.50:')).toBe(true);
    expect(metricValue(await m(sp), 'vpcd_vpn_tunnel_bytes_total', { direction: 'out' }) ?? 0).toBe(before);
    // ...while the VPC goes through the tunnel
    expect(nsx(`${prefix}s0-host`, ['ping', '-c', '1', '-W', '2', SRV]).code).toBe(0);
  });

  it('full tunnel: the same packet enters the tunnel (and the VPN gateway, which has no route for it, drops it)', async () => {
    const before = metricValue(await m(fp), 'vpcd_vpn_tunnel_bytes_total', { direction: 'out' }) ?? 0;
    const hubNoRoute = metricValue(await m(hp), 'vpcd_drops_total', { reason: 'no_route' }) ?? 0;
    const r = nsx(`${prefix}s1-host`, [process.execPath, PROBE, 'udp-request', '203.0.113.100', '5353', '800']);
    expect(r.code).not.toBe(0);
    expect(metricValue(await m(fp), 'vpcd_vpn_tunnel_bytes_total', { direction: 'out' }) ?? 0).toBeGreaterThan(before);
    expect(metricValue(await m(hp), 'vpcd_drops_total', { reason: 'no_route' }) ?? 0).toBeGreaterThan(hubNoRoute);
    expect(nsx(`${prefix}s1-host`, ['ping', '-c', '1', '-W', '2', SRV]).code).toBe(0);
  });

  it('a wrong pre-shared key is refused with a log line and a counter; the other tunnels keep working', async () => {
    // the VPN gateway logs the failed authentication of the connection with the wrong key, and only of it
    const line = await hubSite.daemon!.waitFor((l) => l.event === 'refused-auth_failed', 20_000);
    expect(line.connection).toBe('to-site2');
    expect(hubSite.daemon!.lines.filter((l) => l.event === 'refused-auth_failed' && l.connection !== 'to-site2')).toEqual([]);
    const text = await m(hp);
    expect(metricValue(text, 'vpcd_vpn_ike_events_total', { event: 'refused_auth_failed' })).toBeGreaterThan(0);
    expect(metricValue(text, 'vpcd_vpn_tunnel_state', { connection: 'to-site2' })).toBe(0);
    expect(metricValue(text, 'vpcd_vpn_tunnel_state', { connection: 'to-site0' })).toBe(1);
    expect(hubSite.daemon!.proc.exitCode).toBeNull();
    expect(wSite.daemon!.proc.exitCode).toBeNull();
  });

  it('mismatched proposals are refused (NO_PROPOSAL_CHOSEN) with a log line and a counter; the daemon keeps running', async () => {
    const t0 = Date.now();
    let seen = false;
    while (!seen && Date.now() - t0 < 8000) {
      seen = mSite.daemon!.lines.some((l) => typeof l.msg === 'string' && /NO_PROPOSAL_CHOSEN|no proposal/i.test(l.msg));
      await sleep(200);
    }
    expect(seen, JSON.stringify(mSite.daemon!.lines.slice(-8))).toBe(true);
    expect(metricValue(await m(hp), 'vpcd_vpn_tunnel_state', { connection: 'to-site3' })).toBe(0);
    const ev = await m(mp);
    // the refusal's own log event is counted under its name (not just any IKE event)
    const refusal = mSite.daemon!.lines.find((l) => typeof l.msg === 'string' && /NO_PROPOSAL_CHOSEN|no proposal/i.test(l.msg))!;
    expect(typeof refusal.event, JSON.stringify(refusal)).toBe('string');
    expect(metricValue(ev, 'vpcd_vpn_ike_events_total', { event: String(refusal.event).replaceAll('-', '_') }) ?? 0, JSON.stringify(refusal)).toBeGreaterThan(0);
    expect(metricValue(await m(hp), 'vpcd_vpn_tunnel_state', { connection: 'to-site0' })).toBe(1);
    expect(mSite.daemon!.proc.exitCode).toBeNull();
  });
});

describeWith(['root', 'python3', 'tcpdump', 'nft'], 'Direct Connect stand-in preferred over the VPN while up', () => {
  const prefix = uniquePrefix();
  const internet = `${prefix}-net`;
  const lab = new VpnLab(prefix);
  const hp = randomPort(), sp = randomPort();
  const hub: HubSpec = { tunnels: [{ local: '198.51.100.1' }] };
  const spoke: SpokeSpec = { cidr: '198.19.0.0/20', subnet: '198.19.1.0/24', host: '198.19.1.10', wan: '198.51.100.2' };
  const hubSite = lab.add('hub', hubConfig(prefix, internet, hp, hub, [spoke]).replace('vpnGateway: { name: vgw, asn: 64512 }',
    'vpnGateway: { name: vgw, asn: 64512, directConnect: { ip: 169.254.100.1, peer: 169.254.100.2, remoteNetworks: [198.19.0.0/20] } }'), hp);
  const spokeSite = lab.add('spoke', spokeConfig(prefix, 0, internet, sp, hub, spoke).replace('wan: { ip: 198.51.100.2 } }',
    'wan: { ip: 198.51.100.2 }, directConnect: { ip: 169.254.100.2, peer: 169.254.100.1, remoteNetworks: [198.18.0.0/16] } }'), sp);

  beforeAll(async () => {
    lab.up();
    await lab.start(hubSite, { VPN_PSK_0: PSK });
    await lab.start(spokeSite, { VPN_PSK: PSK });
    await waitTunnels(sp, 1);
    const t0 = Date.now();
    while ((metricValue(await m(sp), 'vpcd_direct_connect_state') ?? 0) < 1 || (metricValue(await m(hp), 'vpcd_direct_connect_state') ?? 0) < 1) {
      if (Date.now() - t0 > 10_000) throw new Error('direct connect link never came up');
      await sleep(200);
    }
  });
  afterAll(() => lab.down());

  it('carries traffic over the link, falls back to the VPN when the link goes down, and returns to it', async () => {
    const { internetSideIfName } = await import('../../src/lab/lab.js');
    const dxOut = async () => metricValue(await m(sp), 'vpcd_direct_connect_packets_total', { direction: 'out' }) ?? 0;
    const vpnOut = async () => metricValue(await m(sp), 'vpcd_vpn_tunnel_packets_total', { direction: 'out' }) ?? 0;
    let d0 = await dxOut(), v0 = await vpnOut();
    expect(nsx(`${prefix}s0-host`, ['ping', '-c', '3', '-i', '0.2', '-W', '2', SRV]).code).toBe(0);
    expect(await dxOut()).toBeGreaterThanOrEqual(d0 + 3);
    expect(await vpnOut()).toBe(v0);
    // the link fails
    const port = internetSideIfName(`${prefix}s0`, 'dx');
    nsxOk(internet, ['ip', 'link', 'set', port, 'down']);
    // declared down once no hello arrived for its 3 s window (bounded wait for the condition)
    const dxState = async (p: number): Promise<number | undefined> => metricValue(await m(p), 'vpcd_direct_connect_state');
    expect(await until(async () => (await dxState(sp)) === 0, 10_000), 'direct connect declared down').toBe(true);
    d0 = await dxOut(); v0 = await vpnOut();
    expect(nsx(`${prefix}s0-host`, ['ping', '-c', '3', '-i', '0.2', '-W', '2', SRV]).code).toBe(0);
    expect(await vpnOut()).toBeGreaterThanOrEqual(v0 + 3);
    expect(await dxOut()).toBe(d0);
    // and comes back
    nsxOk(internet, ['ip', 'link', 'set', port, 'up']);
    expect(await until(async () => (await dxState(sp)) === 1 && (await dxState(hp)) === 1, 10_000), 'direct connect up again').toBe(true);
    d0 = await dxOut();
    expect(nsx(`${prefix}s0-host`, ['ping', '-c', '2', '-i', '0.2', '-W', '2', SRV]).code).toBe(0);
    expect(await dxOut()).toBeGreaterThanOrEqual(d0 + 2);
  });
});

describeWith(['root', 'python3', 'tcpdump', 'nft'], 'private NAT gateway towards the VPN gateway', () => {
  const prefix = uniquePrefix();
  const internet = `${prefix}-net`;
  const lab = new VpnLab(prefix);
  const hp = randomPort(), sp = randomPort();
  const hub: HubSpec = { tunnels: [{ local: '198.51.100.1' }] };
  const spoke: SpokeSpec = { cidr: '198.19.0.0/20', subnet: '198.19.1.0/24', host: '198.19.1.10', wan: '198.51.100.2' };
  const hubYaml = hubConfig(prefix, internet, hp, hub, [spoke])
    .replace('  app: { cidr: 198.18.1.0/24, routeTable: rt }', '  app: { cidr: 198.18.1.0/24, routeTable: rt }\n  transit: { cidr: 198.18.2.0/24, routeTable: rt-nat }')
    .replace('  rt: { routes: [ { destination: 198.19.0.0/16, target: vgw } ] }',
      '  rt: { routes: [ { destination: 198.19.0.0/16, target: nat-p } ] }\n  rt-nat: { routes: [ { destination: 198.19.0.0/16, target: vgw } ] }\nnatGateways:\n  nat-p: { subnet: transit, type: private, ip: 198.18.2.5 }');
  const hubSite = lab.add('hub', hubYaml, hp);
  const spokeSite = lab.add('spoke', spokeConfig(prefix, 0, internet, sp, hub, spoke), sp);

  beforeAll(async () => {
    lab.up();
    await lab.start(hubSite, { VPN_PSK_0: PSK });
    await lab.start(spokeSite, { VPN_PSK: PSK });
    await waitTunnels(sp, 1);
  });
  afterAll(() => lab.down());

  it('the on-premises host sees the NAT gateway\'s private address; TCP and ping work; counted per gateway', async () => {
    const t = await tcpTransfer(`${prefix}h-srv`, `${prefix}s0-host`, spoke.host, 1 << 20, 7700);
    expect(t.got).toBe(t.sent);
    expect(t.peer).toBe('198.18.2.5');
    expect(nsx(`${prefix}h-srv`, ['ping', '-c', '2', '-i', '0.2', '-W', '2', spoke.host]).code).toBe(0);
    const text = await m(hp);
    expect(metricValue(text, 'vpcd_nat_gateway_connections_established_total', { gateway: 'nat-p' })).toBeGreaterThan(0);
    // and nothing from on-premises can open a connection to the private instance through it
    expect(nsx(`${prefix}s0-host`, ['ping', '-c', '1', '-W', '1', '198.18.2.5']).code).not.toBe(0);
  });
});
