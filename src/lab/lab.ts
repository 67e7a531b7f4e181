/**
 * `vpcd lab up|down CONFIG`: the network-namespace test bed (interfaces.md, "Lab conventions").
 *
 *   <prefix>-<instance>   one namespace per instance: eth0 with the instance's MAC and
 *                         address, default route via the subnet's router (.1)
 *   <prefix>-vpcd         the daemon side: the peer of every eth0 (named by
 *                         labInstanceIfName), opened by `vpcd run` with AF_PACKET
 *   <lab.internet>        the "internet": bridge inet0 with the internet hosts'
 *                         addresses; the IGW uplink's veth is enslaved to it
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
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../control/config.js';
import { ConfigError, type VpcConfig } from '../control/config-types.js';
import { parseCidr4, formatIpv4 } from '../lib/ipv4.js';
import { fnv1a32, labUplinkIfName } from './names.js';

const STATE_DIR = '/run/vpcd';

export interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

interface LabState {
  prefix: string;
  namespaces: string[];
  internet: string;
}

function ip(args: string[], opts: { ignoreError?: boolean } = {}): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (opts.ignoreError) return '';
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${(err.stderr ?? err.message).trim()}`);
  }
}

function nsExec(ns: string, cmd: string[], opts: { ignoreError?: boolean } = {}): string {
  return ip(['netns', 'exec', ns, ...cmd], opts);
}

function sysctl(ns: string, kv: string): void {
  nsExec(ns, ['sysctl', '-qw', kv], { ignoreError: true });
}

export function listNetns(): string[] {
  if (!existsSync('/run/netns')) return [];
  return readdirSync('/run/netns');
}

function addNetns(name: string): void {
  if (!listNetns().includes(name)) ip(['netns', 'add', name]);
  nsExec(name, ['ip', 'link', 'set', 'lo', 'up']);
  // No IPv6 chatter (DAD, router solicitations) in the lab: tests stay deterministic.
  sysctl(name, 'net.ipv6.conf.all.disable_ipv6=1');
  sysctl(name, 'net.ipv6.conf.default.disable_ipv6=1');
}

function delNetns(name: string): void {
  if (!listNetns().includes(name)) return;
  // Processes a test left in the namespace (servers, peers) go with it.
  const pids = ip(['netns', 'pids', name], { ignoreError: true }).split(/\s+/).filter(Boolean);
  for (const p of pids) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  ip(['netns', 'del', name], { ignoreError: true });
}

/** Namespace names a config implies. */
export function labNamespaces(cfg: VpcConfig): { instances: string[]; dataplane: string; internet: string } {
  const prefix = cfg.lab.prefix;
  return {
    instances: [...cfg.instances.keys()].map((n) => `${prefix}-${n}`),
    dataplane: cfg.dataplane.netns ?? `${prefix}-vpcd`,
    internet: cfg.lab.internet,
  };
}

function statePath(prefix: string): string {
  return `${STATE_DIR}/lab-${prefix}.json`;
}

function internetUsersDir(internet: string): string {
  return `${STATE_DIR}/internet-${internet}`;
}

/** The veth end that joins the lab internet for a lab (in the internet namespace). */
export function internetSideIfName(prefix: string, what: string): string {
  return `ui${fnv1a32(`${prefix}/${what}`).toString(16).padStart(8, '0')}`;
}

