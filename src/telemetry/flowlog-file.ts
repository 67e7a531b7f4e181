/**
 * The flow-log file, as a logging daemon keeps one.
 *
 * - Opened with O_WRONLY|O_APPEND|O_NOFOLLOW: a symbolic link at the path is
 *   refused, never followed. A file vpcd creates (O_CREAT|O_EXCL) gets
 *   `mode` exactly (fchmod, whatever the umask); an existing file keeps its
 *   mode but must be a regular file with one link.
 * - The directory must not be writable by group or others and must belong to
 *   vpcd's user or root (anyone who can write there could swap the file for a
 *   link between two opens), unless `allowSharedDirectory`. A missing
 *   directory is created with mode 0750.
 * - Rotation by size: a write that would take the file past `maxBytes` first
 *   renames path -> path.1 -> ... -> path.<keep> (the oldest is dropped) and
 *   starts a new file; `maxBytes` 0 never rotates. reopen() (SIGUSR1) closes
 *   and reopens the path after an external rotation (logrotate without
 *   copytruncate).
 * - A text file has exactly one header line, its first: written when lines go
 *   to a file that is empty at that moment (its size read from the file, not
 *   remembered, so a restart, a reopen, a second writer of a reload or an
 *   external truncation never adds a second one). An existing non-empty file
 *   whose first line is not this format's header (a format change) is
 *   rotated away before the first write, so a file's records always match its
 *   header. JSON lines (`header` null) have no header; an existing file that
 *   does not hold JSON lines is rotated away the same way.
 * - Every file operation is asynchronous and runs in order on one queue, so
 *   the event loop (and the packet path on it) never waits for the disk.
 *
 * open() is synchronous and throws FlowLogFileError with the reason: callers
 * use it to validate a configuration before applying it.
 */
import { closeSync, constants, fstatSync, fchmodSync, openSync, statSync, unlinkSync } from 'node:fs';
import { makeDirectories, sharedDirectoryProblem } from '../lib/private-dir.js';
import { close, fstat, read, rename, unlink, write } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

const closeAsync = promisify(close);
const fstatAsync = promisify(fstat);
const readAsync = promisify(read);
const renameAsync = promisify(rename);
const unlinkAsync = promisify(unlink);
const writeAsync = promisify(write);

export const DEFAULT_FILE_MODE = 0o640;
export const DEFAULT_MAX_BYTES = 100 * 1024 * 1024;
export const DEFAULT_KEEP = 5;
/** Mode of a directory vpcd creates for its flow log. */
export const DIRECTORY_MODE = 0o750;

export interface FlowLogFileOptions {
  readonly path: string;
  readonly mode: number;
  readonly allowSharedDirectory: boolean;
  /** 0: never rotate. */
  readonly maxBytes: number;
  readonly keep: number;
  /** First line of every file; null: none (JSON lines). */
  readonly header: string | null;
}

export class FlowLogFileError extends Error {}

// Read access only to check an existing file's first line; every write appends.
const OPEN_EXISTING = constants.O_RDWR | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const OPEN_NEW = constants.O_RDWR | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_CREAT | constants.O_EXCL;

/** Bytes read to find an existing file's first line. */
const FIRST_LINE_MAX = 4096;

/** True when the non-empty file on `fd` starts the way this format's files start. */
async function startsAsExpected(fd: number, header: string | null): Promise<boolean> {
  const buf = Buffer.alloc(FIRST_LINE_MAX);
  const { bytesRead: n } = await readAsync(fd, buf, 0, buf.length, 0);
  const text = buf.subarray(0, n).toString('utf8');
  const nl = text.indexOf('\n');
  const first = nl < 0 ? text : text.slice(0, nl);
  return header === null ? first.startsWith('{') : first === header;
}

