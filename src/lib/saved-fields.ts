/**
 * Reading back state that vpcd saved at a clean stop (the restart state
 * file): typed field readers over parsed JSON that refuse anything of the
 * wrong type, range or length with a SavedStateError naming the field, and
 * the encoders that pair with them (bytes as base64, times relative to the
 * save instant with `null` for "never").
 *
 * Control plane only: allocates freely.
 */

/** Saved state that does not have the shape its reader expects. */
export class SavedStateError extends Error {}

export type SavedObject = Readonly<Record<string, unknown>>;

/** `v` as a plain object, or SavedStateError naming `what`. */
export function savedObject(v: unknown, what: string): SavedObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SavedStateError(`${what}: expected an object`);
  return v as SavedObject;
}

/** `v` as an array of at most `max` elements. */
export function savedArray(v: unknown, what: string, max: number): readonly unknown[] {
  if (!Array.isArray(v)) throw new SavedStateError(`${what}: expected an array`);
  if (v.length > max) throw new SavedStateError(`${what}: ${v.length} elements, at most ${max}`);
  return v;
}

/** An integer field in [lo, hi]. */
export function savedInt(o: SavedObject, key: string, lo: number, hi: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new SavedStateError(`${key}: expected an integer in ${lo}..${hi}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** A finite number field in [lo, hi]. */
export function savedNumber(o: SavedObject, key: string, lo: number, hi: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
    throw new SavedStateError(`${key}: expected a number in ${lo}..${hi}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function savedBool(o: SavedObject, key: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw new SavedStateError(`${key}: expected true or false`);
  return v;
}

/** A string field of at most `max` characters, one of `allowed` when given. */
export function savedString<T extends string>(o: SavedObject, key: string, max: number, allowed?: readonly T[]): T {
  const v = o[key];
  if (typeof v !== 'string' || v.length > max) throw new SavedStateError(`${key}: expected a string of at most ${max} characters`);
  if (allowed !== undefined && !allowed.includes(v as T)) throw new SavedStateError(`${key}: ${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
  return v as T;
}

/** Bytes as base64 (the pair of savedBytes). */
export function bytesToSaved(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** A base64 field: exactly one of `lengths` bytes when given, else at most `max` bytes. */
export function savedBytes(o: SavedObject, key: string, lengths?: readonly number[], max = 65_536): Uint8Array {
  const v = o[key];
  if (typeof v !== 'string' || v.length > Math.ceil(max / 3) * 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) {
    throw new SavedStateError(`${key}: expected base64 of at most ${max} bytes`);
  }
  const out = new Uint8Array(Buffer.from(v, 'base64'));
  if (lengths !== undefined && !lengths.includes(out.length)) throw new SavedStateError(`${key}: ${out.length} bytes, expected ${lengths.join(' or ')}`);
  return out;
}

/** A time as milliseconds after `saveMs` (negative: before), null for "never" (Infinity). */
export function timeToSaved(t: number, saveMs: number): number | null {
  return Number.isFinite(t) ? Math.round((t - saveMs) * 1000) / 1000 : null;
}

/**
 * A saved time back on another clock: `baseMs` is the instant of that clock
 * the save instant maps to. null is Infinity. Times further than ~30 years
 * either way are refused.
 */
export function savedTime(o: SavedObject, key: string, baseMs: number): number {
  const v = o[key];
  if (v === null) return Infinity;
  if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > 1e12) throw new SavedStateError(`${key}: expected milliseconds or null`);
  return baseMs + v;
}
