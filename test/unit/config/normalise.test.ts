/** What the loader fills in: defaults, implicit objects, canonical forms. */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, loadConfig, parseConfig } from '../../../src/control/config.js';
import { PROTO } from '../../../src/control/config-types.js';
import { instanceMac, labInstanceIfName, labUplinkIfName } from '../../../src/lab/names.js';

function doc(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

const MIN = ['vpc:', '  name: demo', '  cidr: 198.18.0.0/16'].join('\n');

describe('defaults', () => {
  it('a minimal file gets every default', () => {
    const c = parseConfig(MIN, 'min.yaml');
    expect(c.file).toBe('min.yaml');
    expect(c.vpc).toEqual({ name: 'demo', cidr: '198.18.0.0/16', accountId: '123456789012' });
    expect(c.subnets.size).toBe(0);
    expect(c.instances.size).toBe(0);
    expect(c.natGateways.size).toBe(0);
    expect(c.vpnConnections.size).toBe(0);
    expect(c.prefixLists.size).toBe(0);
    expect(c.internetGateway).toBeUndefined();
    expect(c.vpnGateway).toBeUndefined();
    expect(c.customerGateway).toBeUndefined();
    expect(c.flowLogs).toBeUndefined();
    expect(c.conntrack).toEqual({
      max: 262144,
      timeouts: { tcpEstablished: 432000, tcp: 60, udp: 30, udpStream: 180, icmp: 60, other: 600 },
    });
    expect(c.metrics).toEqual({ listen: '127.0.0.1:9469' });
    expect(c.lab).toEqual({ prefix: 'demo', internet: 'demo-internet', internetHosts: {} });
    expect(c.dataplane).toEqual({ batch: 64, vnetHeader: true });
    expect('netns' in c.dataplane).toBe(false);
    expect(c.warnings).toBeUndefined();
  });

  it('implicit default NACL, default security group and main route table', () => {
    const c = parseConfig(MIN, 'min.yaml');
    const allowAll = { rule: 100, action: 'allow', protocol: PROTO.ALL, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' };
    expect(c.networkAcls.get('default')).toEqual({ name: 'default', inbound: [allowAll], outbound: [allowAll] });
    expect(c.securityGroups.get('default')).toEqual({
      name: 'default',
      ingress: [{ index: 0, protocol: -1, icmpType: -1, icmpCode: -1, group: 'default' }],
      egress: [{ index: 0, protocol: -1, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' }],
    });
    expect(c.routeTables.get('main')).toEqual({ name: 'main', routes: [] });
  });

  it('a file may redefine default and main', () => {
    const c = parseConfig(doc(MIN,
      'networkAcls: { default: { inbound: [ { rule: 5, action: deny, protocol: all, cidr: 0.0.0.0/0 } ] } }',
      'securityGroups: { default: { ingress: [] } }',
      'routeTables: { main: { routes: [ { destination: 0.0.0.0/0, target: igw } ] } }',
      'internetGateway: {}'), 'f.yaml');
    expect(c.networkAcls.get('default')?.inbound.map((r) => r.rule)).toEqual([5]);
    expect(c.networkAcls.get('default')?.outbound).toEqual([]);
    expect(c.securityGroups.get('default')?.ingress).toEqual([]);
    // A group's omitted egress is AWS's new-group default: all outbound.
    expect(c.securityGroups.get('default')?.egress).toEqual([{ index: 0, protocol: -1, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' }]);
    expect(c.routeTables.get('main')?.routes).toEqual([{ destination: '0.0.0.0/0', target: 'igw', targetKind: 'igw' }]);
    expect([...c.networkAcls.keys()]).toEqual(['default']);
  });

  it('subnets, instances, gateways', () => {
    const c = parseConfig(doc(MIN,
      'subnets: { a: { cidr: 198.18.1.0/24 } }',
      'instances: { web-1: { subnet: a, ip: 198.18.1.10 } }',
      'internetGateway:',
      'natGateways: { n: { subnet: a, ip: 198.18.1.5, publicIp: 203.0.113.5 } }',
      'vpnGateway:',
      'customerGateway: { wan: { ip: 198.51.100.2 } }'), 'f.yaml');
    expect(c.subnets.get('a')).toEqual({ name: 'a', cidr: '198.18.1.0/24', routeTable: 'main', networkAcl: 'default' });
    expect(c.instances.get('web-1')).toEqual({
      name: 'web-1', subnet: 'a', ip: '198.18.1.10', securityGroups: ['default'],
      sourceDestCheck: true, natInstance: false,
      mac: instanceMac('demo', 'web-1'), interface: labInstanceIfName('demo', 'web-1'),
    });
    expect(c.internetGateway).toEqual({ name: 'igw', interface: labUplinkIfName('demo') });
    expect(c.natGateways.get('n')).toEqual({
      name: 'n', subnet: 'a', type: 'public', ip: '198.18.1.5', publicIp: '203.0.113.5',
      maxConnectionsPerDestination: 55000, idleTimeout: 350,
    });
    expect(c.vpnGateway).toEqual({ name: 'vgw', asn: 64512 });
    expect(c.customerGateway).toEqual({ name: 'cgw', asn: 65000, wan: { ip: '198.51.100.2', interface: labUplinkIfName('demo') } });
  });

  it('lab prefix drives namespace, interface and internet names; dataplane.netns only with a lab section', () => {
    const c = parseConfig(doc(MIN,
      'subnets: { a: { cidr: 198.18.1.0/24 } }',
      'instances: { i: { subnet: a, ip: 198.18.1.10 } }',
      'internetGateway: {}',
      'lab: { prefix: vt01 }'), 'f.yaml');
    expect(c.lab).toEqual({ prefix: 'vt01', internet: 'vt01-internet', internetHosts: {} });
    expect(c.dataplane).toEqual({ netns: 'vt01-vpcd', batch: 64, vnetHeader: true });
    expect(c.instances.get('i')?.interface).toBe(labInstanceIfName('vt01', 'i'));
    expect(c.instances.get('i')?.mac).toBe(instanceMac('demo', 'i')); // the MAC follows the VPC, not the lab
    expect(c.internetGateway?.interface).toBe(labUplinkIfName('vt01'));

    const d = parseConfig(doc(MIN, 'lab:', 'dataplane: { netns: mine, batch: 128 }'), 'f.yaml');
    expect(d.lab.prefix).toBe('demo');
    expect(d.dataplane).toEqual({ netns: 'mine', batch: 128, vnetHeader: true });
  });

  it('VPN connection defaults', () => {
    const c = parseConfig(doc(MIN,
      'customerGateway: { wan: { ip: 198.51.100.2 } }',
      'vpnConnections:',
      '  c:',
      '    role: cgw',
      '    remoteNetworks: [198.19.0.0/16]',
      '    auth: { psk: { file: secrets/psk } }',
      '    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.1/30 } ]'), '/etc/vpcd/site.yaml');
    expect(c.vpnConnections.get('c')).toEqual({
      name: 'c', role: 'cgw', remoteNetworks: ['198.19.0.0/16'], localNetworks: ['198.18.0.0/16'], splitTunnel: true,
      auth: { kind: 'psk', psk: { file: '/etc/vpcd/secrets/psk' } },
      tunnels: [{ peer: '198.51.100.1', insideCidr: '169.254.10.0/30', local: '198.51.100.2' }],
      ike: { proposals: [...DEFAULTS.ikeProposals], lifetime: 28800, dpdTimeout: 30 },
      esp: { proposals: [...DEFAULTS.espProposals], lifetime: 3600 },
      allowShortLifetimes: false,
    });
  });

  it('splitTunnel false sends everything through the tunnel', () => {
    const c = parseConfig(doc(MIN,
      'vpnGateway: {}',
      'vpnConnections:',
      '  c: { role: vgw, splitTunnel: false, auth: { psk: { env: K } }, tunnels: [ { peer: 198.51.100.2, insideCidr: 169.254.10.0/30 } ] }'), 'f.yaml');
    expect(c.vpnConnections.get('c')?.remoteNetworks).toEqual(['0.0.0.0/0']);
    expect(c.vpnConnections.get('c')?.tunnels).toEqual([{ peer: '198.51.100.2', insideCidr: '169.254.10.0/30' }]);
  });
});

describe('canonical forms', () => {
  it('CIDRs are canonical and bare addresses become host routes', () => {
    const c = parseConfig(doc('vpc:', '  name: demo', '  cidr: 198.18.7.7/16',
      'subnets: { a: { cidr: 198.18.1.77/24 } }',
      'prefixLists: { p: { cidrs: [203.0.113.5, 198.51.100.9/24] }, q: { cidrs: ["2001:DB8:0:0::1/32"] } }',
      'networkAcls: { n: { inbound: [ { rule: 1, action: allow, protocol: all, cidr: 203.0.113.66 } ] } }',
      'securityGroups: { s: { ingress: [ { protocol: all, cidr: "2001:db8::1" } ] } }',
      'internetGateway: {}',
      'routeTables: { r: { routes: [ { destination: 198.51.100.77/24, target: igw } ] } }'), 'f.yaml');
    expect(c.vpc.cidr).toBe('198.18.0.0/16');
    expect(c.subnets.get('a')?.cidr).toBe('198.18.1.0/24');
    expect(c.prefixLists.get('p')).toEqual({ name: 'p', cidrs: ['203.0.113.5/32', '198.51.100.0/24'] });
    expect(c.prefixLists.get('q')?.cidrs).toEqual(['2001:db8::/32']);
    expect(c.networkAcls.get('n')?.inbound[0]?.cidr).toBe('203.0.113.66/32');
    expect(c.securityGroups.get('s')?.ingress[0]?.cidr).toBe('2001:db8::1/128');
    expect(c.routeTables.get('r')?.routes[0]?.destination).toBe('198.51.100.0/24');
  });

  it('protocols become numbers; ports a range or absent; icmp -1 = all', () => {
    const c = parseConfig(doc(MIN,
      'securityGroups:',
      '  s:',
      '    ingress:',
      '      - { protocol: tcp, ports: 443, cidr: 0.0.0.0/0 }',
      '      - { protocol: udp, ports: "1024-65535", cidr: 0.0.0.0/0 }',
      '      - { protocol: icmp, icmpType: 8, cidr: 0.0.0.0/0 }',
      '      - { protocol: icmpv6, cidr: "::/0" }',
      '      - { protocol: all, cidr: 0.0.0.0/0 }',
      '      - { protocol: -1, cidr: 0.0.0.0/0 }',
      '      - { protocol: 47, cidr: 0.0.0.0/0 }',
      '      - { protocol: "6", cidr: 0.0.0.0/0, description: any tcp }',
      '      - { protocol: tcp, ports: 0, cidr: 0.0.0.0/0 }'), 'f.yaml');
    const r = c.securityGroups.get('s')?.ingress ?? [];
    const strip = r.map(({ pos: _pos, ...x }) => x);
    expect(strip).toEqual([
      { index: 0, protocol: 6, ports: { from: 443, to: 443 }, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' },
      { index: 1, protocol: 17, ports: { from: 1024, to: 65535 }, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' },
      { index: 2, protocol: 1, icmpType: 8, icmpCode: -1, cidr: '0.0.0.0/0' },
      { index: 3, protocol: 58, icmpType: -1, icmpCode: -1, cidr: '::/0' },
      { index: 4, protocol: -1, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' },
      { index: 5, protocol: -1, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' },
      { index: 6, protocol: 47, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' },
      { index: 7, protocol: 6, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0', description: 'any tcp' },
      // AWS: tcp with port 0 means port 0 only, not all ports.
      { index: 8, protocol: 6, ports: { from: 0, to: 0 }, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' },
    ]);
    expect(r[0]?.pos).toEqual({ line: 7, column: 9 });
  });

  it('ports given with protocol all or a non-port protocol are dropped with a warning (AWS ignores them)', () => {
    const c = parseConfig(doc(MIN,
      'networkAcls:',
      '  n:',
      '    inbound:',
      '      - { rule: 100, action: allow, protocol: all, ports: 8080, cidr: 0.0.0.0/0 }',
      '      - { rule: 110, action: allow, protocol: 47, ports: 1-2, cidr: 0.0.0.0/0 }'), 'w.yaml');
    const rules = c.networkAcls.get('n')?.inbound ?? [];
    expect(rules.map((r) => 'ports' in r)).toEqual([false, false]);
    expect(c.warnings?.map((w) => `${w.file}:${w.line}:${w.column}: ${w.message}`)).toEqual([
      'w.yaml:7:52: networkAcls.n.inbound[0].ports: ignored: with protocol all the rule covers all ports (AWS ignores port ranges for protocol all and for protocols other than tcp, udp, icmp and icmpv6)',
      'w.yaml:8:51: networkAcls.n.inbound[1].ports: ignored: with protocol 47 the rule covers all ports (AWS ignores port ranges for protocol all and for protocols other than tcp, udp, icmp and icmpv6)',
    ]);
  });

  it('route targets: igw/vgw by literal or by gateway name, NAT gateways, instances', () => {
    const c = parseConfig(doc(MIN,
      'subnets: { a: { cidr: 198.18.1.0/24 } }',
      'instances: { box: { subnet: a, ip: 198.18.1.10, sourceDestCheck: false, natInstance: true } }',
      'internetGateway: { name: my-igw }',
      'vpnGateway: { name: my-vgw, asn: 65001 }',
      'natGateways: { nat-a: { subnet: a, type: private, ip: 198.18.1.5 } }',
      'routeTables:',
      '  r:',
      '    routes:',
      '      - { destination: 0.0.0.0/0, target: my-igw }',
      '      - { destination: 198.19.0.0/16, target: my-vgw }',
      '      - { destination: 198.19.1.0/24, target: vgw }',
      '      - { destination: 203.0.113.0/24, target: nat-a }',
      '      - { destination: 198.51.100.0/24, target: box }'), 'f.yaml');
    expect(c.routeTables.get('r')?.routes).toEqual([
      { destination: '0.0.0.0/0', target: 'igw', targetKind: 'igw' },
      { destination: '198.19.0.0/16', target: 'vgw', targetKind: 'vgw' },
      { destination: '198.19.1.0/24', target: 'vgw', targetKind: 'vgw' },
      { destination: '203.0.113.0/24', target: 'nat-a', targetKind: 'nat-gateway' },
      { destination: '198.51.100.0/24', target: 'box', targetKind: 'instance' },
    ]);
  });

  it('MACs are lower case; accountId numbers are padded to 12 digits', () => {
    const c = parseConfig(doc('vpc:', '  name: demo', '  cidr: 198.18.0.0/16', '  accountId: 000000000042',
      'subnets: { a: { cidr: 198.18.1.0/24 } }',
      'instances: { i: { subnet: a, ip: 198.18.1.10, mac: "02:AB:CD:EF:00:01" } }'), 'f.yaml');
    expect(c.vpc.accountId).toBe('000000000042');
    expect(c.instances.get('i')?.mac).toBe('02:ab:cd:ef:00:01');
  });

  it('maps keep file order', () => {
    const c = parseConfig(doc(MIN, 'subnets:', '  z: { cidr: 198.18.3.0/24 }', '  a: { cidr: 198.18.1.0/24 }', '  m: { cidr: 198.18.2.0/24 }'), 'f.yaml');
    expect([...c.subnets.keys()]).toEqual(['z', 'a', 'm']);
  });
});

describe('the complete example', () => {
  const file = resolve(import.meta.dirname, '../../../config/examples/full.yaml');

  it('config/examples/full.yaml is valid and uses every section', () => {
    const c = loadConfig(file);
    expect(c.warnings).toBeUndefined();
    expect(c.vpc.name).toBe('demo');
    expect([...c.subnets.keys()]).toEqual(['public-a', 'private-a', 'isolated-a']);
    expect([...c.instances.keys()]).toEqual(['web-1', 'bastion-1', 'nat-1', 'db-1', 'batch-1']);
    expect(c.securityGroups.get('web')?.ingress.map((r) => r.index)).toEqual([0, 1, 2, 3]);
    expect(c.securityGroups.get('db')?.egress).toEqual([]);
    expect(c.securityGroups.get('web')?.egress).toHaveLength(1);
    expect(c.instances.get('bastion-1')).toMatchObject({ mac: '02:00:5e:10:00:0b', interface: 'vbastion1', securityGroups: ['bastion', 'default'] });
    expect(c.natGateways.get('nat-internal')).toMatchObject({ type: 'private', ip: '198.18.2.5' });
    expect(c.internetGateway).toEqual({ name: 'igw', interface: labUplinkIfName('demo'), uplinkIp: '203.0.113.2' });
    expect(c.vpnConnections.get('to-onprem')?.tunnels).toEqual([
      { peer: '198.51.100.20', local: '198.51.100.1', insideCidr: '169.254.10.0/30' },
      { peer: '198.51.100.20', local: '198.51.100.9', insideCidr: '169.254.11.0/30' },
    ]);
    const cert = c.vpnConnections.get('to-branch')?.auth;
    expect(cert).toEqual({
      kind: 'certificate',
      cert: resolve(import.meta.dirname, '../../../config/examples/certs/cgw.pem'),
      key: resolve(import.meta.dirname, '../../../config/examples/certs/cgw.key'),
      ca: resolve(import.meta.dirname, '../../../config/examples/certs/ca.pem'),
    });
    expect(c.flowLogs).toMatchObject({ path: '/var/log/vpcd/flows.log', aggregationInterval: 60, fileFormat: 'text' });
    expect(c.flowLogs!.format).toEqual(['version', 'vpc-id', 'subnet-id', 'instance-id', 'interface-id', 'account-id', 'type', 'srcaddr', 'dstaddr',
      'srcport', 'dstport', 'pkt-srcaddr', 'pkt-dstaddr', 'protocol', 'packets', 'bytes', 'start', 'end', 'action', 'tcp-flags', 'log-status',
      'flow-direction', 'traffic-path']);
    expect(c.dataplane).toEqual({ netns: 'demo-vpcd', batch: 64, vnetHeader: true });
    expect(c.lab.internetHosts).toEqual({ 'web-client': '203.0.113.100', partner: '198.51.100.50' });
  });

  it('the configuration contract example is valid as written', () => {
    const c = loadConfig(resolve(import.meta.dirname, '../../fixtures/config/contract.yaml'));
    expect([...c.subnets.keys()]).toEqual(['public-a', 'private-a']);
    expect(c.vpnGateway).toEqual({ name: 'vgw', asn: 64512 });
    expect(c.customerGateway?.wan.ip).toBe('198.51.100.2');
    expect(c.vpnConnections.get('to-aws')?.tunnels.map((t) => t.local)).toEqual(['198.51.100.2', '198.51.100.2']);
    // Its remote network is this file's own vpc.cidr (the example shows both sites in one file).
    expect(c.warnings?.map((w) => w.message)).toEqual([
      'vpnConnections.to-aws.remoteNetworks[0]: 198.18.0.0/16 is inside vpc.cidr 198.18.0.0/16; traffic to it takes the local route, not the tunnel',
    ]);
  });
});
