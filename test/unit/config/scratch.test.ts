import { it } from 'vitest';
import { runCheck } from '../../../src/cli/check.js';
import { loadConfig } from '../../../src/control/config.js';
it('scratch', () => {
  const out = { stdout: (s: string) => console.log('OUT', s), stderr: (s: string) => console.log('ERR', s) };
  console.log('exit', runCheck(['test/fixtures/config/contract.yaml'], out));
  const c = loadConfig('test/fixtures/config/contract.yaml');
  console.log(JSON.stringify(c, (k, v) => v instanceof Map ? Object.fromEntries(v) : v, 1).slice(0, 3000));
});
