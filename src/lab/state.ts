/**
 * What `lab up` made, recorded in /run/vpcd/lab-<prefix>.json as it goes, so
 * `lab down` undoes exactly that after a crash or a changed configuration,
 * and `lab status` can show it. The internet namespace may be shared by
 * several labs: each registers itself in /run/vpcd/internet-<name>/<prefix>.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AttachedRecord } from './attach.js';

export const STATE_DIR = '/run/vpcd';

export interface LabState {
  prefix: string;
  /** The namespace holding the interfaces vpcd owns. */
  dataplane: string;
  /** Namespaces the lab created (data plane, instances). */
  namespaces: string[];
  internet: string;
  /** Instances wired into namespaces the lab did not create. */
  attached: AttachedRecord[];
}

export function statePath(prefix: string): string {
  return `${STATE_DIR}/lab-${prefix}.json`;
}

export function saveState(st: LabState): void {
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(statePath(st.prefix), JSON.stringify(st, null, 2));
}

/** The recorded state, or undefined when there is none (or it is torn). */
export function readState(prefix: string): LabState | undefined {
  const p = statePath(prefix);
  if (!existsSync(p)) return undefined;
  try {
    const st = JSON.parse(readFileSync(p, 'utf8')) as Partial<LabState>;
    if (!Array.isArray(st.namespaces) || typeof st.internet !== 'string') return undefined;
    const dataplane = typeof st.dataplane === 'string' ? st.dataplane : st.namespaces[0] ?? `${prefix}-vpcd`;
    return { prefix, dataplane, namespaces: st.namespaces, internet: st.internet, attached: Array.isArray(st.attached) ? st.attached : [] };
  } catch {
    return undefined;
  }
}

export function removeState(prefix: string): void {
  rmSync(statePath(prefix), { force: true });
}

function usersDir(internet: string): string {
  return `${STATE_DIR}/internet-${internet}`;
}

export function addInternetUser(internet: string, prefix: string): void {
  mkdirSync(usersDir(internet), { recursive: true });
  writeFileSync(`${usersDir(internet)}/${prefix}`, '');
}

/** Unregisters `prefix`; returns how many labs still use the internet namespace. */
export function removeInternetUser(internet: string, prefix: string): number {
  const dir = usersDir(internet);
  rmSync(`${dir}/${prefix}`, { force: true });
  const others = existsSync(dir) ? readdirSync(dir) : [];
  if (others.length === 0) rmSync(dir, { recursive: true, force: true });
  return others.length;
}

export function internetUsers(internet: string): string[] {
  const dir = usersDir(internet);
  return existsSync(dir) ? readdirSync(dir) : [];
}
