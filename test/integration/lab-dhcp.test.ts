/**
 * `lab.addressing: dhcp`: `vpcd lab up` leaves the namespaces unaddressed and
 * starts busybox udhcpc in each; once `vpcd run` answers DHCP, every instance
 * has its ENI's address, a default route via its subnet's router and a
 * resolv.conf naming Amazon DNS and the DHCP options' domain, and the
 * instances reach each other. `lab down` removes the client and its files.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { DaemonProc, nsx, randomPort, sleep, uniquePrefix, vpcd, writeTemp } from '../helpers/netns.js';
import { describeWith } from '../helpers/needs.js';

const prefix = uniquePrefix();
const port = randomPort();
const config = `
vpc: { name: ${prefix}, cidr: 198.18.0.0/16 }
subnets:
  a: { cidr: 198.18.1.0/24 }
  b: { cidr: 198.18.2.0/24 }
instances:
  x: { subnet: a, ip: 198.18.1.10 }
  y: { subnet: b, ip: 198.18.2.20 }
dhcpOptions: { domainName: corp.internal, domainNameServers: [AmazonProvidedDNS] }
metrics: { listen: "127.0.0.1:${port}" }
lab: { prefix: ${prefix}, addressing: dhcp }
`;

const addrOf = (ns: string): string => /inet (\S+)/.exec(nsx(ns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']).stdout)?.[1] ?? '';

describeWith(['root', 'busybox'], 'lab.addressing: dhcp', () => {
  let cfgPath = '';
  let d: DaemonProc | undefined;

  beforeAll(async () => {
    cfgPath = writeTemp('lab-dhcp.yaml', config);
    const up = vpcd(['lab', 'up', cfgPath]);
    expect(up.code, up.stderr).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await d?.stop();
    vpcd(['lab', 'down', cfgPath]);
  });

  it('before vpcd runs, the namespaces have no address', () => {
    expect(addrOf(`${prefix}-x`)).toBe('');
    expect(addrOf(`${prefix}-y`)).toBe('');
  });

  it('once vpcd answers DHCP: the ENI address, the default route via .1, resolv.conf from the options; the instances reach each other', async () => {
    d = new DaemonProc(cfgPath);
    await d.started();
    for (const t0 = Date.now(); Date.now() - t0 < 20_000 && (addrOf(`${prefix}-x`) === '' || addrOf(`${prefix}-y`) === ''); ) await sleep(200);
    expect(addrOf(`${prefix}-x`)).toBe('198.18.1.10/24');
    expect(addrOf(`${prefix}-y`)).toBe('198.18.2.20/24');
    expect(nsx(`${prefix}-x`, ['ip', 'route', 'show', 'default']).stdout).toContain('via 198.18.1.1 dev eth0');
    expect(readFileSync(`/etc/netns/${prefix}-x/resolv.conf`, 'utf8')).toBe('search corp.internal\nnameserver 198.18.0.2\n');
    const r = nsx(`${prefix}-x`, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '198.18.2.20']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 40_000);

  it('lab down removes the clients and their files', async () => {
    await d?.stop();
    d = undefined;
    expect(vpcd(['lab', 'down', cfgPath]).code).toBe(0);
    expect(existsSync(`/etc/netns/${prefix}-x`)).toBe(false);
    expect(nsx(`${prefix}-x`, ['true']).code).not.toBe(0);
  });
});
