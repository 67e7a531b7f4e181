/**
 * The restart state file's container: named binary sections behind a small
 * JSON header, with a checksum over the whole file. What goes in the
 * sections is restart-state.ts's business (and the owners' codecs).
 *
 * Layout (integers little-endian):
 *
 *   "VPCDSTAT"     8-byte magic
 *   u32            STATE_FILE_VERSION
 *   u32 H          header length
 *   H bytes        header, JSON: { vpc, fingerprint, savedAtMs (Unix ms), sections: [{ name, bytes }] }
 *   sections       their bytes, in header order
 *   32 bytes       SHA-256 of everything before
 *
 * Writing is atomic: a temporary file beside the path (O_CREAT|O_EXCL|
 * O_NOFOLLOW, mode 0600), written, fsync'd, renamed over the path, and the
 * directory fsync'd; a failure leaves the old file (or none), never half of
 * one. The directory is created 0700 when missing and must not be writable
 * by group or others (another user could swap the file). Reading refuses a
 * symbolic link, anything but a regular file, a file writable by group or
 * others or owned by another user, a file larger than the caller's bound,
 * and any file whose magic, version, checksum or header does not check out.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, openSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { makeDirectories, sharedDirectoryProblem } from '../lib/private-dir.js';

export const STATE_FILE_VERSION = 1;
const MAGIC = Buffer.from('VPCDSTAT', 'latin1');
const HASH_BYTES = 32;
const MAX_HEADER_BYTES = 1 << 20;
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/** A state file that cannot be written, or read back. */
export class StateFileError extends Error {}

export interface StateHeader {
  /** The VPC the file is for. */
  readonly vpc: string;
  /** What the configuration must still be for the sections to mean anything (restart-state.ts). */
  readonly fingerprint: string;
  /** Unix ms of the save. */
  readonly savedAtMs: number;
}

export interface StateFile {
  readonly header: StateHeader;
  readonly sections: ReadonlyMap<string, Uint8Array>;
}

/** Writes `sections` under `header` to `path` atomically. Returns the file's size. Throws StateFileError. */
export function writeStateFile(path: string, header: StateHeader, sections: readonly (readonly [string, Uint8Array])[]): number {
  const dir = dirname(path);
  try {
    makeDirectories(dir, DIR_MODE);
    const problem = sharedDirectoryProblem(statSync(dir));
    if (problem !== undefined) throw new StateFileError(`directory ${dir} ${problem}: another user could replace the state file`);
  } catch (e) {
    if (e instanceof StateFileError) throw e;
    throw new StateFileError(`directory ${dir}: ${(e as Error).message}`);
  }
  const head = Buffer.from(JSON.stringify({ ...header, sections: sections.map(([name, b]) => ({ name, bytes: b.length })) }), 'utf8');
  const fixed = Buffer.alloc(16);
  MAGIC.copy(fixed, 0);
  fixed.writeUInt32LE(STATE_FILE_VERSION, 8);
  fixed.writeUInt32LE(head.length, 12);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  let fd: number;
  try {
    unlinkIfThere(tmp);
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE);
  } catch (e) {
    throw new StateFileError(`${tmp}: ${(e as Error).message}`);
  }
  const hash = createHash('sha256');
  let size = 0;
  const put = (b: Uint8Array): void => {
    hash.update(b);
    for (let o = 0; o < b.length;) o += writeSync(fd, b, o, b.length - o);
    size += b.length;
  };
  try {
    fchmodSync(fd, FILE_MODE);
    put(fixed);
    put(head);
    for (const [, b] of sections) put(b);
    const digest = hash.digest();
    for (let o = 0; o < digest.length;) o += writeSync(fd, digest, o, digest.length - o);
    size += digest.length;
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
    syncDirectory(dir);
    return size;
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    unlinkIfThere(tmp);
    throw new StateFileError(`${path}: ${(e as Error).message}`);
  }
}

