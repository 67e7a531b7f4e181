/**
 * Positioned issue collection and YAML node helpers for the configuration
 * loader: `Ctx` collects errors and warnings at byte offsets and sorts them
 * into file order; `V` is one value of the YAML tree with its dotted path and
 * the offset to point at; mapping/list readers report unknown keys (with a
 * did-you-mean), missing required keys and wrong container types.
 */
import { type Document, isAlias, isMap, isNode, isScalar, isSeq, LineCounter, type Node } from 'yaml';
import type { ConfigIssue, SourcePos } from './config-types.js';
import { NAME_RE } from './config-defaults.js';

// ---------------------------------------------------------------------------
// Issue collection and positions

export class Ctx {
  readonly issues: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];
  private readonly order = new WeakMap<ConfigIssue, number>();
  constructor(
    readonly file: string,
    private readonly lc: LineCounter,
    readonly doc: Document,
  ) {}

  pos(offset: number): SourcePos {
    const p = this.lc.linePos(Math.max(0, offset));
    return { line: p.line, column: p.col };
  }

  error(offset: number, message: string): void {
    this.push(this.issues, offset, message);
  }

  warn(offset: number, message: string): void {
    this.push(this.warnings, offset, message);
  }

  private push(list: ConfigIssue[], offset: number, message: string): void {
    const p = this.pos(offset);
    const issue: ConfigIssue = { file: this.file, line: p.line, column: p.column, message };
    this.order.set(issue, offset);
    list.push(issue);
  }

  sortedIssues(): ConfigIssue[] {
    return sortIssues(this.issues, this.order);
  }

  sortedWarnings(): ConfigIssue[] {
    return sortIssues(this.warnings, this.order);
  }
}

function sortIssues(list: readonly ConfigIssue[], order: WeakMap<ConfigIssue, number>): ConfigIssue[] {
  // Stable sort by position; issues at one position keep the order they were found in.
  return list
    .map((issue, i) => ({ issue, i, at: order.get(issue) ?? 0 }))
    .sort((a, b) => a.at - b.at || a.i - b.i)
    .map((x) => x.issue);
}

export function yamlMessage(m: string): string {
  // yaml's messages may carry a trailing source excerpt after a colon and newline.
  const first = m.split('\n')[0] ?? m;
  return first.replace(/:$/, '');
}

// ---------------------------------------------------------------------------
// A value in the tree: its node (aliases resolved), dotted path, and where to
// point when something is wrong with it.

export interface V {
  readonly node: Node | null;
  readonly path: string;
  /** Offset of the value, or of its key when the value is empty. */
  readonly at: number;
  /** Offset of the key that owns the value (the value itself in a list). */
  readonly keyAt: number;
}

export type Fields = Map<string, V>;

export function childOf(ctx: Ctx, raw: unknown, path: string, keyAt: number): V {
  let node: Node | null = isNode(raw) ? (raw as Node) : null;
  let at = keyAt;
  if (node !== null && node.range) {
    const empty = isScalar(node) && node.value === null && node.range[0] === node.range[1];
    if (!empty) at = node.range[0];
  }
  if (node !== null && isAlias(node)) {
    const target = node.resolve(ctx.doc);
    node = target ?? null;
  }
  return { node, path, at, keyAt };
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const k = NAME_RE.test(key) ? key : JSON.stringify(key);
  return path === '' ? k : `${path}.${k}`;
}

export function isNothing(v: V): boolean {
  return v.node === null || (isScalar(v.node) && v.node.value === null);
}

export function describe(v: V): string {
  const n = v.node;
  if (n === null || (isScalar(n) && n.value === null)) return 'nothing';
  if (isMap(n)) return 'a mapping';
  if (isSeq(n)) return 'a list';
  if (isScalar(n)) return typeof n.value === 'string' ? JSON.stringify(n.value) : String(n.value);
  return 'an unsupported value';
}

/** Value text for messages about a value of the right type: `198.17.2.0/24`, `443`. */
export function show(v: V): string {
  const n = v.node;
  return isScalar(n) && (typeof n.value === 'string' || typeof n.value === 'number') ? String(n.value) : describe(v);
}

// ---------------------------------------------------------------------------
// Did-you-mean

/** Optimal string alignment distance (Levenshtein plus adjacent transposition). */
function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    const prev = d[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = v;
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** The closest candidate when it is plausibly a typo of `word`. */
function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === undefined) return undefined;
  const limit = w.length <= 3 ? 1 : w.length <= 6 ? 2 : 3;
  return bestD <= limit ? best : undefined;
}

export function hint(word: string, candidates: Iterable<string>): string {
  const s = suggest(word, candidates);
  return s === undefined ? '' : ` (did you mean "${s}"?)`;
}

// ---------------------------------------------------------------------------
// Shape readers. Each reports its own problems and returns undefined on error.

interface MapOptions {
  /** Keys ignored without complaint (top level: `x-` extension keys for YAML anchors). */
  readonly ignore?: (key: string) => boolean;
}

/**
 * A mapping's keys and values. `allowed` null = any key (maps keyed by name).
 * An empty value (`key:` with nothing after it) counts as an empty mapping.
 */
export function readMap(ctx: Ctx, v: V, allowed: readonly string[] | null, opts: MapOptions = {}): Fields | undefined {
  if (isNothing(v)) return new Map();
  const n = v.node;
  if (!isMap(n)) {
    ctx.error(v.at, `${v.path === '' ? 'the file' : v.path}: expected a mapping, got ${describe(v)}`);
    return undefined;
  }
  const out: Fields = new Map();
  for (const pair of n.items) {
    const k = childOf(ctx, pair.key, v.path, v.at);
    const kn = k.node;
    if (!isScalar(kn) || (typeof kn.value !== 'string' && typeof kn.value !== 'number')) {
      ctx.error(k.at, `${v.path === '' ? 'top level' : v.path}: keys must be plain names, got ${describe(k)}`);
      continue;
    }
    const key = String(kn.value);
    const path = join(v.path, key);
    if (opts.ignore?.(key)) continue;
    if (allowed !== null && !allowed.includes(key)) {
      const s = suggest(key, allowed);
      ctx.error(
        k.at,
        s !== undefined
          ? `${path}: unknown key (did you mean "${s}"?)`
          : `${path}: unknown key; expected one of ${allowed.join(', ')}`,
      );
      continue;
    }
    out.set(key, childOf(ctx, pair.value, path, k.at));
  }
  return out;
}

export function readList(ctx: Ctx, v: V, what = 'a list'): V[] | undefined {
  const n = v.node;
  if (!isSeq(n)) {
    ctx.error(v.at, `${v.path}: expected ${what}, got ${describe(v)}${isNothing(v) ? ' (write [] for an empty list)' : ''}`);
    return undefined;
  }
  return n.items.map((item, i) => {
    const at = isNode(item) && item.range ? item.range[0] : v.at;
    return childOf(ctx, item, join(v.path, i), at);
  });
}

export function required(ctx: Ctx, f: Fields, key: string, parent: V, what = ''): V | undefined {
  const v = f.get(key);
  if (v === undefined) ctx.error(parent.keyAt, `${join(parent.path, key)}: required key is missing${what ? ` (${what})` : ''}`);
  return v;
}
