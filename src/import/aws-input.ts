/**
 * The input of `vpcd import aws`: the JSON the AWS CLI prints for the
 * describe-* commands, from files, a directory of files (*.json, not
 * recursive) or standard input. A file holds one command's output (or
 * several outputs merged into one object, or an array of them); what kind it
 * is comes from its top-level key:
 *
 *   Vpcs, Subnets, RouteTables, NetworkAcls, SecurityGroups, Reservations
 *   (describe-instances), NatGateways, InternetGateways, PrefixLists
 *   (describe-managed-prefix-lists), VpnConnections, and, when given,
 *   VpnGateways and CustomerGateways (for a VPN's ASN, attachment and
 *   customer address).
 *
 * describe-managed-prefix-lists does not list a list's entries; the output of
 * `aws ec2 get-managed-prefix-list-entries --prefix-list-id pl-...`
 * (`{ "Entries": [...] }`) supplies them when its file name holds the list's
 * id (`pl-0123abcd.json`), or a list in PrefixLists may carry an `Entries`
 * array itself. Objects that appear twice (by id) are read once; a top-level
 * key of another command is listed in the report.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { arr, isObj, type Json, str } from './aws-json.js';

export class ImportInputError extends Error {}

export interface AwsInput {
  readonly vpcs: Json[];
  readonly subnets: Json[];
  readonly routeTables: Json[];
  readonly networkAcls: Json[];
  readonly securityGroups: Json[];
  /** Flattened from Reservations[].Instances. */
  readonly instances: Json[];
  readonly natGateways: Json[];
  readonly internetGateways: Json[];
  readonly prefixLists: Json[];
  /** Prefix-list id -> entries (`{ Cidr, Description }`). */
  readonly prefixListEntries: Map<string, Json[]>;
  readonly vpnConnections: Json[];
  readonly vpnGateways: Json[];
  readonly customerGateways: Json[];
  /** What was read, per source: `three-tier/subnets.json: 6 subnets`. */
  readonly summary: string[];
  /** Top-level keys no mapper reads: `source: key (n items)`. */
  readonly ignored: string[];
}

type ListKey = 'vpcs' | 'subnets' | 'routeTables' | 'networkAcls' | 'securityGroups' | 'natGateways' | 'internetGateways' | 'prefixLists' | 'vpnConnections' | 'vpnGateways' | 'customerGateways';

/** Top-level key -> where it goes, the id field, and a word for the summary. */
const KINDS: Readonly<Record<string, { list: ListKey; id: string; what: string }>> = {
  Vpcs: { list: 'vpcs', id: 'VpcId', what: 'VPC' },
  Subnets: { list: 'subnets', id: 'SubnetId', what: 'subnet' },
  RouteTables: { list: 'routeTables', id: 'RouteTableId', what: 'route table' },
  NetworkAcls: { list: 'networkAcls', id: 'NetworkAclId', what: 'network ACL' },
  SecurityGroups: { list: 'securityGroups', id: 'GroupId', what: 'security group' },
  NatGateways: { list: 'natGateways', id: 'NatGatewayId', what: 'NAT gateway' },
  InternetGateways: { list: 'internetGateways', id: 'InternetGatewayId', what: 'internet gateway' },
  PrefixLists: { list: 'prefixLists', id: 'PrefixListId', what: 'prefix list' },
  VpnConnections: { list: 'vpnConnections', id: 'VpnConnectionId', what: 'VPN connection' },
  VpnGateways: { list: 'vpnGateways', id: 'VpnGatewayId', what: 'VPN gateway' },
  CustomerGateways: { list: 'customerGateways', id: 'CustomerGatewayId', what: 'customer gateway' },
};

/** Keys of the CLI's envelope that carry no objects. */
const ENVELOPE = new Set(['NextToken', 'ResponseMetadata']);

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

export function emptyInput(): AwsInput {
  return {
    vpcs: [], subnets: [], routeTables: [], networkAcls: [], securityGroups: [], instances: [], natGateways: [],
    internetGateways: [], prefixLists: [], prefixListEntries: new Map(), vpnConnections: [], vpnGateways: [],
    customerGateways: [], summary: [], ignored: [],
  };
}

