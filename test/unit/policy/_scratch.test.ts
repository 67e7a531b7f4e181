import { it } from 'vitest';
import { runExplain } from '../../../src/cli/explain.js';
it('scratch', () => {
  const out = { stdout: (s: string) => process.stdout.write(s + '\n'), stderr: (s: string) => process.stdout.write('ERR ' + s + '\n') };
  console.log(runExplain(['/tmp/ex/demo.yaml', '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '5432'], out));
  console.log(runExplain(['/tmp/ex/demo.yaml', '--src', 'web-client', '--dst', 'web-1', '--proto', 'tcp', '--dport', '443', '--json'], out));
  console.log(runExplain(['/tmp/ex/demo.yaml', '--src', 'web-client', '--dst', 'web-1', '--proto', 'tcp'], out));
  console.log(runExplain(['/tmp/ex/nope.yaml', '--src', 'web-client', '--dst', 'web-1', '--proto', 'tcp', '--dport', '1'], out));
});
