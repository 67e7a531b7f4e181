/**
 * The containerlab recipe (config/examples/containerlab): no container engine
 * runs where the tests run, so this checks what can be checked without one:
 * the vpcd configuration validates, and the topology agrees with it: every
 * instance's interface and the uplink are links of the vpcd node, and each
 * client's exec lines set the MAC, address and default route (.1 of its
 * subnet) the configuration names for the instance on that link.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../../src/control/config.js';

const DIR = resolve(import.meta.dirname, '../../../config/examples/containerlab');

interface Topo {
  topology: {
    nodes: Record<string, { kind: string; image: string; exec?: string[]; binds?: string[]; entrypoint?: string; 'cap-add'?: string[] }>;
    links: { endpoints: [string, string] }[];
  };
}

describe('containerlab recipe', () => {
  const cfg = loadConfig(join(DIR, 'vpc.yaml'));
  const topo = parse(readFileSync(join(DIR, 'vpcd.clab.yml'), 'utf8')) as Topo;
  /** vpcd's interface -> the other end `node:iface`. */
  const peers = new Map<string, string>();
  for (const l of topo.topology.links) {
    const [a, b] = l.endpoints;
    if (a.startsWith('vpcd:')) peers.set(a.slice(5), b);
    if (b.startsWith('vpcd:')) peers.set(b.slice(5), a);
  }

  it('the configuration validates and runs vpcd in its own namespace (no lab section)', () => {
    expect(cfg.dataplane.netns).toBeUndefined();
    expect(cfg.instances.size).toBeGreaterThan(0);
  });

  it('the vpcd node mounts the configuration and the start script, with the capabilities vpcd needs', () => {
    const n = topo.topology.nodes.vpcd!;
    expect(n.binds).toEqual(expect.arrayContaining(['vpc.yaml:/etc/vpcd/vpc.yaml:ro', 'start-vpcd.sh:/etc/vpcd/start-vpcd.sh:ro']));
    expect(n['cap-add']).toEqual(expect.arrayContaining(['NET_ADMIN', 'NET_RAW']));
    expect(readFileSync(join(DIR, 'start-vpcd.sh'), 'utf8')).toContain('/opt/vpcd/bin/vpcd run /etc/vpcd/vpc.yaml');
  });

  it('each instance\'s interface is a link whose client sets the instance\'s MAC, address and route via .1', () => {
    for (const inst of cfg.instances.values()) {
      const peer = peers.get(inst.interface);
      expect(peer, `vpcd:${inst.interface} (instance ${inst.name}) is not a link`).toBeDefined();
      const [node, iface] = peer!.split(':') as [string, string];
      const exec = topo.topology.nodes[node]!.exec ?? [];
      const sub = cfg.subnets.get(inst.subnet)!;
      const [net, len] = sub.cidr.split('/') as [string, string];
      const router = net.replace(/\.0$/, '.1');
      expect(exec).toContain(`ip link set ${iface} address ${inst.mac}`);
      expect(exec).toContain(`ip addr add ${inst.ip}/${len} dev ${iface}`);
      expect(exec).toContain(`ip route replace default via ${router} dev ${iface}`);
    }
  });

  it('the uplink is a link to the internet node, whose address is outside the VPC', () => {
    const peer = peers.get(cfg.internetGateway!.interface);
    expect(peer).toBe('internet:eth1');
    expect(topo.topology.nodes.internet!.exec).toContain('ip addr add 203.0.113.100/24 dev eth1');
  });
});
