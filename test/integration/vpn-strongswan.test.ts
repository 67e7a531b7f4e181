/**
 * The VPN data path against strongSwan (charon 5.9 with userspace ESP,
 * kernel-libipsec): vpcd as the customer gateway of an on-premises site with
 * strongSwan as the VPN gateway (PSK, then certificates), and strongSwan as
 * the customer gateway of a site with vpcd as the VPN gateway. Real hosts on
 * both sides, ping and a 10 MB TCP transfer both ways, and strongSwan's own
 * `swanctl --list-sas` showing the SA.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, nsx, nsxOk, sh, shTry, tcpTransfer, uniquePrefix } from '../helpers/netns.js';
import { describeWith } from '../helpers/needs.js';
import { VpnLab, hubConfig, spokeConfig, randomPort, type HubSpec, type SpokeSpec } from '../helpers/vpn-lab.js';

const PEER = join(ROOT, 'scripts', 'strongswan-peer.sh');
const PSK = 'vpcd-ss-interop-psk-0123456789';

function peer(cmd: string, env: Record<string, string>, timeoutMs = 60_000): { code: number; stdout: string; stderr: string } {
  return shTry(PEER, [cmd, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)], { timeoutMs });
}

async function transfer(fromNs: string, toNs: string, toIp: string, port: number, bytes: number): Promise<{ ok: boolean; peer: string }> {
  const t = await tcpTransfer(fromNs, toNs, toIp, bytes, port, 90);
  return { ok: t.bytes === bytes && t.got === t.sent, peer: t.peer };
}

/**
 * A strongSwan gateway in namespace `ns` on the lab internet (wan/24 on a veth
 * enslaved to inet0) with a LAN (lanGw/24) and one host namespace behind it.
 */
