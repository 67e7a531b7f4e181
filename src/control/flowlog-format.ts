/**
 * The flow-log record format: AWS's LogFormat string (`flowLogs.format`).
 *
 * AWS writes the fields a flow log names, in that order, separated by one
 * space; a field with no value for a record is `-` [VPC-FL]. The default
 * format is the version-2 fields in AWS's table order. A custom format's
 * `version` is the highest version among the fields it names.
 *
 * This module owns the catalogue of field names (what `vpcd check` accepts)
 * and the parsing of a LogFormat string; telemetry/flowlog-record.ts renders
 * the fields of a record.
 */

/** Every field AWS defines, with the version that introduced it (AWS's table order). */
export const FLOW_LOG_FIELDS: ReadonlyArray<readonly [name: string, version: number]> = [
  ['version', 2], ['account-id', 2], ['interface-id', 2], ['srcaddr', 2], ['dstaddr', 2], ['srcport', 2], ['dstport', 2],
  ['protocol', 2], ['packets', 2], ['bytes', 2], ['start', 2], ['end', 2], ['action', 2], ['log-status', 2],
  ['vpc-id', 3], ['subnet-id', 3], ['instance-id', 3], ['tcp-flags', 3], ['type', 3], ['pkt-srcaddr', 3], ['pkt-dstaddr', 3],
  ['region', 4], ['az-id', 4], ['sublocation-type', 4], ['sublocation-id', 4],
  ['pkt-src-aws-service', 5], ['pkt-dst-aws-service', 5], ['flow-direction', 5], ['traffic-path', 5],
  ['ecs-cluster-arn', 7], ['ecs-cluster-name', 7], ['ecs-container-instance-arn', 7], ['ecs-container-instance-id', 7],
  ['ecs-container-id', 7], ['ecs-second-container-id', 7], ['ecs-service-name', 7], ['ecs-task-definition-arn', 7],
  ['ecs-task-arn', 7], ['ecs-task-id', 7],
  ['reject-reason', 8],
];

const VERSION_OF: ReadonlyMap<string, number> = new Map(FLOW_LOG_FIELDS);

/** The default format: the version-2 fields in AWS's order. */
export const DEFAULT_FLOW_LOG_FIELDS: readonly string[] = FLOW_LOG_FIELDS.filter(([, v]) => v === 2).map(([n]) => n);

/** The default format as AWS spells it in a LogFormat string. */
export const DEFAULT_LOG_FORMAT = DEFAULT_FLOW_LOG_FIELDS.map((n) => `\${${n}}`).join(' ');

/** A parsed format: the fields in order and the version its records carry. */
export interface FlowLogFormat {
  readonly fields: readonly string[];
  readonly version: number;
}

/** The value of `version` for records of these fields (the highest version among them, at least 2). */
export function formatVersion(fields: readonly string[]): number {
  let v = 2;
  for (const f of fields) v = Math.max(v, VERSION_OF.get(f) ?? 2);
  return v;
}

/**
 * Parses a LogFormat string: `${field}` tokens separated by spaces, as AWS
 * takes them. Returns the format, or the reason it is refused (an unknown or
 * repeated field, text outside a `${...}`, no field at all).
 */
export function parseLogFormat(s: string): FlowLogFormat | { readonly error: string } {
  const tokens = s.trim().split(/\s+/).filter((t) => t !== '');
  if (tokens.length === 0) return { error: 'names no field; give at least one ${field}' };
  const fields: string[] = [];
  const unknown: string[] = [];
  for (const t of tokens) {
    const m = /^\$\{([a-z0-9-]+)\}$/.exec(t);
    if (m === null) return { error: `"${t}" is not a field reference; write each field as \${name} separated by spaces` };
    const name = m[1]!;
    if (!VERSION_OF.has(name)) unknown.push(name);
    else if (fields.includes(name)) return { error: `names \${${name}} twice` };
    else fields.push(name);
  }
  if (unknown.length > 0) {
    return { error: `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `\${${n}}`).join(', ')}; AWS's fields are ${FLOW_LOG_FIELDS.map(([n]) => n).join(', ')}` };
  }
  return { fields, version: formatVersion(fields) };
}
