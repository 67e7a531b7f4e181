/**
 * The layout of src/ike enforced as a test: imports inside the folder
 * (type-only imports included) form no cycle, and no file grows past the
 * ~600-line budget that usually means it holds two responsibilities.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIR = join(import.meta.dirname, '../../../src/ike');
const MAX_LINES = 600;

function sources(): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of readdirSync(DIR)) if (f.endsWith('.ts')) m.set(f, readFileSync(join(DIR, f), 'utf8'));
  return m;
}

/** Local imports and re-exports of each file (`./x.js` -> `x.ts`). */
function importGraph(files: ReadonlyMap<string, string>): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const [f, src] of files) {
    const deps: string[] = [];
    for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+'\.\/([^']+)\.js'/g)) {
      const d = `${m[1]}.ts`;
      if (files.has(d)) deps.push(d);
    }
    g.set(f, deps);
  }
  return g;
}

/** Every cycle found by depth-first search, as a path that ends where it starts. */
function findCycles(g: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 1 | 2>();
  const cycles: string[][] = [];
  const visit = (u: string, path: string[]): void => {
    state.set(u, 1);
    path.push(u);
    for (const v of g.get(u) ?? []) {
      if (state.get(v) === 1) cycles.push([...path.slice(path.indexOf(v)), v]);
      else if (state.get(v) === undefined) visit(v, path);
    }
    path.pop();
    state.set(u, 2);
  };
  for (const f of g.keys()) if (state.get(f) === undefined) visit(f, []);
  return cycles;
}

describe('src/ike layout', () => {
  it('the cycle finder sees a cycle through type-only and multi-line imports', () => {
    const g = importGraph(new Map([
      ['a.ts', "import type { B } from './b.js';\n"],
      ['b.ts', "import {\n  c,\n} from './c.js';\n"],
      ['c.ts', "export { a } from './a.js';\n"],
    ]));
    expect(findCycles(g)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
  });

  it('imports inside src/ike have no cycle', () => {
    const g = importGraph(sources());
    expect(g.get('session.ts')?.length, 'session.ts composes the exchange modules').toBeGreaterThan(5);
    expect(findCycles(g)).toEqual([]);
  });

  it(`no file in src/ike is longer than ${MAX_LINES} lines`, () => {
    const long = [...sources()].map(([f, src]) => ({ f, lines: src.split('\n').length - 1 })).filter((x) => x.lines > MAX_LINES);
    expect(long).toEqual([]);
  });
});
