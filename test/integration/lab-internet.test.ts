/**
 * The lab internet reaches every public address vpcd owns, whatever its
 * range: the internet hosts sit in 203.0.113.0/24, while an instance's
 * public IP and the NAT gateway's Elastic IP are in 198.51.100.0/24, which
 * no address on inet0 covers. The default route on inet0 in the internet
 * namespace makes the hosts ARP for them, and vpcd answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProc, isRoot, nsx, randomPort, uniquePrefix, vpcd, writeTemp } from '../helpers/netns.js';

const prefix = uniquePrefix();
const HOST = '203.0.113.100';

describe.runIf(isRoot)('lab internet: public addresses outside the hosts\' range', () => {
  let cfgPath = '';
  let d: DaemonProc | undefined;
  const inet = `${prefix}-internet`;

  beforeAll(async () => {
    cfgPath = writeTemp('inet.yaml', `
vpc: { name: ${prefix}, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
securityGroups:
  web: { ingress: [ { protocol: icmp, icmpType: 8, cidr: 0.0.0.0/0 } ] }
instances:
  web: { subnet: pub, ip: 198.18.1.10, publicIp: 198.51.100.10, securityGroups: [web] }
  app: { subnet: priv, ip: 198.18.2.10 }
internetGateway: {}
natGateways:
  nat-a: { subnet: pub, ip: 198.18.1.5, publicIp: 198.51.100.5 }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: nat-a } ] }
metrics: { listen: "127.0.0.1:${randomPort()}" }
lab: { prefix: ${prefix}, internetHosts: { h: ${HOST} } }
`);
    const up = vpcd(['lab', 'up', cfgPath]);
    expect(up.code, up.stderr).toBe(0);
    d = new DaemonProc(cfgPath);
    await d.started();
  });

  afterAll(async () => {
    await d?.stop();
    vpcd(['lab', 'down', cfgPath]);
  });

  it('the internet namespace has a default route on inet0', () => {
    expect(nsx(inet, ['ip', 'route', 'show', 'default']).stdout.trim()).toBe('default dev inet0 scope link');
  });

  it('an internet host reaches an instance\'s public IP in another /24 (internet gateway 1:1 NAT)', () => {
    const r = nsx(inet, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '198.51.100.10']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('a private instance reaches an internet host through a NAT gateway whose Elastic IP is in another /24', () => {
    const r = nsx(`${prefix}-app`, ['ping', '-c', '2', '-i', '0.2', '-W', '2', HOST]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const neigh = nsx(inet, ['ip', 'neigh', 'show', '198.51.100.5']).stdout;
    expect(neigh).toMatch(/lladdr/);
  });
});