/** Adds one document (a parsed file) to `into`. */
export function addDocument(into: AwsInput, doc: Json, source: string): void {
  const docs = Array.isArray(doc) ? doc : [doc];
  const seen = new Map<ListKey | 'instances', Set<string>>();
  const idsOf = (k: ListKey | 'instances', list: Json[], idField: string) => {
    let s = seen.get(k);
    if (s === undefined) {
      s = new Set(list.map((o) => str(o, idField)).filter((x): x is string => x !== undefined));
      seen.set(k, s);
    }
    return s;
  };
  const found: string[] = [];
  for (const d of docs) {
    if (!isObj(d)) throw new ImportInputError(`${source}: expected the JSON object the AWS CLI prints (such as {"Subnets": [...]}), got ${Array.isArray(d) ? 'a nested array' : typeof d}`);
    for (const [key, value] of Object.entries(d)) {
      if (ENVELOPE.has(key)) continue;
      const kind = KINDS[key];
      if (kind !== undefined && Array.isArray(value)) {
        const list = into[kind.list];
        const ids = idsOf(kind.list, list, kind.id);
        let n = 0;
        for (const o of value) {
          const id = str(o, kind.id);
          if (id !== undefined && ids.has(id)) continue;
          if (id !== undefined) ids.add(id);
          list.push(o);
          n++;
        }
        found.push(plural(n, kind.what));
      } else if (key === 'Reservations' && Array.isArray(value)) {
        const ids = idsOf('instances', into.instances, 'InstanceId');
        let n = 0;
        for (const r of value) {
          for (const i of arr(r, 'Instances')) {
            const id = str(i, 'InstanceId');
            if (id !== undefined && ids.has(id)) continue;
            if (id !== undefined) ids.add(id);
            into.instances.push(i);
            n++;
          }
        }
        found.push(plural(n, 'instance'));
      } else if (key === 'Entries' && Array.isArray(value)) {
        const id = /\bpl-[0-9a-f]+\b/.exec(basename(source))?.[0];
        if (id === undefined) {
          into.ignored.push(`${source}: Entries (${plural(value.length, 'item')}): prefix-list entries whose list is unknown (name the file after the list, such as pl-0123abcd.json)`);
          continue;
        }
        into.prefixListEntries.set(id, [...(into.prefixListEntries.get(id) ?? []), ...value]);
        found.push(`${plural(value.length, 'entry')} of ${id}`.replace('entrys', 'entries'));
      } else {
        into.ignored.push(`${source}: ${key}${Array.isArray(value) ? ` (${plural(value.length, 'item')})` : ''}: not an output vpcd import reads`);
      }
    }
  }
  into.summary.push(`${source}: ${found.length > 0 ? found.join(', ') : 'nothing vpcd import reads'}`);
}

function parseJson(text: string, source: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (e) {
    throw new ImportInputError(`${source}: not JSON: ${(e as Error).message}`);
  }
}

/**
 * Reads every source (`-` is standard input, read with `stdin()`); a
 * directory contributes its *.json files in name order.
 */
export function readAwsInput(sources: readonly string[], stdin: () => string): AwsInput {
  const input = emptyInput();
  for (const src of sources) {
    if (src === '-') {
      addDocument(input, parseJson(stdin(), '<stdin>'), '<stdin>');
      continue;
    }
    let isDir: boolean;
    try {
      isDir = statSync(src).isDirectory();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new ImportInputError(`${src}: cannot read: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`);
    }
    const files = isDir ? readdirSync(src).filter((n) => n.endsWith('.json')).sort().map((n) => join(src, n)) : [src];
    if (isDir && files.length === 0) throw new ImportInputError(`${src}: no *.json files in this directory`);
    for (const f of files) {
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch (e) {
        throw new ImportInputError(`${f}: cannot read: ${(e as Error).message}`);
      }
      addDocument(input, parseJson(text, f), f);
    }
  }
  return input;
}