function strongswanSite(ns: string, internet: string, wan: string, lanGw: string, hostNs: string, hostIp: string): void {
  sh('ip', ['netns', 'add', ns]);
  sh('ip', ['netns', 'add', hostNs]);
  for (const n of [ns, hostNs]) {
    sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
    nsxOk(n, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
  }
  sh('ip', ['link', 'add', 'wan0', 'netns', ns, 'type', 'veth', 'peer', 'name', `w${ns.slice(-6)}`, 'netns', internet]);
  sh('ip', ['-n', internet, 'link', 'set', `w${ns.slice(-6)}`, 'master', 'inet0']);
  sh('ip', ['-n', internet, 'link', 'set', `w${ns.slice(-6)}`, 'up']);
  sh('ip', ['-n', ns, 'addr', 'add', `${wan}/24`, 'dev', 'wan0']);
  sh('ip', ['-n', ns, 'link', 'set', 'wan0', 'up']);
  sh('ip', ['link', 'add', 'lan0', 'netns', ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', hostNs]);
  sh('ip', ['-n', ns, 'addr', 'add', `${lanGw}/24`, 'dev', 'lan0']);
  sh('ip', ['-n', ns, 'link', 'set', 'lan0', 'up']);
  nsxOk(ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  sh('ip', ['-n', hostNs, 'addr', 'add', `${hostIp}/24`, 'dev', 'eth0']);
  sh('ip', ['-n', hostNs, 'link', 'set', 'eth0', 'up']);
  sh('ip', ['-n', hostNs, 'route', 'add', 'default', 'via', lanGw]);
}

describeWith(['root', 'strongswan'], 'vpcd customer gateway <-> strongSwan VPN gateway', () => {
  for (const auth of ['psk', 'cert'] as const) {
    describe(`authentication: ${auth}`, () => {
      const prefix = uniquePrefix();
      const internet = `${prefix}-net`;
      const lab = new VpnLab(prefix);
      const sp = randomPort();
      const ssNs = `${prefix}-ss`, vpcHost = `${prefix}-vpc`;
      const state = `/tmp/vpcd-ss-${prefix}`;
      const ssEnv = {
        SS_NAME: `${prefix}vgw`, SS_NETNS: ssNs, SS_STATE_DIR: state, SS_LOCAL_ADDR: '198.51.100.1', SS_REMOTE_ADDR: '198.51.100.2',
        SS_LOCAL_TS: '198.18.0.0/16', SS_REMOTE_TS: '198.19.0.0/20', SS_INSTALL_ROUTES: 'yes', SS_AUTH: auth, SS_PSK: PSK, SS_DPD_DELAY: '5s',
      };
      const hub: HubSpec = { tunnels: [{ local: '198.51.100.1' }] };
      const spoke: SpokeSpec = { cidr: '198.19.0.0/20', subnet: '198.19.1.0/24', host: '198.19.1.10', wan: '198.51.100.2' };
      let site: ReturnType<VpnLab['add']>;

      beforeAll(async () => {
        let y = spokeConfig(prefix, 0, internet, sp, hub, spoke);
        site = lab.add('cgw', y, sp);
        lab.up();
        strongswanSite(ssNs, internet, '198.51.100.1', '198.18.1.1', vpcHost, '198.18.1.10');
        const up = peer('up', ssEnv);
        expect(up.code, up.stderr).toBe(0);
        if (auth === 'cert') {
          y = y.replace('auth: { psk: { env: VPN_PSK } }', `auth: { certificate: { cert: ${state}/pki/peer.crt, key: ${state}/pki/peer.key, ca: ${state}/pki/ca.crt } }`);
          lab.rewrite(site, y);
        }
        await lab.start(site, { VPN_PSK: PSK });
        const w = peer('wait', { ...ssEnv, SS_TIMEOUT: '20' });
        expect(w.code, `${w.stderr}\n${JSON.stringify(site.daemon!.lines.slice(-8))}`).toBe(0);
      });

      afterAll(async () => {
        peer('down', ssEnv);
        await lab.down();
        for (const n of [ssNs, vpcHost]) shTry('ip', ['netns', 'del', n]);
        rmSync(state, { recursive: true, force: true });
      });

      it('strongSwan lists the SA as installed; vpcd logs it', async () => {
        const st = peer('status', ssEnv);
        expect(st.stdout).toMatch(/ESTABLISHED/);
        expect(st.stdout).toMatch(/INSTALLED/);
        expect(st.stdout).toMatch(/198\.19\.0\.0\/20/);
        await site.daemon!.waitFor((l) => l.event === 'child-sa-installed', 5000);
      });

      it('ping both ways between the on-premises host and the VPC host', () => {
        expect(nsx(`${prefix}s0-host`, ['ping', '-c', '3', '-i', '0.3', '-W', '2', '198.18.1.10']).code).toBe(0);
        expect(nsx(vpcHost, ['ping', '-c', '3', '-i', '0.3', '-W', '2', '198.19.1.10']).code).toBe(0);
      });

      it('a 10 MB TCP transfer each way arrives byte for byte', async () => {
        const a = await transfer(`${prefix}s0-host`, vpcHost, '198.18.1.10', 7501, 10 << 20);
        expect(a.ok, a.peer).toBe(true);
        expect(a.peer).toBe('198.19.1.10');
        const b = await transfer(vpcHost, `${prefix}s0-host`, '198.19.1.10', 7502, 10 << 20);
        expect(b.ok, b.peer).toBe(true);
      });
    });
  }
});

describeWith(['root', 'strongswan'], 'strongSwan customer gateway -> vpcd VPN gateway', () => {
  const prefix = uniquePrefix();
  const internet = `${prefix}-net`;
  const lab = new VpnLab(prefix);
  const hp = randomPort();
  const ssNs = `${prefix}-ss`, onprem = `${prefix}-onp`;
  const state = `/tmp/vpcd-ss-${prefix}`;
  const ssEnv = {
    SS_NAME: `${prefix}cgw`, SS_NETNS: ssNs, SS_STATE_DIR: state, SS_LOCAL_ADDR: '198.51.100.2', SS_REMOTE_ADDR: '198.51.100.1',
    SS_LOCAL_TS: '198.19.0.0/20', SS_REMOTE_TS: '198.18.0.0/16', SS_INSTALL_ROUTES: 'yes', SS_PSK: PSK, SS_START_ACTION: 'start',
    SS_CERT_LOCAL_NAME: 'cgw.vpcd.test', SS_CERT_REMOTE_NAME: 'vgw.vpcd.test',
  };
  const hub: HubSpec = { tunnels: [{ local: '198.51.100.1' }] };
  const spoke: SpokeSpec = { cidr: '198.19.0.0/20', subnet: '198.19.1.0/24', host: '198.19.1.10', wan: '198.51.100.2' };

  beforeAll(async () => {
    const site = lab.add('vgw', hubConfig(prefix, internet, hp, hub, [spoke]), hp);
    lab.up();
    await lab.start(site, { VPN_PSK_0: PSK });
    strongswanSite(ssNs, internet, '198.51.100.2', '198.19.1.1', onprem, '198.19.1.10');
    const up = peer('up', ssEnv);
    expect(up.code, up.stderr).toBe(0);
    const w = peer('wait', { ...ssEnv, SS_TIMEOUT: '20' });
    expect(w.code, w.stderr).toBe(0);
  });

  afterAll(async () => {
    peer('down', ssEnv);
    await lab.down();
    for (const n of [ssNs, onprem]) shTry('ip', ['netns', 'del', n]);
    rmSync(state, { recursive: true, force: true });
  });

  it('strongSwan initiates; both list the SA; ping and 10 MB TCP both ways', async () => {
    const st = peer('status', ssEnv);
    expect(st.stdout).toMatch(/INSTALLED/);
    expect(nsx(onprem, ['ping', '-c', '3', '-i', '0.3', '-W', '2', '198.18.1.10']).code).toBe(0);
    expect(nsx(`${prefix}h-srv`, ['ping', '-c', '3', '-i', '0.3', '-W', '2', '198.19.1.10']).code).toBe(0);
    const a = await transfer(onprem, `${prefix}h-srv`, '198.18.1.10', 7601, 10 << 20);
    expect(a.ok, a.peer).toBe(true);
    const b = await transfer(`${prefix}h-srv`, onprem, '198.19.1.10', 7602, 10 << 20);
    expect(b.ok, b.peer).toBe(true);
  });
});
