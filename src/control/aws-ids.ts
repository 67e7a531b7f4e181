/**
 * Stable AWS-form resource ids derived from configuration names.
 *
 * AWS names resources `i-0123456789abcdef0`, `eni-…`, `subnet-…`, `vpc-…`,
 * `sg-…`, `acl-…`, `rtb-…`, `nat-…`, `igw-…`, `vgw-…`, `cgw-…`, `vpn-…`
 * (prefix + 17 lowercase hex digits). vpcd has names, not ids, so it derives
 * each id from the account, the VPC's name, the kind and the resource's name:
 * the same configuration gives the same ids on every run and every host, and
 * the metadata service, flow logs and `explain` all show the same ones.
 *
 * One owner: every place that prints an AWS id calls `awsId`.
 */
import { createHash } from 'node:crypto';

export type AwsIdKind = 'i' | 'eni' | 'subnet' | 'vpc' | 'sg' | 'acl' | 'rtb' | 'nat' | 'igw' | 'vgw' | 'cgw' | 'vpn' | 'ami' | 'eipalloc';

/** Scope of the ids: two VPCs (or two accounts) with the same names get different ids. */
export interface AwsIdScope {
  readonly accountId: string;
  readonly vpcName: string;
}

/** `kind-` + 17 hex digits, a pure function of (scope, kind, name). */
export function awsId(scope: AwsIdScope, kind: AwsIdKind, name: string): string {
  const h = createHash('sha256').update(`vpcd\0${scope.accountId}\0${scope.vpcName}\0${kind}\0${name}`).digest('hex');
  return `${kind}-${h.slice(0, 17)}`;
}

/** The scope of a loaded configuration. */
export function idScope(cfg: { readonly vpc: { readonly name: string; readonly accountId: string } }): AwsIdScope {
  return { accountId: cfg.vpc.accountId, vpcName: cfg.vpc.name };
}

const ID_RE = /^(i|eni|subnet|vpc|sg|acl|rtb|nat|igw|vgw|cgw|vpn|ami|eipalloc)-[0-9a-f]{17}$/;

/** True when `s` has the form of an id `awsId` makes. */
export function isAwsId(s: string): boolean {
  return ID_RE.test(s);
}

/** The id of a NAT gateway's network interface (its name space is apart from the instances'). */
export function natGatewayEniId(scope: AwsIdScope, natName: string): string {
  return awsId(scope, 'eni', `nat-gateway/${natName}`);
}