/** Opens (creating it if needed) the file at opts.path under the rules above. Returns the fd, its size, and whether it was created. */
function secureOpen(opts: FlowLogFileOptions): { fd: number; size: number; created: boolean } {
  const path = opts.path;
  const dir = dirname(path);
  try {
    makeDirectories(dir, DIRECTORY_MODE);
  } catch (e) {
    throw new FlowLogFileError(`flowLogs.path ${path}: cannot create directory ${dir}: ${(e as Error).message}`);
  }
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    throw new FlowLogFileError(`flowLogs.path ${path}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new FlowLogFileError(`flowLogs.path ${path}: ${dir} is not a directory`);
  const shared = opts.allowSharedDirectory ? undefined : sharedDirectoryProblem(st);
  if (shared !== undefined) {
    throw new FlowLogFileError(`flowLogs.path ${path}: directory ${dir} ${shared}: another user could replace the file; ` +
      'use a private directory or set flowLogs.allowSharedDirectory: true');
  }
  let fd: number;
  let created = true;
  try {
    fd = openSync(path, OPEN_NEW, opts.mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') throw openError(path, e);
    created = false;
    try {
      fd = openSync(path, OPEN_EXISTING);
    } catch (e2) {
      throw openError(path, e2);
    }
  }
  try {
    const fst = fstatSync(fd);
    if (!fst.isFile()) throw new FlowLogFileError(`flowLogs.path ${path}: not a regular file`);
    if (fst.nlink > 1) throw new FlowLogFileError(`flowLogs.path ${path}: the file has ${fst.nlink} hard links; refusing to append to it`);
    if (created) fchmodSync(fd, opts.mode);
    return { fd, size: fst.size, created };
  } catch (e) {
    closeSync(fd);
    if (created) unlinkSync(path);
    if (e instanceof FlowLogFileError) throw e;
    throw new FlowLogFileError(`flowLogs.path ${path}: ${(e as Error).message}`);
  }
}

function openError(path: string, e: unknown): FlowLogFileError {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENXIO') return new FlowLogFileError(`flowLogs.path ${path}: not a regular file (a FIFO or socket without a reader)`);
  if (err.code === 'ELOOP') return new FlowLogFileError(`flowLogs.path ${path}: is a symbolic link; refusing to follow it`);
  if (err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'EROFS') return new FlowLogFileError(`flowLogs.path ${path}: cannot write there (${err.code})`);
  return new FlowLogFileError(`flowLogs.path ${path}: ${err.message}`);
}

export class FlowLogFile {
  private fd: number;
  /** Bytes in the current file. */
  size: number;
  rotations = 0;
  /** Set by open() when this object created the file; cleared by the first write (see discardIfUnused). */
  private createdEmpty: boolean;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly headerLine: Buffer;
  /** The open file's first line was compared with the header (once per file, at its first write). */
  private checked = false;

  private constructor(readonly opts: FlowLogFileOptions, opened: { fd: number; size: number; created: boolean }) {
    this.fd = opened.fd;
    this.size = opened.size;
    this.createdEmpty = opened.created;
    this.headerLine = Buffer.from(opts.header === null ? '' : `${opts.header}\n`);
  }

  /** Opens or creates the file. Throws FlowLogFileError with the reason. */
  static open(opts: FlowLogFileOptions): FlowLogFile {
    return new FlowLogFile(opts, secureOpen(opts));
  }

  get path(): string {
    return this.opts.path;
  }

  /**
   * Appends whole lines (no trailing newline in each), rotating between
   * lines when the size limit would be passed. Resolves when written.
   */
  appendLines(lines: readonly string[]): Promise<void> {
    // The bytes are made now, by the caller's turn; the queued write only splits them at line ends.
    const buf = Buffer.from(lines.length > 0 ? `${lines.join('\n')}\n` : '');
    const ends = new Int32Array(lines.length);
    let at = -1;
    for (let i = 0; i < lines.length; i++) ends[i] = at = buf.indexOf(0x0a, at + 1) + 1;
    return this.enqueue(() => this.writeLines(buf, ends));
  }

  /** Closes and reopens the path (after an external rotation). Keeps the old file if the new one cannot be opened. */
  reopen(): Promise<void> {
    return this.enqueue(async () => {
      if (this.closed) return;
      const next = secureOpen(this.opts);
      const old = this.fd;
      this.fd = next.fd;
      this.size = next.size;
      this.checked = false;
      await closeAsync(old);
    });
  }

  /** Closes the file after everything queued before. */
  close(): Promise<void> {
    return this.enqueue(async () => {
      if (this.closed) return;
      this.closed = true;
      await closeAsync(this.fd);
    });
  }

  /**
   * For a reload that is rejected after this file was opened: closes it and,
   * when open() created it and nothing was written, removes it again.
   */
  discardIfUnused(): Promise<void> {
    return this.enqueue(async () => {
      if (this.closed) return;
      this.closed = true;
      const st = await fstatAsync(this.fd);
      await closeAsync(this.fd);
      if (this.createdEmpty && st.size === 0) await unlinkAsync(this.opts.path).catch(() => undefined);
    });
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    const run = this.queue.then(op);
    // The queue goes on after a failed operation; the caller sees the failure.
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Writes `buf` (lines ending at `ends`), rotating between two lines when the next would pass maxBytes. */
  private async writeLines(buf: Buffer, ends: Int32Array): Promise<void> {
    if (this.closed) throw new FlowLogFileError(`flow log ${this.opts.path} is closed`);
    // The file's size now, not as last seen: another writer (a reload's old file object) or a truncation may have changed it.
    this.size = (await fstatAsync(this.fd)).size;
    if (!this.checked) {
      this.checked = true;
      if (this.size > 0 && !(await startsAsExpected(this.fd, this.opts.header))) await this.rotate();
    }
    const max = this.opts.maxBytes;
    const header = this.headerLine.length;
    let start = 0;
    for (let i = 0; i < ends.length; i++) {
      const end = ends[i]!, prev = i === 0 ? 0 : ends[i - 1]!;
      const fileBytes = this.size === 0 ? header : this.size;
      if (max > 0 && fileBytes + (end - start) > max && fileBytes + (prev - start) > header) {
        if (prev > start) await this.write(buf.subarray(start, prev));
        start = prev;
        await this.rotate();
      }
    }
    if (buf.length > start) await this.write(buf.subarray(start));
  }

  /** Writes bytes, preceded by the header when the file is empty. */
  private async write(bytes: Buffer): Promise<void> {
    if (this.size === 0 && this.headerLine.length > 0) await this.writeAll(this.headerLine);
    await this.writeAll(bytes);
    this.createdEmpty = false;
  }

  private async writeAll(buf: Buffer): Promise<void> {
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await writeAsync(this.fd, buf, off, buf.length - off);
      if (bytesWritten <= 0) throw new FlowLogFileError(`flow log ${this.opts.path}: write made no progress`);
      off += bytesWritten;
      this.size += bytesWritten;
    }
  }

  /** path.(keep-1) -> path.keep, ..., path -> path.1; then a new file at path. */
  private async rotate(): Promise<void> {
    const p = this.opts.path;
    const keep = this.opts.keep;
    if (keep === 0) await unlinkAsync(p).catch(ignoreMissing);
    else {
      for (let i = keep - 1; i >= 1; i--) await renameAsync(`${p}.${i}`, `${p}.${i + 1}`).catch(ignoreMissing);
      await renameAsync(p, `${p}.1`);
    }
    const next = secureOpen(this.opts);
    const old = this.fd;
    this.fd = next.fd;
    this.size = next.size;
    this.checked = false;
    this.rotations++;
    await closeAsync(old);
  }
}

function ignoreMissing(e: unknown): void {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
}
