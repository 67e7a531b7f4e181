/**
 * `vpcd import aws FILE|DIR|- [--remap FROM=TO]... [--vpc ID]`: the JSON
 * the AWS CLI prints for describe-vpcs, describe-subnets,
 * describe-route-tables, describe-network-acls, describe-security-groups,
 * describe-instances, describe-nat-gateways, describe-internet-gateways,
 * describe-managed-prefix-lists and describe-vpn-connections, as a vpcd
 * configuration on stdout. The report of what could not be mapped (and of
 * the choices made) goes to stderr; nothing is dropped without a line there.
 */
import { readFileSync } from 'node:fs';
import { importAws, ImportError } from '../import/aws-import.js';
import { ImportInputError, readAwsInput } from '../import/aws-input.js';
import { parseRemap, type Remap, RemapError } from '../import/remap.js';
import { type Out, parseCommandArgs, str, strs, UsageError, usageFailure, wantsHelp } from './args.js';
import { version } from './version.js';

export const IMPORT_HELP = `usage: vpcd import aws FILE|DIR|- [FILE|DIR...] [--remap FROM=TO]... [--vpc ID]

Turns the JSON the AWS CLI prints into a vpcd configuration (YAML on stdout).
Each FILE holds one command's output (a DIR: its *.json files; -: stdin):

  aws ec2 describe-vpcs               aws ec2 describe-subnets
  aws ec2 describe-route-tables       aws ec2 describe-network-acls
  aws ec2 describe-security-groups    aws ec2 describe-instances
  aws ec2 describe-nat-gateways       aws ec2 describe-internet-gateways
  aws ec2 describe-managed-prefix-lists (with each list's entries:
      aws ec2 get-managed-prefix-list-entries --prefix-list-id pl-... > pl-....json)
  aws ec2 describe-vpn-connections    (and, when there is a VPN,
      describe-vpn-gateways and describe-customer-gateways)

Names come from Name tags, else the AWS ids (a comment above each object
gives its id). What vpcd cannot express (peering, endpoints, transit
gateways, IPv6 routing, ...) is listed on stderr, never silently dropped.

  --remap FROM=TO   move addresses inside FROM to TO (IPv4 CIDRs of the same
                    length), e.g. 172.31.0.0/16=198.18.0.0/16; repeatable
  --vpc ID          the VPC to import (its id or Name tag) when the input
                    holds several
  -h, --help        this text

Exit status: 0 the configuration was written (see the report for what was
not mapped), 1 bad arguments or input, 2 the output did not validate (a bug:
the problems are printed).`;

export function runImport(argv: string[], out: Out, stdin: () => string = () => readFileSync(0, 'utf8')): number {
  if (wantsHelp(argv)) {
    out.stdout(IMPORT_HELP);
    return 0;
  }
  let sources: readonly string[];
  let remaps: Remap[];
  let vpc: string | undefined;
  try {
    const p = parseCommandArgs(argv, { remap: { type: 'string', multiple: true }, vpc: { type: 'string' } });
    const [from, ...rest] = p.positionals;
    if (from === undefined) throw new UsageError('no source given: vpcd import aws FILE|DIR|-');
    if (from !== 'aws') throw new UsageError(`unknown source '${from}': only aws is supported`);
    if (rest.length === 0) throw new UsageError('no input given: a FILE, a DIR of *.json files, or - for stdin');
    sources = rest;
    remaps = strs(p, 'remap').map(parseRemap);
    vpc = str(p, 'vpc');
  } catch (e) {
    if (e instanceof UsageError) return usageFailure('import', e, out);
    if (e instanceof RemapError) return usageFailure('import', new UsageError(e.message), out);
    throw e;
  }
  try {
    const input = readAwsInput(sources, stdin);
    const r = importAws(input, { remaps, ...(vpc !== undefined ? { vpc } : {}), version: version() });
    out.stdout(r.yaml);
    out.stderr(r.report.format().split('\n').map((l) => `vpcd import: ${l}`).join('\n'));
    if (r.problems.length > 0) {
      out.stderr(`vpcd import: the output does not validate (please report this):\n${r.problems.map((p) => `  ${p}`).join('\n')}`);
      return 2;
    }
    return 0;
  } catch (e) {
    if (e instanceof ImportInputError || e instanceof ImportError || e instanceof RemapError) {
      out.stderr(`vpcd import: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
