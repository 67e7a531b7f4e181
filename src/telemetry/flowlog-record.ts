/**
 * Renders flow-log records in the configured format (control/flowlog-format.ts):
 * AWS's text (the fields named, space-separated, `-` for a field with no
 * value, after one header line of the field names) or JSON lines (one object
 * per record keyed by the field names; numbers for numeric fields, null where
 * the text has `-`).
 *
 * What each field holds in vpcd [VPC-FL], [VPC-FLX]:
 * - interface-id, instance-id, subnet-id, vpc-id: AWS-form ids derived from
 *   the names (control/aws-ids.ts); instance-id is `-` on a NAT gateway's ENI
 *   (a requester-managed interface).
 * - srcaddr/dstaddr as seen by the ENI (a NAT gateway's own private address on
 *   its side); pkt-srcaddr/pkt-dstaddr the packet's addresses.
 * - tcp-flags: FIN 1, SYN 2, RST 4, SYN-ACK 18, OR-ed over the interval.
 * - flow-direction ingress|egress; traffic-path 1 (same VPC, a NAT gateway
 *   included), 2 (internet gateway), 3 (virtual private gateway), egress only.
 * - type IPv4. region, az-id, sublocation-*, pkt-*-aws-service, ecs-* and
 *   reject-reason have no value in vpcd: `-`.
 * Off the packet path: this allocates freely.
 */
import type { VpcConfig } from '../control/config-types.js';
import { awsId, idScope, natGatewayEniId } from '../control/aws-ids.js';
import { DEFAULT_FLOW_LOG_FIELDS, formatVersion } from '../control/flowlog-format.js';
import { u32ToIp } from '../wire/addr.js';
import { FlowDir, type FlowLogTable } from '../pipeline/flowlog-table.js';

/** One network interface a flow log writes records for. */
export interface FlowLogEni {
  readonly interfaceId: string;
  /** `-` for a NAT gateway's ENI. */
  readonly instanceId: string;
  readonly subnetId: string;
  readonly vpcId: string;
}

/**
 * The ENIs of a configuration in the flow-log table's order: the instances
 * (topology order), then the NAT gateways (topology order).
 */
export function flowLogEnis(cfg: VpcConfig, instanceNames: readonly string[], natNames: readonly string[]): FlowLogEni[] {
  const scope = idScope(cfg);
  const vpcId = awsId(scope, 'vpc', cfg.vpc.name);
  const subnetId = (name: string | undefined): string => (name === undefined ? '-' : awsId(scope, 'subnet', name));
  return [
    ...instanceNames.map((n) => ({
      interfaceId: awsId(scope, 'eni', n), instanceId: awsId(scope, 'i', n), subnetId: subnetId(cfg.instances.get(n)?.subnet), vpcId,
    })),
    ...natNames.map((n) => ({ interfaceId: natGatewayEniId(scope, n), instanceId: '-', subnetId: subnetId(cfg.natGateways.get(n)?.subnet), vpcId })),
  ];
}

export function sameEnis(a: readonly FlowLogEni[], b: readonly FlowLogEni[]): boolean {
  return a.length === b.length && a.every((x, i) => {
    const y = b[i]!;
    return x.interfaceId === y.interfaceId && x.instanceId === y.instanceId && x.subnetId === y.subnetId && x.vpcId === y.vpcId;
  });
}

type Value = string | number | null;

/** The record formatter of one flow-log configuration. */
export class FlowLogRecordFormat {
  readonly fields: readonly string[];
  readonly version: number;
  readonly json: boolean;
  private readonly values: Value[];

  constructor(fields: readonly string[] | undefined, fileFormat: 'text' | 'json' | undefined) {
    this.fields = fields ?? DEFAULT_FLOW_LOG_FIELDS;
    this.version = formatVersion(this.fields);
    this.json = fileFormat === 'json';
    this.values = new Array<Value>(this.fields.length).fill(null);
  }

  /** The file's first line (text), or null (JSON lines have no header). */
  get header(): string | null {
    return this.json ? null : this.fields.join(' ');
  }

  /** Record r of table t on ENI `eni`. */
  record(acct: string, eni: FlowLogEni | undefined, t: FlowLogTable, r: number): string {
    const ports = t.ports[r]!, pa = t.protoAction[r]!;
    const first = Math.floor(t.firstMs[r]! / 1000);
    const dir = pa >>> 9, path = t.path[r]!;
    return this.render((f) => {
      switch (f) {
        case 'srcaddr': return u32ToIp(t.src[r]! >>> 0);
        case 'dstaddr': return u32ToIp(t.dst[r]! >>> 0);
        case 'srcport': return ports >>> 16;
        case 'dstport': return ports & 0xffff;
        case 'protocol': return (pa >>> 1) & 0xff;
        case 'packets': return t.packets[r]!;
        case 'bytes': return t.bytes[r]!;
        case 'start': return first;
        case 'end': return Math.max(Math.ceil(t.lastMs[r]! / 1000), first);
        case 'action': return (pa & 1) === 1 ? 'ACCEPT' : 'REJECT';
        case 'log-status': return 'OK';
        case 'tcp-flags': return t.tcpFlags[r]!;
        case 'type': return 'IPv4';
        case 'pkt-srcaddr': return u32ToIp(t.pktSrc[r]! >>> 0);
        case 'pkt-dstaddr': return u32ToIp(t.pktDst[r]! >>> 0);
        case 'flow-direction': return dir === FlowDir.Ingress ? 'ingress' : dir === FlowDir.Egress ? 'egress' : null;
        case 'traffic-path': return dir === FlowDir.Egress && path !== 0 ? path : null;
        default: return this.eniField(f, acct, eni);
      }
    });
  }

  /** A NODATA or SKIPDATA record of an ENI (undefined: packets for no known ENI) over the interval. */
  status(acct: string, eni: FlowLogEni | undefined, startS: number, endS: number, status: 'NODATA' | 'SKIPDATA'): string {
    return this.render((f) => {
      switch (f) {
        case 'start': return startS;
        case 'end': return endS;
        case 'log-status': return status;
        default: return this.eniField(f, acct, eni);
      }
    });
  }

  /** The fields that belong to the ENI rather than to the flow; null for the others. */
  private eniField(f: string, acct: string, eni: FlowLogEni | undefined): Value {
    switch (f) {
      case 'version': return this.version;
      case 'account-id': return acct;
      case 'interface-id': return eni?.interfaceId ?? null;
      case 'instance-id': return eni === undefined || eni.instanceId === '-' ? null : eni.instanceId;
      case 'subnet-id': return eni?.subnetId ?? null;
      case 'vpc-id': return eni?.vpcId ?? null;
      default: return null;
    }
  }

  private render(value: (field: string) => Value): string {
    const fs = this.fields, vs = this.values;
    for (let i = 0; i < fs.length; i++) vs[i] = value(fs[i]!);
    if (!this.json) return vs.map((v) => (v === null ? '-' : String(v))).join(' ');
    const o: Record<string, Value> = {};
    for (let i = 0; i < fs.length; i++) o[fs[i]!] = vs[i]!;
    return JSON.stringify(o);
  }
}
