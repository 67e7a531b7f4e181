/**
 * Instances in namespaces vpcd did not create (`instances.<name>.attach`):
 * find the namespace (a pid, a name under /run/netns, a path, or a
 * container through the docker or podman CLI), and wire the instance into
 * it with one veth whose other end is the instance's data-plane interface.
 *
 * What `attach` adds to the namespace: the inside end of the veth (address,
 * MAC, up, no IPv6 link-local address) and routes through it: a default
 * route via the subnet's router, or, when the namespace has a default route
 * of its own, 0.0.0.0/1 and 128.0.0.0/1 via the router, which win by being
 * more specific and leave the namespace's own route untouched. All of it
 * lives on the veth, so deleting the veth (from the data-plane side, which
 * takes both ends) removes exactly what was added: nothing is ever restored
 * or deleted inside the namespace by name, and a namespace that is gone
 * (a stopped container) needs nothing undone.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { AttachTarget, Instance } from '../control/config-types.js';
import { ip, nsExec, OFFLOADS_OFF, pathExec, run } from './sys.js';

/** A namespace found for an attached instance. */
export interface ResolvedNamespace {
  /** What the file said, for messages: `pid 4242`, `netns web`, `container clab-demo-web1 (pid 4242)`. */
  readonly what: string;
  /** A path to the namespace file. */
  readonly path: string;
  /** `dev:inode` of the namespace: the same namespace whatever path reaches it. */
  readonly id: string;
}

/** What `lab up` records per attached instance in the lab's state file. */
export interface AttachedRecord {
  readonly instance: string;
  readonly what: string;
  readonly path: string;
  readonly nsId: string;
  /** The veth end inside the namespace. */
  readonly interface: string;
  /** The veth end in the data-plane namespace (the instance's interface). */
  readonly peer: string;
}

/** `dev:inode` of a namespace file, or undefined when it does not exist. */
export function namespaceId(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

function onPath(cmd: string, pathVar: string | undefined): boolean {
  for (const dir of (pathVar ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** The pid of a running container, asking docker then podman (whichever is installed). */
export function containerPid(name: string, env: NodeJS.ProcessEnv = process.env): number {
  const tried: string[] = [];
  for (const cli of ['docker', 'podman']) {
    if (!onPath(cli, env.PATH)) continue;
    let text: string;
    try {
      text = run(cli, ['inspect', '-f', '{{.State.Pid}}', name]).trim();
    } catch (e) {
      tried.push((e as Error).message.split('\n')[0]!);
      continue;
    }
    const pid = Number(text);
    if (!/^[0-9]+$/.test(text)) {
      tried.push(`${cli} inspect printed ${JSON.stringify(text)}, not a pid`);
      continue;
    }
    if (pid === 0) throw new Error(`container ${name} is not running (${cli} inspect: pid 0)`);
    return pid;
  }
  if (tried.length === 0) throw new Error(`container ${name}: neither docker nor podman is on PATH`);
  throw new Error(`container ${name}: ${tried.join('; ')}`);
}

/** Finds the namespace of an attach target; throws when it does not exist. */
export function resolveAttach(target: AttachTarget, env: NodeJS.ProcessEnv = process.env): ResolvedNamespace {
  let what: string;
  let path: string;
  if ('pid' in target) {
    what = `pid ${target.pid}`;
    path = `/proc/${target.pid}/ns/net`;
  } else if ('netns' in target) {
    what = `netns ${target.netns}`;
    path = target.netns.startsWith('/') ? target.netns : `/run/netns/${target.netns}`;
  } else {
    const pid = containerPid(target.container, env);
    what = `container ${target.container} (pid ${pid})`;
    path = `/proc/${pid}/ns/net`;
  }
  const id = namespaceId(path);
  if (id === undefined) throw new Error(`${what}: no network namespace at ${path}`);
  if (id === namespaceId('/proc/self/ns/net')) {
    throw new Error(`${what}: ${path} is the namespace vpcd lab runs in; an attached instance needs a namespace of its own`);
  }
  return { what, path, id };
}

export interface AttachEnv {
  readonly dataplane: string;
  /** The subnet's prefix length and router (.1). */
  readonly prefixLen: number;
  readonly router: string;
  readonly vnetHeader: boolean;
}

/**
 * Wires one attached instance. `record` is called before anything is
 * created, so a failure half-way is undone by `lab down` like the rest.
 * Returns a line describing what was done.
 */
export function attachInstance(inst: Instance, ns: ResolvedNamespace, env: AttachEnv, record: (r: AttachedRecord) => void): string {
  const a = inst.attach!;
  const inside = a.interface;
  if (pathExec(ns.path, ['ip', '-o', 'link', 'show', 'dev', inside], { ignoreError: true }) !== '') {
    throw new Error(`${ns.what}: the namespace has an interface ${inside} already; choose another with attach.interface`);
  }
  const hasDefault = pathExec(ns.path, ['ip', 'route', 'show', 'default']).trim() !== '';
  record({ instance: inst.name, what: ns.what, path: ns.path, nsId: ns.id, interface: inside, peer: inst.interface });
  ip(['link', 'add', inside, 'netns', ns.path, 'type', 'veth', 'peer', 'name', inst.interface, 'netns', env.dataplane]);
  pathExec(ns.path, ['ip', 'link', 'set', 'dev', inside, 'address', inst.mac]);
  // No IPv6 link-local address: the instance sends no IPv6 (DAD, router solicitations) to vpcd.
  pathExec(ns.path, ['ip', 'link', 'set', 'dev', inside, 'addrgenmode', 'none'], { ignoreError: true });
  pathExec(ns.path, ['ip', 'addr', 'add', `${inst.ip}/${env.prefixLen}`, 'dev', inside]);
  pathExec(ns.path, ['ip', 'link', 'set', 'dev', inside, 'up']);
  if (!env.vnetHeader) {
    pathExec(ns.path, ['ethtool', '-K', inside, ...OFFLOADS_OFF], { ignoreError: true });
    nsExec(env.dataplane, ['ethtool', '-K', inst.interface, ...OFFLOADS_OFF], { ignoreError: true });
  }
  ip(['-n', env.dataplane, 'link', 'set', 'dev', inst.interface, 'up']);
  let routes = 'no default route';
  if (a.defaultRoute && !hasDefault) {
    pathExec(ns.path, ['ip', 'route', 'add', 'default', 'via', env.router, 'dev', inside]);
    routes = `default via ${env.router}`;
  } else if (a.defaultRoute) {
    pathExec(ns.path, ['ip', 'route', 'add', '0.0.0.0/1', 'via', env.router, 'dev', inside]);
    pathExec(ns.path, ['ip', 'route', 'add', '128.0.0.0/1', 'via', env.router, 'dev', inside]);
    routes = `0.0.0.0/1 and 128.0.0.0/1 via ${env.router} (the namespace's own default route stays, unused)`;
  }
  return `${ns.what}: ${inside} ${inst.ip}/${env.prefixLen} ${inst.mac}, ${routes}`;
}

/**
 * Undoes one attached instance: deletes its veth from the data-plane side
 * (`peer`, the instance's interface), which removes the inside end with its
 * address and routes. Nothing inside the namespace is touched by name. Safe
 * when the veth or either namespace is gone.
 */
export function detachInstance(peer: string, dataplane: string, dataplaneExists: boolean): void {
  if (!dataplaneExists) return;
  ip(['-n', dataplane, 'link', 'del', 'dev', peer], { ignoreError: true });
}
