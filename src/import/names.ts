/**
 * vpcd names for AWS objects: the `Name` tag (or another human name the
 * object has) made into a valid vpcd name, else the AWS id. Names are unique
 * per kind; a clash gets the id appended (`web-i-0abc...`), so every name in
 * the output traces back to one AWS object.
 */

/** vpcd names: letters, digits, ".", "_" and "-" (docs/config.md, Conventions). */
export function sanitizeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/-{2,}/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 128);
}

export class NameSpace {
  private readonly taken: Set<string>;

  constructor(reserved: Iterable<string> = []) {
    this.taken = new Set(reserved);
  }

  has(name: string): boolean {
    return this.taken.has(name);
  }

  /** A unique name from `wanted` (else `id`); `renamed` hears when the wanted one was taken or invalid. */
  take(wanted: string | undefined, id: string, renamed?: (wanted: string, got: string) => void): string {
    const base = wanted === undefined ? '' : sanitizeName(wanted);
    const safeId = sanitizeName(id) || 'unnamed';
    let name = base !== '' ? base : safeId;
    if (this.taken.has(name)) name = base !== '' && base !== safeId ? `${base}-${safeId}` : safeId;
    for (let i = 2; this.taken.has(name); i++) name = `${base || safeId}-${safeId}-${i}`;
    if (wanted !== undefined && name !== wanted) renamed?.(wanted, name);
    this.taken.add(name);
    return name;
  }
}