export function labUp(cfg: VpcConfig, out: Out): void {
  const prefix = cfg.lab.prefix;
  const names = labNamespaces(cfg);
  // Idempotent: a previous lab of the same prefix is removed first.
  labDownByPrefix(prefix, cfg, out, true);
  mkdirSync(STATE_DIR, { recursive: true });
  const state: LabState = { prefix, namespaces: [], internet: names.internet };
  const save = () => writeFileSync(statePath(prefix), JSON.stringify(state, null, 2));
  save();

  addNetns(names.dataplane);
  state.namespaces.push(names.dataplane);
  save();

  const subnets = cfg.subnets;
  for (const inst of cfg.instances.values()) {
    const ns = `${prefix}-${inst.name}`;
    addNetns(ns);
    state.namespaces.push(ns);
    save();
    const subnet = subnets.get(inst.subnet)!;
    const c = parseCidr4(subnet.cidr);
    const router = formatIpv4((c.net + 1) >>> 0);
    ip(['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', inst.interface, 'netns', names.dataplane]);
    nsExec(ns, ['ip', 'link', 'set', 'eth0', 'address', inst.mac]);
    nsExec(ns, ['ip', 'addr', 'add', `${inst.ip}/${c.len}`, 'dev', 'eth0']);
    nsExec(ns, ['ip', 'link', 'set', 'eth0', 'up']);
    nsExec(ns, ['ip', 'route', 'add', 'default', 'via', router, 'dev', 'eth0']);
    nsExec(names.dataplane, ['ip', 'link', 'set', inst.interface, 'up']);
    if (!cfg.dataplane.vnetHeader) {
      // Plain frames: the instance must send full checksums and no super-frames.
      nsExec(ns, ['ethtool', '-K', 'eth0', 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'], { ignoreError: true });
      nsExec(names.dataplane, ['ethtool', '-K', inst.interface, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'], { ignoreError: true });
    }
    if (inst.natInstance) {
      // A NAT instance is a Linux router: forwarding on, and the kernel's own masquerade.
      sysctl(ns, 'net.ipv4.ip_forward=1');
      const rules = `table ip vpcd_nat {\n chain postrouting {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname "eth0" ip saddr != ${inst.ip} masquerade\n }\n}\n`;
      try {
        execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules, stdio: ['pipe', 'pipe', 'pipe'] });
      } catch (e) {
        throw new Error(`nft masquerade in ${ns}: ${((e as { stderr?: Buffer }).stderr ?? '').toString().trim() || (e as Error).message}`);
      }
      // A masquerading router that hairpins on one interface must not send redirects.
      sysctl(ns, 'net.ipv4.conf.all.send_redirects=0');
      sysctl(ns, 'net.ipv4.conf.eth0.send_redirects=0');
    }
  }

  // The shared internet: bridge inet0 and the hosts' addresses.
  const inet = names.internet;
  const fresh = !listNetns().includes(inet);
  addNetns(inet);
  if (fresh || !nsExec(inet, ['ip', '-o', 'link', 'show', 'inet0'], { ignoreError: true })) {
    nsExec(inet, ['ip', 'link', 'add', 'inet0', 'type', 'bridge']);
    nsExec(inet, ['ip', 'link', 'set', 'inet0', 'up']);
  }
  mkdirSync(internetUsersDir(inet), { recursive: true });
  writeFileSync(`${internetUsersDir(inet)}/${prefix}`, '');
  for (const [host, addr] of Object.entries(cfg.lab.internetHosts)) {
    nsExec(inet, ['ip', 'addr', 'replace', `${addr}/24`, 'dev', 'inet0']);
    void host;
  }
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
      nsExec(inet, ['ethtool', '-K', peer, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'], { ignoreError: true });
      nsExec(names.dataplane, ['ethtool', '-K', up, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'], { ignoreError: true });
    }
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
  }
  save();
  out.stdout(`lab ${prefix}: ${cfg.instances.size} instance namespace(s), data plane in ${names.dataplane}, internet ${inet}`);
}

/** Removes everything the lab of `prefix` made. Safe to call when nothing exists. */
function labDownByPrefix(prefix: string, cfg: VpcConfig | undefined, out: Out, quiet: boolean): void {
  const toDelete = new Set<string>();
  let internet: string | undefined = cfg?.lab.internet;
  const sp = statePath(prefix);
  if (existsSync(sp)) {
    try {
      const st = JSON.parse(readFileSync(sp, 'utf8')) as LabState;
      st.namespaces.forEach((n) => toDelete.add(n));
      internet ??= st.internet;
    } catch {
      // a torn state file: fall back to what the config names
    }
  }
  if (cfg) {
    const names = labNamespaces(cfg);
    names.instances.forEach((n) => toDelete.add(n));
    toDelete.add(names.dataplane);
    // The connections a saved state describes go with the lab (and a new lab starts without them).
    try {
      rmSync(cfg.state.path, { force: true });
    } catch {
      // not a file: `vpcd run` refuses it anyway
    }
  }
  // The internet namespace is never in toDelete: it may be shared.
  if (internet) toDelete.delete(internet);
  for (const ns of toDelete) delNetns(ns);
  if (internet) {
    const users = internetUsersDir(internet);
    rmSync(`${users}/${prefix}`, { force: true });
    if (listNetns().includes(internet)) {
      if (cfg) {
        for (const addr of Object.values(cfg.lab.internetHosts)) {
          nsExec(internet, ['ip', 'addr', 'del', `${addr}/24`, 'dev', 'inet0'], { ignoreError: true });
        }
      }
      const others = existsSync(users) ? readdirSync(users) : [];
      if (others.length === 0) {
        delNetns(internet);
        rmSync(users, { recursive: true, force: true });
      }
    }
  }
  rmSync(sp, { force: true });
  if (!quiet) out.stdout(`lab ${prefix}: removed ${[...toDelete].length} namespace(s)`);
}

export function labDown(cfg: VpcConfig, out: Out): void {
  labDownByPrefix(cfg.lab.prefix, cfg, out, false);
}

/** For `down` with a config that no longer validates: find the prefix with a lenient read. */
function prefixFromBrokenConfig(path: string): string | undefined {
  try {
    const doc = parseYaml(readFileSync(path, 'utf8')) as { lab?: { prefix?: string }; vpc?: { name?: string } };
    return doc?.lab?.prefix ?? doc?.vpc?.name;
  } catch {
    return undefined;
  }
}

export async function runLab(argv: string[], out: Out): Promise<number> {
  const [sub, path, ...extra] = argv;
  if ((sub !== 'up' && sub !== 'down') || !path || extra.length > 0) {
    out.stderr('usage: vpcd lab up|down CONFIG');
    return 1;
  }
  if (process.getuid && process.getuid() !== 0) {
    out.stderr('vpcd lab: needs root (network namespaces)');
    return 2;
  }
  let cfg: VpcConfig;
  try {
    cfg = loadConfig(path);
  } catch (e) {
    if (sub === 'up' || !(e instanceof ConfigError)) {
      out.stderr(e instanceof ConfigError ? e.message : `vpcd lab: ${(e as Error).message}`);
      return 1;
    }
    const prefix = prefixFromBrokenConfig(path);
    if (!prefix) {
      out.stderr(e.message);
      return 1;
    }
    labDownByPrefix(prefix, undefined, out, false);
    return 0;
  }
  try {
    if (sub === 'up') labUp(cfg, out);
    else labDown(cfg, out);
    return 0;
  } catch (e) {
    out.stderr(`vpcd lab ${sub}: ${(e as Error).message}`);
    if (sub === 'up') {
      try {
        labDown(cfg, { stdout: () => {}, stderr: () => {} });
      } catch {
        // best effort
      }
    }
    return 2;
  }
}
