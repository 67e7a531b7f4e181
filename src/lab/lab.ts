/**
 * `vpcd lab up|down CONFIG`: the network-namespace test bed (interfaces.md, "Lab conventions").
 *
 *   <prefix>-<instance>   one namespace per instance: eth0 with the instance's MAC and
 *                         address, default route via the subnet's router (.1)
 *   <prefix>-vpcd         the daemon side: the peer of every eth0 (named by
 *                         labInstanceIfName), opened by `vpcd run` with AF_PACKET
 *   <lab.internet>        the "internet": bridge inet0 with the internet hosts'
 *                         addresses and a default route (so every public address
 *                         vpcd owns is on-link, whatever its range); the IGW
 *                         uplink's veth is enslaved to it
 *
 * An instance with `attach:` lives in a namespace the lab did not make: the
 * lab adds only a veth to it (attach.ts) and `down` removes only that.
 *
 * veth rather than TAP: AF_PACKET with recvmmsg/sendmmsg batches both ways,
 * TAP needs one read/write per frame (docs/benchmark.md has the figures), and a
 * veth pair outlives a crashed daemon, so labs and daemons restart independently.
 *
 * `up` records what it made in /run/vpcd/lab-<prefix>.json; `down` removes the
 * union of that record and what the config names, so it works after a crash,
 * after the config changed, and when run twice. Both remove the daemon's
 * restart state file (`state.path`): its connections belong to the lab.
 */
