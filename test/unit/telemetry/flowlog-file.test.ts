import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, truncateSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIRECTORY_MODE, FlowLogFile, FlowLogFileError, type FlowLogFileOptions } from '../../../src/telemetry/flowlog-file.js';
import { itWith } from '../../helpers/needs.js';

const HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';

let root = '';
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vpcd-fl-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function opts(path: string, o: Partial<FlowLogFileOptions> = {}): FlowLogFileOptions {
  return { path, mode: 0o640, allowSharedDirectory: false, maxBytes: 0, keep: 5, header: HEADER, ...o };
}

function line(i: number): string {
  return `2 123456789012 eni-web-${i % 7} 198.18.1.10 198.18.2.20 ${40000 + (i % 20000)} 443 6 ${i} ${i * 60} 1700000000 1700000060 ACCEPT OK`;
}

const lines = (p: string): string[] => readFileSync(p, 'utf8').split('\n').filter((l) => l !== '');

describe('FlowLogFile', () => {
  it('refuses a path that is a symbolic link, and leaves its target alone', async () => {
    const target = join(root, 'target');
    writeFileSync(target, 'precious\n');
    const dir = join(root, 'logs');
    mkdirSync(dir, { mode: 0o750 });
    symlinkSync(target, join(dir, 'flows.log'));
    expect(() => FlowLogFile.open(opts(join(dir, 'flows.log')))).toThrow(/symbolic link/);
    // a dangling link too (O_CREAT would otherwise create the target)
    symlinkSync(join(root, 'nowhere'), join(dir, 'dangling.log'));
    expect(() => FlowLogFile.open(opts(join(dir, 'dangling.log')))).toThrow(/symbolic link/);
    expect(existsSync(join(root, 'nowhere'))).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe('precious\n');
  });

  it('refuses a directory writable by group or others, unless allowSharedDirectory', async () => {
    const dir = join(root, 'shared');
    mkdirSync(dir);
    for (const mode of [0o770, 0o777, 0o1777]) {
      chmodSync(dir, mode);
      expect(() => FlowLogFile.open(opts(join(dir, 'flows.log'))), mode.toString(8)).toThrow(FlowLogFileError);
      expect(() => FlowLogFile.open(opts(join(dir, 'flows.log'))), mode.toString(8)).toThrow(/writable by (others|its group)/);
    }
    expect(existsSync(join(dir, 'flows.log'))).toBe(false);
    const f = FlowLogFile.open(opts(join(dir, 'flows.log'), { allowSharedDirectory: true }));
    await f.appendLines([line(1)]);
    await f.close();
    expect(lines(join(dir, 'flows.log'))).toEqual([HEADER, line(1)]);
  });

  itWith(['root'], 'refuses a directory that belongs to another user', () => {
    const dir = join(root, 'theirs');
    mkdirSync(dir, { mode: 0o755 });
    chownSync(dir, 4242, 4242);
    expect(() => FlowLogFile.open(opts(join(dir, 'flows.log')))).toThrow(/belongs to uid 4242/);
  });

  it('creates a missing directory with mode 0750 and the file with the configured mode, whatever the umask', async () => {
    const dir = join(root, 'a', 'b');
    let oldMask: number | undefined;
    try {
      oldMask = process.umask(0o077);
    } catch {
      // workers cannot change the umask; the default one still masks group bits of 0o660 only if set
    }
    try {
      const f = FlowLogFile.open(opts(join(dir, 'flows.log'), { mode: 0o644 }));
      await f.close();
    } finally {
      if (oldMask !== undefined) process.umask(oldMask);
    }
    expect(statSync(dir).mode & 0o7777).toBe(DIRECTORY_MODE);
    expect(statSync(join(dir, 'flows.log')).mode & 0o7777).toBe(0o644);
    const g = FlowLogFile.open(opts(join(dir, 'other.log'), { mode: 0o600 }));
    await g.close();
    expect(statSync(join(dir, 'other.log')).mode & 0o7777).toBe(0o600);
  });

  it('keeps the mode of an existing file, and refuses one with other hard links or that is not a regular file', async () => {
    const dir = join(root, 'd');
    mkdirSync(dir, { mode: 0o700 });
    const p = join(dir, 'flows.log');
    writeFileSync(p, `${HEADER}\n`, { mode: 0o600 });
    const f = FlowLogFile.open(opts(p, { mode: 0o640 }));
    await f.close();
    expect(statSync(p).mode & 0o777).toBe(0o600);
    linkSync(p, join(dir, 'alias'));
    expect(() => FlowLogFile.open(opts(p))).toThrow(/hard links/);
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    expect(() => FlowLogFile.open(opts(join(dir, 'fifo')))).toThrow(/not a regular file/);
  });

  it('writes one header per file: none again when a restart appends to a non-empty file', async () => {
    const p = join(root, 'logs', 'flows.log');
    const a = FlowLogFile.open(opts(p));
    await a.appendLines([line(1), line(2)]);
    await a.close();
    const b = FlowLogFile.open(opts(p));
    await b.appendLines([line(3)]);
    await b.close();
    expect(lines(p)).toEqual([HEADER, line(1), line(2), line(3)]);
  });

  it('writes one header per file when two writers share the path (a reload that changes file options), and none after a reopen of a non-empty file', async () => {
    const p = join(root, 'two', 'flows.log');
    // Both opened while the file is empty, as a reload's prepare opens the new one before the old one's last write.
    const old = FlowLogFile.open(opts(p, { maxBytes: 0 }));
    const next = FlowLogFile.open(opts(p, { maxBytes: 1 << 20 }));
    await old.appendLines([line(1)]);
    await old.close();
    await next.appendLines([line(2)]);
    await next.reopen();
    await next.appendLines([line(3)]);
    await next.close();
    expect(lines(p)).toEqual([HEADER, line(1), line(2), line(3)]);
  });

  it('a file truncated under it (logrotate copytruncate) starts again with the header', async () => {
    const p = join(root, 'tr', 'flows.log');
    const f = FlowLogFile.open(opts(p));
    await f.appendLines([line(1)]);
    truncateSync(p, 0);
    await f.appendLines([line(2)]);
    await f.close();
    expect(lines(p)).toEqual([HEADER, line(2)]);
  });

  it('an existing file of another format is rotated away before the first write; JSON lines have no header', async () => {
    const p = join(root, 'fmt', 'flows.log');
    const v2 = FlowLogFile.open(opts(p));
    await v2.appendLines([line(1)]);
    await v2.close();
    const other = 'version interface-id srcaddr dstaddr tcp-flags';
    const v5 = FlowLogFile.open(opts(p, { header: other }));
    await v5.appendLines(['5 eni-a 198.18.1.10 198.18.2.20 3']);
    await v5.close();
    expect(lines(`${p}.1`)).toEqual([HEADER, line(1)]);
    expect(lines(p)).toEqual([other, '5 eni-a 198.18.1.10 198.18.2.20 3']);
    // A restart with the same format appends under the same header.
    const again = FlowLogFile.open(opts(p, { header: other }));
    await again.appendLines(['5 eni-b 198.18.1.11 198.18.2.20 0']);
    await again.close();
    expect(lines(p)).toEqual([other, '5 eni-a 198.18.1.10 198.18.2.20 3', '5 eni-b 198.18.1.11 198.18.2.20 0']);
    // JSON lines: the text file goes to .1 (the older .1 to .2); no header, restarts append.
    for (const n of [1, 2]) {
      const j = FlowLogFile.open(opts(p, { header: null }));
      await j.appendLines([`{"n":${n}}`]);
      await j.close();
    }
    expect(lines(p)).toEqual(['{"n":1}', '{"n":2}']);
    expect(lines(`${p}.1`)[0]).toBe(other);
    expect(lines(`${p}.2`)).toEqual([HEADER, line(1)]);
  });

  it('rotates at maxBytes between lines: no file passes the limit, each starts with the header, keep bounds the files, no line is lost until dropped', async () => {
    const dir = join(root, 'rot');
    const p = join(dir, 'flows.log');
    const maxBytes = 65_536;
    const f = FlowLogFile.open(opts(p, { maxBytes, keep: 3 }));
    const all: string[] = [];
    for (let chunk = 0; chunk < 40; chunk++) {
      const ls = Array.from({ length: 100 }, (_, i) => line(chunk * 100 + i));
      all.push(...ls);
      await f.appendLines(ls);
    }
    await f.close();
    expect(f.rotations).toBeGreaterThanOrEqual(3);
    const files = readdirSync(dir).sort();
    expect(files).toEqual(['flows.log', 'flows.log.1', 'flows.log.2', 'flows.log.3']);
    const kept: string[] = [];
    for (const name of ['flows.log.3', 'flows.log.2', 'flows.log.1', 'flows.log']) {
      const fp = join(dir, name);
      expect(statSync(fp).size, name).toBeLessThanOrEqual(maxBytes);
      const ls = lines(fp);
      expect(ls[0], name).toBe(HEADER);
      expect(ls.filter((l) => l === HEADER).length, name).toBe(1);
      kept.push(...ls.slice(1));
      expect(statSync(fp).mode & 0o777, name).toBe(0o640);
    }
    // The kept files hold the newest lines, in order, without a gap.
    expect(kept).toEqual(all.slice(all.length - kept.length));
    expect(kept.length).toBeGreaterThan(1000);
  });

  it('reopen() after an external rename writes to a new file at the path (logrotate without copytruncate)', async () => {
    const p = join(root, 'lr', 'flows.log');
    const f = FlowLogFile.open(opts(p));
    await f.appendLines([line(1)]);
    renameSync(p, `${p}.1`);
    await f.appendLines([line(2)]); // still the old file until told
    await f.reopen();
    await f.appendLines([line(3)]);
    await f.close();
    expect(lines(`${p}.1`)).toEqual([HEADER, line(1), line(2)]);
    expect(lines(p)).toEqual([HEADER, line(3)]);
  });

  it('reopen() that cannot open the path keeps writing to the file it has', async () => {
    const dir = join(root, 'lr2');
    const p = join(dir, 'flows.log');
    const f = FlowLogFile.open(opts(p));
    await f.appendLines([line(1)]);
    renameSync(p, `${p}.1`);
    chmodSync(dir, 0o777);
    await expect(f.reopen()).rejects.toThrow(/writable by others/);
    await f.appendLines([line(2)]);
    await f.close();
    expect(lines(`${p}.1`)).toEqual([HEADER, line(1), line(2)]);
  });

  it('discardIfUnused() removes a file it created and never wrote, and keeps one that existed', async () => {
    const p = join(root, 'x', 'new.log');
    const f = FlowLogFile.open(opts(p));
    await f.discardIfUnused();
    expect(existsSync(p)).toBe(false);
    writeFileSync(join(root, 'x', 'old.log'), '', { mode: 0o640 });
    const g = FlowLogFile.open(opts(join(root, 'x', 'old.log')));
    await g.discardIfUnused();
    expect(existsSync(join(root, 'x', 'old.log'))).toBe(true);
  });
});
