/**
 * Flow-log fields with AWS's semantics on real packets through the data
 * plane, written by the real writer to a file, and read back the way the
 * tools people use for AWS flow logs read them: Athena's table for the
 * default version-2 format (columns in AWS's order, space-delimited, one
 * header line skipped, typed columns), AWS's documented table for versions
 * 2 to 5, and, for a custom format in another order, the columns of the
 * format's fields (names with '-' as '_'), checked field by field.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Tcp, ipv4Of, TCP_ACK, TCP_FIN, TCP_SYN } from '../../helpers/frames.js';
import { routerMac, instanceMac } from '../../../src/lab/names.js';
import { FlowLogs, type FlowLogSink } from '../../../src/telemetry/flowlogs.js';
import { flowLogEnis } from '../../../src/telemetry/flowlog-record.js';
import { awsId, idScope, isAwsId, natGatewayEniId } from '../../../src/control/aws-ids.js';
import type { FlowLogsConfig } from '../../../src/control/config-types.js';

const MAC = (i: string) => instanceMac('t', i);
const R = (s: string) => routerMac('t', s);
const ACCT = '123456789012';

const VPC = `
vpc: { name: t, cidr: 198.18.0.0/16, accountId: "${ACCT}" }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
internetGateway: { name: igw }
natGateways:
  nat-a: { subnet: pub, type: public, ip: 198.18.1.5, publicIp: 203.0.113.5 }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: nat-a } ] }
securityGroups:
  app: {}
  web: { ingress: [ { protocol: tcp, ports: 443, cidr: 0.0.0.0/0 } ] }
instances:
  app: { subnet: priv, ip: 198.18.2.10, securityGroups: [app] }
  web: { subnet: pub, ip: 198.18.1.10, publicIp: 203.0.113.10, securityGroups: [web] }
`;
const APP = '198.18.2.10', WEB = '198.18.1.10', NATIP = '198.18.1.5', EIP = '203.0.113.5', NET = '203.0.113.100';
const peerMac = Buffer.from([0x02, 0, 0, 0, 0, 0x99]);
const UPLINK_MAC = '02:76:75:70:6c:6b';

let root = '';
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vpcd-flf-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/**
 * Traffic: app (private subnet) opens TCP to NET:443 through the NAT gateway
 * (SYN, the SYN-ACK back, a FIN), and NET opens TCP to web's public address
 * (SYN in, SYN-ACK out). Returns the NAT gateway's port for the flow.
 */
function traffic(h: Harness): number {
  const out = h.run([{ port: h.port('app'), frame: ethIpv4Tcp({ srcMac: MAC('app'), dstMac: R('priv'), src: APP, dst: NET, sport: 40000, dport: 443, flags: TCP_SYN }) }]);
  expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
  const natPort = ipv4Of(out[0]!.frame).readUInt16BE(20);
  const back = h.run([{ port: h.uplinkPort, frame: ethIpv4Tcp({ srcMac: '02:00:00:00:00:99', dstMac: UPLINK_MAC, src: NET, dst: EIP, sport: 443, dport: natPort, flags: TCP_SYN | TCP_ACK }) }]);
  expect(back.map((f) => f.port)).toEqual([h.port('app')]);
  expect(h.run([{ port: h.port('app'), frame: ethIpv4Tcp({ srcMac: MAC('app'), dstMac: R('priv'), src: APP, dst: NET, sport: 40000, dport: 443, flags: TCP_FIN | TCP_ACK }) }])).toHaveLength(1);
  const toWeb = h.run([{ port: h.uplinkPort, frame: ethIpv4Tcp({ srcMac: '02:00:00:00:00:99', dstMac: UPLINK_MAC, src: NET, dst: '203.0.113.10', sport: 50000, dport: 443, flags: TCP_SYN }) }]);
  expect(toWeb.map((f) => f.port)).toEqual([h.port('web')]);
  expect(h.run([{ port: h.port('web'), frame: ethIpv4Tcp({ srcMac: MAC('web'), dstMac: R('pub'), src: WEB, dst: NET, sport: 443, dport: 50000, flags: TCP_SYN | TCP_ACK }) }])).toHaveLength(1);
  return natPort;
}

