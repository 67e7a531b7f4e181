/**
 * `vpcd lab status CONFIG`: what the lab made, as it is now: the data-plane
 * and internet namespaces, and per instance its namespace (made or
 * attached), the inside interface with its state and addresses, and the
 * data-plane end of its veth. Read-only.
 */
import type { VpcConfig } from '../control/config-types.js';
import { labNamespaces } from './lab.js';
import { readState, statePath, internetUsers } from './state.js';
import { listNetns, nsExec, pathExec } from './sys.js';
import { instancePlace } from './where.js';

export interface LinkStatus {
  readonly name: string;
  readonly present: boolean;
  readonly up?: boolean;
  readonly addresses?: readonly string[];
}

export interface InstanceStatus {
  readonly instance: string;
  readonly attached: boolean;
  /** The namespace: its name, or what it is attached to. */
  readonly namespace: string;
  readonly namespacePresent: boolean;
  readonly problem?: string;
  readonly link: LinkStatus;
  /** The veth end vpcd opens, in the data-plane namespace. */
  readonly vpcdSide: LinkStatus;
}

export interface LabStatus {
  readonly prefix: string;
  /** up: everything present; down: nothing; partial: some. */
  readonly state: 'up' | 'down' | 'partial';
  readonly stateFile: string | null;
  readonly dataplane: { readonly name: string; readonly present: boolean };
  readonly internet: { readonly name: string; readonly present: boolean; readonly labs: readonly string[] };
  readonly instances: readonly InstanceStatus[];
}

interface IpAddrJson {
  ifname?: string;
  operstate?: string;
  flags?: string[];
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

function link(name: string, json: string): LinkStatus {
  let parsed: IpAddrJson[] = [];
  try {
    parsed = JSON.parse(json === '' ? '[]' : json) as IpAddrJson[];
  } catch {
    parsed = [];
  }
  const l = parsed[0];
  if (l === undefined) return { name, present: false };
  const up = (l.flags ?? []).includes('UP');
  const addresses = (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
  return { name, present: true, up, addresses };
}

export function labStatus(cfg: VpcConfig): LabStatus {
  const names = labNamespaces(cfg);
  const st = readState(cfg.lab.prefix);
  const present = new Set(listNetns());
  const dpPresent = present.has(names.dataplane);
  const instances: InstanceStatus[] = [];
  for (const inst of cfg.instances.values()) {
    const place = instancePlace(cfg, st, inst);
    const vpcdSide = dpPresent
      ? link(inst.interface, nsExec(names.dataplane, ['ip', '-j', 'addr', 'show', 'dev', inst.interface], { ignoreError: true }))
      : { name: inst.interface, present: false };
    if (place.kind === 'named') {
      const nsPresent = present.has(place.ns);
      const l = nsPresent ? link(place.inside, nsExec(place.ns, ['ip', '-j', 'addr', 'show', 'dev', place.inside], { ignoreError: true })) : { name: place.inside, present: false };
      instances.push({ instance: inst.name, attached: false, namespace: place.ns, namespacePresent: nsPresent, link: l, vpcdSide });
    } else {
      const nsPresent = place.path !== undefined;
      const l = nsPresent ? link(place.inside, pathExec(place.path!, ['ip', '-j', 'addr', 'show', 'dev', place.inside], { ignoreError: true })) : { name: place.inside, present: false };
      instances.push({
        instance: inst.name, attached: true, namespace: place.what, namespacePresent: nsPresent,
        ...(place.problem !== undefined ? { problem: place.problem } : {}), link: l, vpcdSide,
      });
    }
  }
  const parts = [dpPresent, ...instances.map((i) => i.link.present && i.vpcdSide.present), ...instances.filter((i) => !i.attached).map((i) => i.namespacePresent)];
  const state = parts.every(Boolean) ? 'up' : parts.some(Boolean) ? 'partial' : 'down';
  return {
    prefix: cfg.lab.prefix,
    state,
    stateFile: st !== undefined ? statePath(cfg.lab.prefix) : null,
    dataplane: { name: names.dataplane, present: dpPresent },
    internet: { name: names.internet, present: present.has(names.internet), labs: internetUsers(names.internet) },
    instances,
  };
}

function showLink(l: LinkStatus): string {
  if (!l.present) return `${l.name} missing`;
  return `${l.name} ${l.up === true ? 'up' : 'down'}`;
}

/** The readable form of `lab status`. */
export function formatLabStatus(s: LabStatus): string {
  const lines = [
    `lab ${s.prefix}: ${s.state}${s.stateFile !== null ? ` (recorded in ${s.stateFile})` : ' (no state file)'}`,
    `  data plane  ${s.dataplane.name}  ${s.dataplane.present ? 'present' : 'missing'}`,
    `  internet    ${s.internet.name}  ${s.internet.present ? 'present' : 'missing'}${s.internet.labs.length > 0 ? ` (labs: ${s.internet.labs.join(', ')})` : ''}`,
    '',
  ];
  const head = ['INSTANCE', 'NAMESPACE', 'LINK', 'ADDRESS', 'VPCD SIDE'];
  const rows = s.instances.map((i) => [
    i.instance,
    `${i.attached ? 'attached: ' : ''}${i.namespace}${i.namespacePresent ? '' : ' (missing)'}`,
    showLink(i.link),
    (i.link.addresses ?? []).join(',') || '-',
    showLink(i.vpcdSide),
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((x, c) => (c === cells.length - 1 ? x : x.padEnd(widths[c]!))).join('  ').trimEnd();
  lines.push(line(head), ...rows.map(line));
  for (const i of s.instances) if (i.problem !== undefined) lines.push(`  ${i.instance}: ${i.problem}`);
  return lines.join('\n');
}
