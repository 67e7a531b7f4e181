import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { Writable } from 'node:stream';
import { FaultGuard } from '../../../src/daemon/guard.js';

function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({}, sink), lines };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('FaultGuard', () => {
  it('counts every failure per place but logs at most one line per place per interval, with the count it did not show', async () => {
    const { log, lines } = capture();
    let now = 1_000_000;
    const g = new FaultGuard(log, 10_000, () => now);
    for (let i = 0; i < 500; i++) {
      g.fail('batch', new Error(`boom ${i}`));
      now += 10; // 5 s in all
    }
    g.fail('conntrack-sweep', new Error('sweep'));
    await tick();
    expect(g.countOf('batch')).toBe(500);
    expect(g.countOf('conntrack-sweep')).toBe(1);
    expect(lines.filter((l) => l.place === 'batch')).toHaveLength(1);
    expect(lines[0]).toMatchObject({ event: 'internal-error', place: 'batch', error: 'boom 0', failures: 1, total: 1 });
    // Within the interval nothing more; after it, one line with the 499 not shown.
    g.flushUnlogged();
    await tick();
    expect(lines.filter((l) => l.place === 'batch')).toHaveLength(1);
    now += 10_000;
    g.flushUnlogged();
    await tick();
    const batch = lines.filter((l) => l.place === 'batch');
    expect(batch).toHaveLength(2);
    expect(batch[1]).toMatchObject({ failures: 499, total: 500, error: 'boom 499' });
    expect([...g.counts()]).toEqual([['batch', 500], ['conntrack-sweep', 1]]);
  });

  it('run() and wrap() contain a throw and report whether fn completed; fail() survives odd thrown values', () => {
    const { log } = capture();
    const g = new FaultGuard(log);
    expect(g.run('a', () => { throw new Error('x'); })).toBe(false);
    expect(g.run('a', () => undefined)).toBe(true);
    const f = g.wrap('b', () => { throw Object.assign(Object.create(null) as object, { [Symbol.toPrimitive]: () => { throw new Error('no'); } }); });
    expect(() => f()).not.toThrow();
    g.fail('c', undefined);
    expect([...g.counts()]).toEqual([['a', 1], ['b', 1], ['c', 1]]);
  });
});
