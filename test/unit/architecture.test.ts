/**
 * The layering of src/, read from the imports (type-only imports included):
 * no import cycle between modules; the per-packet path never reaches the
 * control plane (the IKE engine, the configuration loader, the daemon, the
 * CLI, telemetry); the lower folders never import the upper ones.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

const graph = new Map<string, string[]>();
for (const f of files(SRC)) {
  const text = readFileSync(f, 'utf8');
  const deps: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm)) {
    deps.push(relative(SRC, resolve(dirname(f), m[1]!.replace(/\.js$/, '.ts'))));
  }
  graph.set(relative(SRC, f), deps);
}

function reach(from: string): Set<string> {
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length > 0) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const d of graph.get(f) ?? []) stack.push(d);
  }
  return seen;
}

/** Folder ranks: a module may import its own folder and folders of a lower rank. */
const RANK: Record<string, number> = {
  wire: 0, lib: 0,
  pipeline: 1, acl: 2, conntrack: 2, policy: 2, ipsec: 2, nat: 3, vpn: 4, io: 1,
  control: 1, lab: 2, ike: 3, telemetry: 5, cli: 6, import: 5, observe: 2,
};
/** The wiring (it composes every stage) sits on top of the data plane. */
const WIRING = new Set(['pipeline/legs.ts', 'pipeline/dataplane.ts']);
/** The snapshot compiler builds the stages' tables with their own compilers (the stages read only its types). */
const ALLOWED_UP = new Set(['control/compile.ts -> acl/nacl-compile.ts', 'control/compile.ts -> conntrack/sg-compile.ts']);

describe('architecture (imports under src/)', () => {
  it('the graph was read (sanity: the packet path has its modules)', () => {
    expect(graph.has('pipeline/dataplane.ts')).toBe(true);
    expect(reach('pipeline/dataplane.ts').size).toBeGreaterThan(20);
  });

  it('no import cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, number>();
    const path: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 1);
      path.push(f);
      for (const d of graph.get(f) ?? []) {
        if (!graph.has(d)) continue;
        if (state.get(d) === 1) cycles.push([...path.slice(path.indexOf(d)), d].join(' -> '));
        else if (!state.has(d)) visit(d);
      }
      path.pop();
      state.set(f, 2);
    };
    for (const f of graph.keys()) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('the packet path never reaches the IKE engine, the config loader, the daemon, the CLI or telemetry', () => {
    const bad = [...reach('pipeline/dataplane.ts')].filter((f) =>
      f.startsWith('ike/') || f.startsWith('cli/') || f.startsWith('telemetry/') || f === 'daemon.ts' || /^control\/config(?!-types)/.test(f) || f === 'vpn/manager.ts');
    expect(bad).toEqual([]);
  });

  it('imports run down the layers', () => {
    const up: string[] = [];
    for (const [f, deps] of graph) {
      const top = f.split('/')[0]!;
      if (!(top in RANK) || WIRING.has(f)) continue;
      for (const d of deps) {
        const dt = d.split('/')[0]!;
        // lab/names.ts derives names and MACs from a config's names (pure functions): used by every layer.
        if (!(dt in RANK) || dt === top || d === 'lab/names.ts') continue;
        if ((RANK[dt]! > RANK[top]! || WIRING.has(d)) && !ALLOWED_UP.has(`${f} -> ${d}`)) up.push(`${f} -> ${d}`);
      }
    }
    expect(up).toEqual([]);
  });
});