/**
 * Reads and checks the file at `path`: undefined when there is none, else
 * its header and sections. Throws StateFileError naming what is wrong.
 */
export function readStateFile(path: string, maxBytes: number): StateFile | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new StateFileError('it is a symbolic link');
    throw new StateFileError((e as Error).message);
  }
  let bytes: Buffer;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new StateFileError('not a regular file');
    const uid = process.getuid?.() ?? 0;
    if ((st.mode & 0o022) !== 0 || (st.uid !== uid && st.uid !== 0)) throw new StateFileError('writable by other users than vpcd\'s');
    if (st.size > maxBytes) throw new StateFileError(`${st.size} bytes, more than this configuration's state can take (${maxBytes})`);
    bytes = Buffer.alloc(st.size);
    for (let o = 0; o < bytes.length;) {
      const n = readSync(fd, bytes, o, bytes.length - o, o);
      if (n === 0) throw new StateFileError('shorter than its size');
      o += n;
    }
  } finally {
    closeSync(fd);
  }
  return parseStateFile(bytes);
}

/** Checks and splits a whole file's bytes. Throws StateFileError. */
export function parseStateFile(bytes: Uint8Array): StateFile {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 16 + HASH_BYTES || !b.subarray(0, 8).equals(MAGIC)) throw new StateFileError('not a vpcd state file (no magic)');
  const version = b.readUInt32LE(8);
  if (version !== STATE_FILE_VERSION) throw new StateFileError(`format version ${version}, this vpcd reads ${STATE_FILE_VERSION}`);
  const body = b.subarray(0, b.length - HASH_BYTES);
  if (!createHash('sha256').update(body).digest().equals(b.subarray(b.length - HASH_BYTES))) throw new StateFileError('checksum mismatch (truncated or corrupt)');
  const headLen = b.readUInt32LE(12);
  if (headLen > MAX_HEADER_BYTES || 16 + headLen > body.length) throw new StateFileError(`header of ${headLen} bytes`);
  let h: unknown;
  try {
    h = JSON.parse(b.subarray(16, 16 + headLen).toString('utf8'));
  } catch {
    throw new StateFileError('header is not JSON');
  }
  const o = h as { vpc?: unknown; fingerprint?: unknown; savedAtMs?: unknown; sections?: unknown };
  if (typeof o !== 'object' || o === null || typeof o.vpc !== 'string' || typeof o.fingerprint !== 'string' ||
    typeof o.savedAtMs !== 'number' || !Number.isFinite(o.savedAtMs) || !Array.isArray(o.sections)) {
    throw new StateFileError('header lacks vpc, fingerprint, savedAtMs or sections');
  }
  const sections = new Map<string, Uint8Array>();
  let off = 16 + headLen;
  for (const s of o.sections as unknown[]) {
    const e = s as { name?: unknown; bytes?: unknown };
    if (typeof e?.name !== 'string' || typeof e.bytes !== 'number' || !Number.isInteger(e.bytes) || e.bytes < 0 || off + e.bytes > body.length || sections.has(e.name)) {
      throw new StateFileError('section table does not fit the file');
    }
    sections.set(e.name, new Uint8Array(body.buffer, body.byteOffset + off, e.bytes));
    off += e.bytes;
  }
  if (off !== body.length) throw new StateFileError(`${body.length - off} bytes after the last section`);
  return { header: { vpc: o.vpc, fingerprint: o.fingerprint, savedAtMs: o.savedAtMs }, sections };
}

/** Deletes the file at `path` (nothing when there is none). Throws StateFileError. */
export function removeStateFile(path: string): void {
  try {
    unlinkIfThere(path);
    syncDirectory(dirname(path));
  } catch (e) {
    throw new StateFileError(`${path}: ${(e as Error).message}`);
  }
}

function unlinkIfThere(p: string): void {
  try {
    unlinkSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** The rename (or unlink) is durable once the directory is synced. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
