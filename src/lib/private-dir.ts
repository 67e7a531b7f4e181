/**
 * Directories for files other users must not be able to swap (the flow log,
 * the restart state file): creating them with an exact mode, and telling
 * whether an existing one is private enough.
 */
import { chmodSync, existsSync, mkdirSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

/**
 * mkdir -p with `mode` set exactly on each directory created (the umask must
 * neither narrow nor widen it). One mkdir per missing component: bounded,
 * unlike a recursive mkdirSync, which can loop forever on a pseudo-filesystem
 * such as /proc.
 */
export function makeDirectories(dir: string, mode: number): void {
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(d)) break;
    missing.push(d);
    if (dirname(d) === d || missing.length > 64) break;
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    const d = missing[i]!;
    try {
      mkdirSync(d, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw e;
    }
    chmodSync(d, mode);
  }
}

/**
 * Why another user could replace a file in the directory `st` describes
 * (writable by its group or others, or owned by another user than ours or
 * root), or undefined when it is private.
 */
export function sharedDirectoryProblem(st: Stats, uid: number = process.getuid?.() ?? 0): string | undefined {
  if ((st.mode & 0o022) !== 0) {
    return `is writable by ${(st.mode & 0o002) !== 0 ? 'others' : 'its group'} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`;
  }
  if (st.uid !== uid && st.uid !== 0) return `belongs to uid ${st.uid}, not to vpcd's user or root`;
  return undefined;
}
