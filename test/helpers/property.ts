/**
 * Runs a fast-check property with the run's seed (propertySeed: PROPERTY_SEED
 * or a new random one), prints the seed and how many cases ran (so a failure
 * can be replayed and a run that checked nothing is visible), and fails with
 * fast-check's report.
 */
import fc from 'fast-check';

export function checkProperty<Ts>(name: string, property: fc.IProperty<Ts>, numRuns: number, seed = propertySeed(name)): void {
  const r = fc.check(property, { seed, numRuns });
  console.log(`${name}: fast-check seed ${seed}, ${r.numRuns} cases${r.numSkips > 0 ? `, ${r.numSkips} skipped` : ''}`);
  if (r.failed) throw new Error(fc.defaultReportMessage(r) ?? `${name}: property failed`);
  if (r.numRuns < numRuns) throw new Error(`${name}: only ${r.numRuns} of ${numRuns} cases ran`);
}

/**
 * The seed of a property test: PROPERTY_SEED when set (to replay a run), else
 * a new random one per run. Printed either way, with the variable that replays it.
 */
export function propertySeed(name: string): number {
  const env = process.env.PROPERTY_SEED;
  const seed = env !== undefined && env !== '' ? Number(env) | 0 : (Math.random() * 0x7fffffff) | 0;
  if (env !== undefined && env !== '' && !Number.isInteger(Number(env))) throw new Error(`PROPERTY_SEED=${env} is not an integer`);
  console.log(`${name}: seed ${seed} (replay: PROPERTY_SEED=${seed})`);
  return seed;
}

/** Counts of the cases a property met, by category, printed as one line. */
export class CaseCounts<K extends string> {
  readonly n: Record<K, number>;
  constructor(readonly categories: readonly K[]) {
    this.n = Object.fromEntries(categories.map((c) => [c, 0])) as Record<K, number>;
  }
  add(k: K): void {
    this.n[k]++;
  }
  print(name: string): void {
    console.log(`${name}: ${this.categories.map((c) => `${c} ${this.n[c]}`).join(', ')}`);
  }
  /** The categories that never occurred. */
  empty(): K[] {
    return this.categories.filter((c) => this.n[c] === 0);
  }
}
