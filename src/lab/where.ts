/**
 * Where a lab's instance lives: the namespace `lab up` made for it, or the
 * namespace it is attached to (as recorded by `lab up`, else resolved from
 * the configuration now). `lab status` and `lab exec` ask this.
 */
import type { Instance, VpcConfig } from '../control/config-types.js';
import { namespaceId, resolveAttach } from './attach.js';
import type { LabState } from './state.js';

export type Place =
  /** A namespace under /run/netns that the lab made (or the lab internet). */
  | { readonly kind: 'named'; readonly ns: string; readonly what: string; readonly inside: string }
  /** A namespace the lab did not make, reached by a path; `problem` when it cannot be found. */
  | { readonly kind: 'path'; readonly path?: string; readonly what: string; readonly inside: string; readonly problem?: string };

export function instancePlace(cfg: VpcConfig, st: LabState | undefined, inst: Instance): Place {
  const a = inst.attach;
  if (a === undefined) {
    const ns = `${cfg.lab.prefix}-${inst.name}`;
    return { kind: 'named', ns, what: ns, inside: 'eth0' };
  }
  const rec = st?.attached.find((r) => r.instance === inst.name);
  if (rec !== undefined && namespaceId(rec.path) === rec.nsId) {
    return { kind: 'path', path: rec.path, what: rec.what, inside: rec.interface };
  }
  try {
    const r = resolveAttach(a.target);
    return { kind: 'path', path: r.path, what: r.what, inside: a.interface };
  } catch (e) {
    const what = 'pid' in a.target ? `pid ${a.target.pid}` : 'netns' in a.target ? `netns ${a.target.netns}` : `container ${a.target.container}`;
    return { kind: 'path', what, inside: a.interface, problem: (e as Error).message };
  }
}

/** The argv prefix that runs a command in a place (`ip netns exec NS` or `nsenter --net=PATH --`). */
export function execPrefix(p: Place): string[] | undefined {
  if (p.kind === 'named') return ['ip', 'netns', 'exec', p.ns];
  return p.path === undefined ? undefined : ['nsenter', `--net=${p.path}`, '--'];
}
