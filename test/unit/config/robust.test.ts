/**
 * Whatever the file holds, the loader answers with a config or a ConfigError
 * whose issues point inside the file; it never throws anything else.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/control/config.js';
import { ConfigError } from '../../../src/control/config-types.js';

const full = readFileSync(resolve(import.meta.dirname, '../../../config/examples/full.yaml'), 'utf8');
const lines = full.split('\n');

const scalar = fc.oneof(
  fc.constantFrom('', '~', '[]', '{}', '-1', '0', '65536', '1.5', 'true', 'x', '"198.18.1.1"', '198.18.0.0/33',
    '::1', 'all', 'tcp', '1024-65535', '[a, b]', '{ a: 1 }', '*nope', '&a', '!tag 1', '"\\u0000"', '9999999999999999999'),
  fc.string({ maxLength: 12 }),
  fc.integer(),
);

/** Replaces the value after the first `key:` on a line, deletes a line, or duplicates one. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('value' as const), line: fc.nat({ max: lines.length - 1 }), value: scalar.map(String) }),
  fc.record({ kind: fc.constant('delete' as const), line: fc.nat({ max: lines.length - 1 }) }),
  fc.record({ kind: fc.constant('dup' as const), line: fc.nat({ max: lines.length - 1 }) }),
);

function apply(ms: readonly { kind: 'value' | 'delete' | 'dup'; line: number; value?: string }[]): string {
  const out = [...lines];
  for (const m of ms) {
    const l = out[m.line] ?? '';
    if (m.kind === 'delete') out.splice(m.line, 1);
    else if (m.kind === 'dup') out.splice(m.line, 0, l);
    else {
      const i = l.indexOf(': ');
      if (i >= 0) out[m.line] = `${l.slice(0, i + 2)}${m.value ?? ''}`;
    }
  }
  return out.join('\n');
}

describe('robustness', () => {
  it('mutated files give a config or positioned issues, never a crash', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
        const text = apply(ms);
        const nLines = text.split('\n').length;
        try {
          parseConfig(text, 'm.yaml');
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          expect(e.issues.length).toBeGreaterThan(0);
          for (const i of e.issues) {
            expect(i.file).toBe('m.yaml');
            expect(i.line).toBeGreaterThanOrEqual(1);
            expect(i.line).toBeLessThanOrEqual(nLines);
            expect(i.column).toBeGreaterThanOrEqual(1);
            expect(i.message.length).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('arbitrary text never crashes', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          parseConfig(text, 'r.yaml');
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
        }
      }),
      { numRuns: 300 },
    );
  });
});