/** Runs the traffic and writes one interval through the real writer; returns the file's lines. */
async function writeInterval(c: Partial<FlowLogsConfig>): Promise<{ lines: string[]; natPort: number; h: Harness }> {
  const h = new Harness(VPC, { security: true, uplink: true, neighbors: [NET], neighborMac: peerMac });
  const path = join(root, 'fl', 'flows.log');
  const sink: FlowLogSink = { flowLog: null };
  const enis = flowLogEnis(h.cfg, h.topo.instanceNames, h.topo.natNames);
  const f = FlowLogs.prepare(null, { path, aggregationInterval: 60, ...c }, enis, ACCT, sink, (_p, e) => { throw e; }).commit(1_700_000_000_000)!;
  h.security!.flowLog = sink.flowLog;
  h.security!.wallMs = 1_700_000_001_000;
  const natPort = traffic(h);
  await f.close(1_700_000_060_000);
  return { lines: readFileSync(path, 'utf8').split('\n').filter((l) => l !== ''), natPort, h };
}

type Col = readonly [name: string, type: 'int' | 'bigint' | 'string'];

/**
 * Athena's table for the default format, in its column order (AWS: "Create a table for Amazon VPC flow logs and
 * query it", https://docs.aws.amazon.com/athena/latest/ug/vpc-flow-logs-create-table-statement.html: space-delimited,
 * skip.header.line.count 1).
 */
const ATHENA_V2: readonly Col[] = [
  ['version', 'int'], ['account_id', 'string'], ['interface_id', 'string'], ['srcaddr', 'string'], ['dstaddr', 'string'],
  ['srcport', 'int'], ['dstport', 'int'], ['protocol', 'bigint'], ['packets', 'bigint'], ['bytes', 'bigint'],
  ['start', 'bigint'], ['end', 'bigint'], ['action', 'string'], ['log_status', 'string'],
];

/**
 * Reads a file as Athena reads a space-delimited table with
 * skip.header.line.count = 1: a row per line, columns by position, numeric
 * columns parsed (a value that is not a number is an error here; Athena would
 * give NULL), `-` read as NULL.
 */
function athenaRows(lines: readonly string[], cols: readonly Col[]): Record<string, string | number | null>[] {
  return lines.slice(1).map((line) => {
    const v = line.split(' ');
    expect(v.length, `columns of "${line}"`).toBe(cols.length);
    const row: Record<string, string | number | null> = {};
    cols.forEach(([name, type], i) => {
      const s = v[i]!;
      if (s === '-') row[name] = null;
      else if (type === 'string') row[name] = s;
      else {
        expect(s, `${name} of "${line}"`).toMatch(/^\d+$/);
        row[name] = Number(s);
      }
    });
    return row;
  });
}

/** The same page's table for versions 2 to 5: a flow log whose format names these fields in this order loads into it. */
const ATHENA_V2_TO_V5: readonly Col[] = [
  ...ATHENA_V2, ['vpc_id', 'string'], ['subnet_id', 'string'], ['instance_id', 'string'], ['tcp_flags', 'int'], ['type', 'string'],
  ['pkt_srcaddr', 'string'], ['pkt_dstaddr', 'string'], ['region', 'string'], ['az_id', 'string'], ['sublocation_type', 'string'],
  ['sublocation_id', 'string'], ['pkt_src_aws_service', 'string'], ['pkt_dst_aws_service', 'string'], ['flow_direction', 'string'], ['traffic_path', 'int'],
];

const V5 = '${version} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${account-id} ${type} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ' +
  '${pkt-srcaddr} ${pkt-dstaddr} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${tcp-flags} ${log-status} ${flow-direction} ${traffic-path} ' +
  '${region} ${az-id} ${sublocation-type} ${sublocation-id} ${pkt-src-aws-service} ${pkt-dst-aws-service}';
const NUMERIC = new Set(['version', 'srcport', 'dstport', 'protocol', 'packets', 'bytes', 'start', 'end', 'tcp-flags', 'traffic-path']);

