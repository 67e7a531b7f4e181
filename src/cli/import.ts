import type { Out } from './args.js';
export function runImport(_argv: string[], out: Out): number {
  out.stderr('vpcd import: not yet');
  return 2;
}
