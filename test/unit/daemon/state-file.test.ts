/**
 * The restart state file's container (src/daemon/state-file.ts): sections
 * round-trip; the file is 0600 and replaced atomically (no temporary file
 * left, a symbolic link at the path is replaced, never followed); reading
 * refuses a link, a foreign or corrupt or truncated file, another version,
 * a file over the bound, a file others may write; no file is "none".
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STATE_FILE_VERSION, StateFileError, parseStateFile, readStateFile, removeStateFile, writeStateFile } from '../../../src/daemon/state-file.js';

const HEADER = { vpc: 'v1', fingerprint: '{"a":"1"}', savedAtMs: 1_700_000_000_000 };
const SECTIONS: [string, Uint8Array][] = [['conntrack', Uint8Array.of(1, 2, 3)], ['empty', new Uint8Array(0)], ['ike', Buffer.from('[{"x":1}]')]];

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'vpcd-state-'));
}

function written(): { path: string; bytes: Buffer } {
  const path = join(dir(), 'v1.state');
  writeStateFile(path, HEADER, SECTIONS);
  return { path, bytes: readFileSync(path) };
}

describe('restart state file', () => {
  it('round-trips the header and every section, in a 0600 file, with no temporary file left', () => {
    const d = dir();
    const path = join(d, 'sub', 'v1.state');
    const size = writeStateFile(path, HEADER, SECTIONS);
    expect(statSync(path).size).toBe(size);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(d, 'sub')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(d, 'sub'))).toEqual(['v1.state']);
    const f = readStateFile(path, 1 << 20)!;
    expect(f.header).toEqual(HEADER);
    expect([...f.sections.keys()]).toEqual(['conntrack', 'empty', 'ike']);
    expect(Array.from(f.sections.get('conntrack')!)).toEqual([1, 2, 3]);
    expect(f.sections.get('empty')!.length).toBe(0);
    expect(Buffer.from(f.sections.get('ike')!).toString()).toBe('[{"x":1}]');
  });

  it('no file is "nothing to restore"; removing a missing file is fine', () => {
    const path = join(dir(), 'none.state');
    expect(readStateFile(path, 1 << 20)).toBeUndefined();
    removeStateFile(path);
    const { path: p2 } = written();
    removeStateFile(p2);
    expect(existsSync(p2)).toBe(false);
  });

  it('a symbolic link at the path is replaced by the new file, not followed', () => {
    const d = dir();
    const target = join(d, 'target');
    writeFileSync(target, 'keep me');
    const path = join(d, 'v1.state');
    symlinkSync(target, path);
    writeStateFile(path, HEADER, SECTIONS);
    expect(readFileSync(target, 'utf8')).toBe('keep me');
    expect(lstatSync(path).isSymbolicLink()).toBe(false);
  });

  it('refuses to read through a symbolic link', () => {
    const { path } = written();
    const link = join(dir(), 'link.state');
    symlinkSync(path, link);
    expect(() => readStateFile(link, 1 << 20)).toThrow(/symbolic link/);
  });

  it('refuses a directory that others may write, when writing', () => {
    const d = dir();
    chmodSync(d, 0o777);
    expect(() => writeStateFile(join(d, 'v1.state'), HEADER, SECTIONS)).toThrow(/writable by others/);
    expect(readdirSync(d)).toEqual([]);
  });

  it('refuses a file that others may write, and one over the size bound', () => {
    const { path, bytes } = written();
    chmodSync(path, 0o666);
    expect(() => readStateFile(path, 1 << 20)).toThrow(/writable by other users/);
    chmodSync(path, 0o600);
    expect(() => readStateFile(path, bytes.length - 1)).toThrow(/more than this configuration's state can take/);
  });

  const damaged: [string, (b: Buffer) => Buffer, RegExp][] = [
    ['one byte flipped in a section', (b) => { b[b.length - 40] ^= 1; return b; }, /checksum mismatch/],
    ['one byte flipped in the checksum', (b) => { b[b.length - 1] ^= 1; return b; }, /checksum mismatch/],
    ['truncated', (b) => b.subarray(0, b.length - 10), /checksum mismatch/],
    ['cut to a few bytes', (b) => b.subarray(0, 12), /no magic/],
    ['empty', () => Buffer.alloc(0), /no magic/],
    ['another file entirely', () => Buffer.from('vpc: { name: v1, cidr: 198.18.0.0/16 }\n'.repeat(3)), /no magic/],
    ['another format version', (b) => { b.writeUInt32LE(STATE_FILE_VERSION + 1, 8); return b; }, /format version 2/],
  ];
  for (const [what, damage, msg] of damaged) {
    it(`refuses a file ${what}`, () => {
      const { path, bytes } = written();
      writeFileSync(path, damage(Buffer.from(bytes)));
      expect(() => readStateFile(path, 1 << 20)).toThrow(StateFileError);
      expect(() => readStateFile(path, 1 << 20)).toThrow(msg);
    });
  }

  it('refuses a well-checksummed file whose header or section table does not fit', () => {
    const rebuild = (head: string, body: Buffer = Buffer.alloc(0)): Buffer => {
      const h = Buffer.from(head);
      const fixed = Buffer.alloc(16);
      fixed.write('VPCDSTAT', 0, 'latin1');
      fixed.writeUInt32LE(STATE_FILE_VERSION, 8);
      fixed.writeUInt32LE(h.length, 12);
      const all = Buffer.concat([fixed, h, body]);
      return Buffer.concat([all, createHash('sha256').update(all).digest()]);
    };
    expect(() => parseStateFile(rebuild('not json'))).toThrow(/not JSON/);
    expect(() => parseStateFile(rebuild('{"vpc":"v1"}'))).toThrow(/lacks/);
    const ok = { vpc: 'v1', fingerprint: 'x', savedAtMs: 1 };
    expect(() => parseStateFile(rebuild(JSON.stringify({ ...ok, sections: [{ name: 'a', bytes: 5 }] }), Buffer.alloc(2)))).toThrow(/does not fit/);
    expect(() => parseStateFile(rebuild(JSON.stringify({ ...ok, sections: [{ name: 'a', bytes: 1 }] }), Buffer.alloc(2)))).toThrow(/after the last section/);
    expect(() => parseStateFile(rebuild(JSON.stringify({ ...ok, sections: [{ name: 'a', bytes: 1 }, { name: 'a', bytes: 1 }] }), Buffer.alloc(2)))).toThrow(/does not fit/);
    expect(parseStateFile(rebuild(JSON.stringify({ ...ok, sections: [{ name: 'a', bytes: 2 }] }), Buffer.from([7, 8]))).sections.get('a')).toEqual(new Uint8Array([7, 8]));
  });
});
