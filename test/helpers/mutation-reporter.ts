/**
 * Mutation testing only (vitest.mutate.config.ts): a test file that fails
 * before any of its tests runs (its import or its describe body throws) is
 * reported as one failed test. Stryker's vitest runner (9.5, and 10.0) builds
 * a mutant's result from the tests the files collected; such a file collects
 * none, so a mutant that breaks it (for example a serializer the file calls
 * while collecting its cases) was scored Survived although the file fails
 * (stryker-js issue 6150). Files that loaded are left as they are.
 */
import type { Reporter, Vitest } from 'vitest/node';

interface Task {
  type: string;
  tasks?: Task[];
  result?: { state?: string; errors?: unknown[] };
}

function hasFailedTest(t: Task): boolean {
  if (t.type === 'test') return t.result?.state === 'fail';
  return (t.tasks ?? []).some(hasFailedTest);
}

export default class LoadFailureAsFailedTest implements Reporter {
  private ctx: Vitest | undefined;

  onInit(ctx: Vitest): void {
    this.ctx = ctx;
  }

  /** The files as Stryker reads them after the run (vitest's state). */
  onTestRunEnd(): void {
    for (const f of this.ctx?.state.getFiles() ?? []) {
      const file = f as unknown as Task & { id: string; name: string; filepath: string };
      if (file.result?.state !== 'fail' || hasFailedTest(file)) continue;
      file.tasks ??= [];
      file.tasks.push({
        type: 'test', id: `${file.id}_load`, name: 'the test file loads and collects its tests', mode: 'run', file, suite: undefined,
        result: { state: 'fail', errors: file.result.errors ?? [{ message: `${file.name} failed before its tests ran` }] },
        meta: {}, timeout: 0, annotations: [], context: {},
      } as unknown as Task);
    }
  }
}
