/**
 * Runs a fast-check property with a fixed seed, prints the seed and how many
 * cases ran (so a failure can be replayed and a run that checked nothing is
 * visible), and fails with fast-check's report.
 */
import fc from 'fast-check';

export function checkProperty<Ts>(name: string, property: fc.IProperty<Ts>, seed: number, numRuns: number): void {
  const r = fc.check(property, { seed, numRuns });
  console.log(`${name}: fast-check seed ${seed}, ${r.numRuns} cases${r.numSkips > 0 ? `, ${r.numSkips} skipped` : ''}`);
  if (r.failed) throw new Error(fc.defaultReportMessage(r) ?? `${name}: property failed`);
  if (r.numRuns < numRuns) throw new Error(`${name}: only ${r.numRuns} of ${numRuns} cases ran`);
}