import { readFileSync, rmSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { VpcConfig } from '../control/config-types.js';
import { parseCidr4 } from '../lib/ipv4.js';
import { u32ToIp } from '../wire/addr.js';
import { attachInstance, detachInstance, namespaceId, resolveAttach } from './attach.js';
import { fnv1a32, labUplinkIfName, servicePlaneNames } from './names.js';
import { addInternetUser, type LabState, readState, removeInternetUser, removeState, saveState } from './state.js';
import { addNetns, delNetns, ip, listNetns, nsExec, OFFLOADS_OFF, run, sysctl } from './sys.js';
import { startDhcpClient } from './dhcp-client.js';

function hasBusybox(): boolean {
  try {
    run('busybox', ['--help']);
    return true;
  } catch {
    return false;
  }
}

/** Where progress lines go (the CLI prints them on stderr). */
export type Progress = (line: string) => void;

/** Namespace names a config implies: the instances' that the lab creates (not attached ones). */
export function labNamespaces(cfg: VpcConfig): { instances: string[]; dataplane: string; internet: string } {
  const prefix = cfg.lab.prefix;
  return {
    instances: [...cfg.instances.values()].filter((i) => i.attach === undefined).map((i) => `${prefix}-${i.name}`),
    dataplane: cfg.dataplane.netns ?? `${prefix}-vpcd`,
    internet: cfg.lab.internet,
  };
}

/** The veth end that joins the lab internet for a lab (in the internet namespace). */
export function internetSideIfName(prefix: string, what: string): string {
  return `ui${fnv1a32(`${prefix}/${what}`).toString(16).padStart(8, '0')}`;
}

function subnetRouter(cfg: VpcConfig, subnet: string): { len: number; router: string } {
  const c = parseCidr4(cfg.subnets.get(subnet)!.cidr);
  return { len: c.len, router: u32ToIp((c.net + 1) >>> 0) };
}

/** Creates the lab; returns the summary line. Progress lines go to `progress` as each part is made. */
export function labUp(cfg: VpcConfig, progress: Progress = () => {}): string {
  const prefix = cfg.lab.prefix;
  const names = labNamespaces(cfg);
  const say = (s: string) => progress(`lab ${prefix}: ${s}`);
  // Idempotent: a previous lab of the same prefix is removed first.
  if (readState(prefix) !== undefined || listNetns().includes(names.dataplane)) say('removing the previous lab of this prefix');
  labDownByPrefix(prefix, cfg);
  const state: LabState = { prefix, dataplane: names.dataplane, namespaces: [], internet: names.internet, attached: [] };
  const save = () => saveState(state);
  save();

  addNetns(names.dataplane);
  state.namespaces.push(names.dataplane);
  save();
  say(`namespace ${names.dataplane} (the interfaces vpcd owns)`);

  for (const inst of cfg.instances.values()) {
    const { len, router } = subnetRouter(cfg, inst.subnet);
    if (inst.attach !== undefined) {
      const resolved = resolveAttach(inst.attach.target);
      // The lab deletes the namespaces it makes: an attached instance must not live in one of them.
      const own = [names.dataplane, names.internet, ...names.instances].find((n) => namespaceId(`/run/netns/${n}`) === resolved.id);
      if (own !== undefined) throw new Error(`${inst.name}: ${resolved.what} is ${own}, a namespace this lab makes and removes; attach to a namespace of its own`);
      const line = attachInstance(inst, resolved, { dataplane: names.dataplane, prefixLen: len, router, vnetHeader: cfg.dataplane.vnetHeader }, (r) => {
        state.attached.push(r);
        save();
      });
      say(`${inst.name}: attached to ${line}`);
      if (inst.natInstance) say(`${inst.name}: natInstance: the lab sets up masquerade only in namespaces it creates; set it up inside ${resolved.what} yourself`);
      continue;
    }
    const ns = `${prefix}-${inst.name}`;
    addNetns(ns);
    state.namespaces.push(ns);
    save();
    ip(['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', inst.interface, 'netns', names.dataplane]);
    nsExec(ns, ['ip', 'link', 'set', 'eth0', 'address', inst.mac]);
    const dhcp = cfg.lab.addressing === 'dhcp';
    if (!dhcp) nsExec(ns, ['ip', 'addr', 'add', `${inst.ip}/${len}`, 'dev', 'eth0']);
    nsExec(ns, ['ip', 'link', 'set', 'eth0', 'up']);
    if (!dhcp) nsExec(ns, ['ip', 'route', 'add', 'default', 'via', router, 'dev', 'eth0']);
    nsExec(names.dataplane, ['ip', 'link', 'set', inst.interface, 'up']);
    if (!cfg.dataplane.vnetHeader) {
      // Plain frames: the instance must send full checksums and no super-frames.
      nsExec(ns, ['ethtool', '-K', 'eth0', ...OFFLOADS_OFF], { ignoreError: true });
      nsExec(names.dataplane, ['ethtool', '-K', inst.interface, ...OFFLOADS_OFF], { ignoreError: true });
    }
    if (inst.natInstance) {
      // A NAT instance is a Linux router: forwarding on, and the kernel's own masquerade.
      sysctl(ns, 'net.ipv4.ip_forward=1');
      const rules = `table ip vpcd_nat {\n chain postrouting {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname "eth0" ip saddr != ${inst.ip} masquerade\n }\n}\n`;
      try {
        nsExec(ns, ['nft', '-f', '-'], { input: rules });
      } catch (e) {
        throw new Error(`nft masquerade in ${ns}: ${(e as Error).message}`);
      }
      // A masquerading router that hairpins on one interface must not send redirects.
      sysctl(ns, 'net.ipv4.conf.all.send_redirects=0');
      sysctl(ns, 'net.ipv4.conf.eth0.send_redirects=0');
    }
    if (dhcp) {
      if (!hasBusybox()) throw new Error('lab.addressing: dhcp needs busybox (udhcpc): scripts/install-deps.sh installs it');
      startDhcpClient(ns, 'eth0');
    }
    const addr = dhcp ? `eth0 ${inst.mac} addressed by DHCP (busybox udhcpc; ${inst.ip}/${len} once vpcd runs)` : `eth0 ${inst.ip}/${len} ${inst.mac}, default via ${router}`;
    say(`${inst.name}: namespace ${ns}, ${addr}${inst.natInstance ? ', NAT instance (nftables masquerade)' : ''}`);
  }

  // The shared internet: bridge inet0, the hosts' addresses, and a default
  // route on inet0, so every public address vpcd owns is reachable (ARPed
  // for on inet0) whatever its range.
  const inet = names.internet;
  const fresh = !listNetns().includes(inet);
  addNetns(inet);
  if (fresh || !nsExec(inet, ['ip', '-o', 'link', 'show', 'inet0'], { ignoreError: true })) {
    nsExec(inet, ['ip', 'link', 'add', 'inet0', 'type', 'bridge']);
    nsExec(inet, ['ip', 'link', 'set', 'inet0', 'up']);
  }
  nsExec(inet, ['ip', 'route', 'replace', 'default', 'dev', 'inet0']);
  addInternetUser(inet, prefix);
  for (const addr of Object.values(cfg.lab.internetHosts)) {
    nsExec(inet, ['ip', 'addr', 'replace', `${addr}/24`, 'dev', 'inet0']);
  }
  const hosts = Object.entries(cfg.lab.internetHosts).map(([h, a]) => `${h} ${a}`);
  say(`internet ${inet}${fresh ? '' : ' (shared)'}: bridge inet0, default route on inet0${hosts.length > 0 ? `, hosts ${hosts.join(', ')}` : ''}`);
  // The internet gateway's uplink / the VPN WAN: a veth from the daemon side to inet0.
  const up = cfg.internetGateway?.interface ?? cfg.customerGateway?.wan.interface ??
    (cfg.vpnConnections.size > 0 ? labUplinkIfName(prefix) : undefined);
  if (up) {
    const peer = internetSideIfName(prefix, 'igw');
    ip(['link', 'add', up, 'netns', names.dataplane, 'type', 'veth', 'peer', 'name', peer, 'netns', inet]);
    nsExec(inet, ['ip', 'link', 'set', peer, 'master', 'inet0']);
    nsExec(inet, ['ip', 'link', 'set', peer, 'up']);
    nsExec(names.dataplane, ['ip', 'link', 'set', up, 'up']);
    if (!cfg.dataplane.vnetHeader) {
      nsExec(inet, ['ethtool', '-K', peer, ...OFFLOADS_OFF], { ignoreError: true });
      nsExec(names.dataplane, ['ethtool', '-K', up, ...OFFLOADS_OFF], { ignoreError: true });
    }
    say(`uplink ${up} (in ${names.dataplane}) joined to inet0`);
  }
  // A Direct Connect stand-in: both sites' link ends join bridge dx0 in the lab internet namespace.
  const dx = cfg.vpnGateway?.directConnect ?? cfg.customerGateway?.directConnect;
  if (dx) {
    if (!nsExec(inet, ['ip', '-o', 'link', 'show', 'dx0'], { ignoreError: true })) {
      nsExec(inet, ['ip', 'link', 'add', 'dx0', 'type', 'bridge']);
      nsExec(inet, ['ip', 'link', 'set', 'dx0', 'up']);
    }
    const peer = internetSideIfName(prefix, 'dx');
    ip(['link', 'add', dx.interface, 'netns', names.dataplane, 'type', 'veth', 'peer', 'name', peer, 'netns', inet]);
    nsExec(inet, ['ip', 'link', 'set', peer, 'master', 'dx0']);
    nsExec(inet, ['ip', 'link', 'set', peer, 'up']);
    nsExec(names.dataplane, ['ip', 'link', 'set', dx.interface, 'up']);
    say(`Direct Connect link ${dx.interface} joined to dx0`);
  }
  save();
  const attached = state.attached.length;
  return `lab ${prefix}: ${cfg.instances.size - attached} instance namespace(s)${attached > 0 ? `, ${attached} attached instance(s)` : ''}, data plane in ${names.dataplane}, internet ${inet}`;
}

/**
 * Removes everything the lab of `prefix` made: the union of its state file
 * and what the config names. Attached instances lose their veth (and with
 * it what lab up added inside); their namespaces stay. Safe to call when
 * nothing exists. Returns the summary line.
 */
export function labDownByPrefix(prefix: string, cfg: VpcConfig | undefined, progress: Progress = () => {}): string {
  const st = readState(prefix);
  const names = cfg !== undefined ? labNamespaces(cfg) : undefined;
  const internet = st?.internet ?? names?.internet;
  const dataplane = st?.dataplane ?? names?.dataplane;
  const toDelete = new Set<string>([...(st?.namespaces ?? []), ...(names?.instances ?? []), ...(names !== undefined ? [names.dataplane] : [])]);
  if (cfg) {
    // A service namespace a crashed `vpcd run` of this file left behind (a clean stop removes its own).
    delNetns(servicePlaneNames(cfg.file).netns);
    // The connections a saved state describes go with the lab (and a new lab starts without them).
    try {
      rmSync(cfg.state.path, { force: true });
    } catch {
      // not a file: `vpcd run` refuses it anyway
    }
  }
  // The internet namespace is never in toDelete: it may be shared.
  if (internet) toDelete.delete(internet);
  // Attached instances first, while the data-plane namespace holds their veth
  // ends: deleting an end there is synchronous and takes the inside end with it
  // (a namespace deletion would free them later, asynchronously).
  const present = new Set(listNetns());
  const attached = st?.attached ?? [];
  const peers = new Set(attached.map((r) => r.peer));
  for (const inst of cfg?.instances.values() ?? []) if (inst.attach !== undefined) peers.add(inst.interface);
  if (dataplane !== undefined) {
    for (const peer of peers) detachInstance(peer, dataplane, present.has(dataplane));
  }
  for (const r of attached) progress(`lab ${prefix}: ${r.instance}: removed ${r.interface} from ${r.what} (the namespace stays)`);
  for (const ns of toDelete) delNetns(ns);
  if (internet) {
    if (listNetns().includes(internet)) {
      for (const addr of Object.values(cfg?.lab.internetHosts ?? {})) {
        nsExec(internet, ['ip', 'addr', 'del', `${addr}/24`, 'dev', 'inet0'], { ignoreError: true });
      }
    }
    const others = removeInternetUser(internet, prefix);
    if (others === 0) delNetns(internet);
  }
  removeState(prefix);
  return `lab ${prefix}: removed ${toDelete.size} namespace(s)${attached.length > 0 ? `, detached ${attached.length} instance(s)` : ''}`;
}

export function labDown(cfg: VpcConfig, progress: Progress = () => {}): string {
  return labDownByPrefix(cfg.lab.prefix, cfg, progress);
}

/** For `down` with a config that no longer validates: find the prefix with a lenient read. */
export function prefixFromBrokenConfig(path: string): string | undefined {
  try {
    const doc = parseYaml(readFileSync(path, 'utf8')) as { lab?: { prefix?: string }; vpc?: { name?: string } };
    return doc?.lab?.prefix ?? doc?.vpc?.name;
  } catch {
    return undefined;
  }
}
