/**
 * Reading the AWS CLI's JSON defensively: every value comes from a file the
 * user gives, so each access checks the type and a wrong or missing field
 * reads as undefined (the mappers report what they had to skip). Field names
 * are the AWS CLI's (the API's shapes, capitalised: `SubnetId`, `CidrBlock`).
 */

export type Json = unknown;
export type Obj = Readonly<Record<string, Json>>;

export function isObj(x: Json): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function str(o: Json, key: string): string | undefined {
  if (!isObj(o)) return undefined;
  const v = o[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function num(o: Json, key: string): number | undefined {
  if (!isObj(o)) return undefined;
  const v = o[key];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^-?[0-9]+$/.test(v)) return Number(v);
  return undefined;
}

export function bool(o: Json, key: string): boolean | undefined {
  if (!isObj(o)) return undefined;
  const v = o[key];
  return typeof v === 'boolean' ? v : undefined;
}

export function arr(o: Json, key: string): readonly Json[] {
  if (!isObj(o)) return [];
  const v = o[key];
  return Array.isArray(v) ? v : [];
}

export function obj(o: Json, key: string): Obj | undefined {
  if (!isObj(o)) return undefined;
  const v = o[key];
  return isObj(v) ? v : undefined;
}

/** The object's tags (`Tags: [{ Key, Value }]`). */
export function tags(o: Json): ReadonlyMap<string, string> {
  const m = new Map<string, string>();
  for (const t of arr(o, 'Tags')) {
    const k = str(t, 'Key');
    if (k !== undefined) m.set(k, typeof (t as Obj).Value === 'string' ? ((t as Obj).Value as string) : '');
  }
  return m;
}

/** The `Name` tag, when it is not blank. */
export function nameTag(o: Json): string | undefined {
  const n = tags(o).get('Name')?.trim();
  return n === undefined || n === '' ? undefined : n;
}

/** `{ Value: x }` lists (the VPN tunnel options' algorithm sets). */
export function values(o: Json, key: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const v of arr(o, key)) {
    const x = isObj(v) ? v.Value : undefined;
    if (typeof x === 'string' || typeof x === 'number') out.push(x);
  }
  return out;
}