describe('flow-log fields on real packets', () => {
  it('ids are in AWS form, derived from the names: instance ENIs, then NAT gateway ENIs (instance-id -)', () => {
    const h = new Harness(VPC, { security: true });
    const enis = flowLogEnis(h.cfg, h.topo.instanceNames, h.topo.natNames);
    const scope = idScope(h.cfg);
    expect(enis.map((e) => e.interfaceId)).toEqual([awsId(scope, 'eni', 'app'), awsId(scope, 'eni', 'web'), natGatewayEniId(scope, 'nat-a')]);
    expect(enis.map((e) => e.instanceId)).toEqual([awsId(scope, 'i', 'app'), awsId(scope, 'i', 'web'), '-']);
    expect(enis.map((e) => e.subnetId)).toEqual([awsId(scope, 'subnet', 'priv'), awsId(scope, 'subnet', 'pub'), awsId(scope, 'subnet', 'pub')]);
    for (const e of enis) for (const id of [e.interfaceId, e.subnetId, e.vpcId]) expect(isAwsId(id), id).toBe(true);
    expect(new Set(enis.map((e) => e.interfaceId)).size).toBe(3);
  });

  it('default format: loads as Athena\'s version-2 table, field by field', async () => {
    const { lines } = await writeInterval({});
    expect(lines[0]).toBe(ATHENA_V2.map(([n]) => n.replace('_', '-')).join(' '));
    const rows = athenaRows(lines, ATHENA_V2);
    const eniApp = awsId({ accountId: ACCT, vpcName: 't' }, 'eni', 'app');
    const syn = rows.find((r) => r.interface_id === eniApp && r.srcaddr === APP && r.dstport === 443);
    expect(syn).toEqual({
      version: 2, account_id: ACCT, interface_id: eniApp, srcaddr: APP, dstaddr: NET, srcport: 40000, dstport: 443,
      protocol: 6, packets: 2, bytes: 80, start: 1_700_000_001, end: 1_700_000_001, action: 'ACCEPT', log_status: 'OK',
    });
    expect(rows.every((r) => r.version === 2 && r.account_id === ACCT && r.log_status === 'OK')).toBe(true);
  });

  it('custom format with v5 fields: version 5, pkt-*addr on the NAT gateway ENI, tcp-flags OR, flow-direction, traffic-path, - where vpcd has no value', async () => {
    const { lines, natPort } = await writeInterval({ format: V5.split(' ').map((t) => t.slice(2, -1)) });
    const fields = V5.split(' ').map((t) => t.slice(2, -1));
    expect(lines[0]).toBe(fields.join(' '));
    const cols: Col[] = fields.map((f) => [f.replace(/-/g, '_'), NUMERIC.has(f) ? 'bigint' : 'string']);
    const rows = athenaRows(lines, cols);
    const scope = { accountId: ACCT, vpcName: 't' };
    const eni = (n: string) => awsId(scope, 'eni', n), natEni = natGatewayEniId(scope, 'nat-a');
    const pick = (iface: string, src: string, dst: string, dir: string) => {
      const m = rows.filter((r) => r.interface_id === iface && r.srcaddr === src && r.dstaddr === dst && r.flow_direction === dir);
      expect(m, `${iface} ${src} -> ${dst} ${dir}`).toHaveLength(1);
      return m[0]!;
    };
    const common = { version: 5, vpc_id: awsId(scope, 'vpc', 't'), account_id: ACCT, type: 'IPv4', protocol: 6, action: 'ACCEPT', log_status: 'OK',
      region: null, az_id: null, sublocation_type: null, sublocation_id: null, pkt_src_aws_service: null, pkt_dst_aws_service: null };
    // The instance's ENI: SYN + FIN out (2 | 1 = 3), SYN-ACK in (18); through the NAT gateway = path 1; pkt- fields equal.
    expect(pick(eni('app'), APP, NET, 'egress')).toMatchObject({ ...common, subnet_id: awsId(scope, 'subnet', 'priv'), instance_id: awsId(scope, 'i', 'app'),
      pkt_srcaddr: APP, pkt_dstaddr: NET, srcport: 40000, dstport: 443, packets: 2, tcp_flags: 3, traffic_path: 1 });
    expect(pick(eni('app'), NET, APP, 'ingress')).toMatchObject({ ...common, pkt_srcaddr: NET, pkt_dstaddr: APP, tcp_flags: 18, traffic_path: null });
    // The NAT gateway's ENI (AWS's example): its private address, never the Elastic IP; pkt-dstaddr / pkt-srcaddr the far end.
    const natCommon = { ...common, subnet_id: awsId(scope, 'subnet', 'pub'), instance_id: null };
    expect(pick(natEni, APP, NATIP, 'ingress')).toMatchObject({ ...natCommon, pkt_srcaddr: APP, pkt_dstaddr: NET, srcport: 40000, dstport: 443, tcp_flags: 3, traffic_path: null });
    expect(pick(natEni, NATIP, NET, 'egress')).toMatchObject({ ...natCommon, pkt_srcaddr: NATIP, pkt_dstaddr: NET, srcport: natPort, dstport: 443, tcp_flags: 3, traffic_path: 2 });
    expect(pick(natEni, NET, NATIP, 'ingress')).toMatchObject({ ...natCommon, pkt_srcaddr: NET, pkt_dstaddr: NATIP, srcport: 443, dstport: natPort, tcp_flags: 18, traffic_path: null });
    expect(pick(natEni, NATIP, APP, 'egress')).toMatchObject({ ...natCommon, pkt_srcaddr: NET, pkt_dstaddr: APP, srcport: 443, dstport: 40000, tcp_flags: 18, traffic_path: 1 });
    // Through the internet gateway: the private address on the ENI, path 2 on the way out.
    expect(pick(eni('web'), NET, WEB, 'ingress')).toMatchObject({ pkt_dstaddr: WEB, tcp_flags: 2, traffic_path: null });
    expect(pick(eni('web'), WEB, NET, 'egress')).toMatchObject({ pkt_srcaddr: WEB, tcp_flags: 18, traffic_path: 2 });
    expect(rows.filter((r) => r.srcaddr === EIP || r.dstaddr === EIP || r.srcaddr === '203.0.113.10' || r.dstaddr === '203.0.113.10')).toEqual([]);
  });

  it('the v2-v5 format in Athena\'s column order loads into AWS\'s documented v2-v5 table, typed columns included', async () => {
    const fields = ATHENA_V2_TO_V5.map(([c]) => c.replace(/_/g, '-'));
    const { lines } = await writeInterval({ format: fields });
    expect(lines[0]).toBe(fields.join(' '));
    const rows = athenaRows(lines, ATHENA_V2_TO_V5);
    expect(rows).toHaveLength(8);
    const scope = { accountId: ACCT, vpcName: 't' };
    const out = rows.find((r) => r.interface_id === natGatewayEniId(scope, 'nat-a') && r.flow_direction === 'egress' && r.dstaddr === APP);
    expect(out).toEqual({
      version: 5, account_id: ACCT, interface_id: natGatewayEniId(scope, 'nat-a'), srcaddr: NATIP, dstaddr: APP, srcport: 443, dstport: 40000,
      protocol: 6, packets: 1, bytes: 40, start: 1_700_000_001, end: 1_700_000_001, action: 'ACCEPT', log_status: 'OK',
      vpc_id: awsId(scope, 'vpc', 't'), subnet_id: awsId(scope, 'subnet', 'pub'), instance_id: null, tcp_flags: 18, type: 'IPv4',
      pkt_srcaddr: NET, pkt_dstaddr: APP, region: null, az_id: null, sublocation_type: null, sublocation_id: null,
      pkt_src_aws_service: null, pkt_dst_aws_service: null, flow_direction: 'egress', traffic_path: 1,
    });
  });

  it('JSON lines: one object per record keyed by the field names, numbers for numeric fields, null for -', async () => {
    const fields = ['version', 'interface-id', 'srcaddr', 'dstaddr', 'pkt-dstaddr', 'tcp-flags', 'flow-direction', 'traffic-path', 'region', 'action', 'log-status'];
    const { lines } = await writeInterval({ format: fields, fileFormat: 'json' });
    const objs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objs.length).toBe(8); // 2 on app, 2 on web, 4 on the NAT gateway; no header line
    for (const o of objs) expect(Object.keys(o)).toEqual(fields);
    const natIn = objs.find((o) => o['srcaddr'] === APP && o['dstaddr'] === NATIP);
    expect(natIn).toEqual({ version: 5, 'interface-id': natGatewayEniId({ accountId: ACCT, vpcName: 't' }, 'nat-a'), srcaddr: APP, dstaddr: NATIP,
      'pkt-dstaddr': NET, 'tcp-flags': 3, 'flow-direction': 'ingress', 'traffic-path': null, region: null, action: 'ACCEPT', 'log-status': 'OK' });
  });
});
