/** flowLogs.format (AWS's LogFormat string) and flowLogs.fileFormat: parsing, versions, errors; the record renderer. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/control/config.js';
import { ConfigError } from '../../../src/control/config-types.js';
import { DEFAULT_FLOW_LOG_FIELDS, DEFAULT_LOG_FORMAT, FLOW_LOG_FIELDS, parseLogFormat } from '../../../src/control/flowlog-format.js';
import { FlowLogRecordFormat } from '../../../src/telemetry/flowlog-record.js';
/** AWS's default (version 2) header, as AWS documents it. */
const FLOW_LOG_HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';
import { FlowDir, FlowLogTable, TrafficPath, awsTcpFlags } from '../../../src/pipeline/flowlog-table.js';

const HEAD = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  a: { cidr: 198.18.1.0/24 }
instances:
  i1: { subnet: a, ip: 198.18.1.10 }
`;

function messages(flowLogs: string): string[] {
  try {
    parseConfig(`${HEAD}flowLogs: ${flowLogs}\n`, 'c.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => i.message);
    throw e;
  }
  return [];
}

describe('flowLogs.format', () => {
  it('the default format is the version-2 fields in AWS order (the header vpcd always wrote)', () => {
    expect(DEFAULT_FLOW_LOG_FIELDS.join(' ')).toBe(FLOW_LOG_HEADER);
    expect(parseLogFormat(DEFAULT_LOG_FORMAT)).toEqual({ fields: DEFAULT_FLOW_LOG_FIELDS, version: 2 });
    expect(new FlowLogRecordFormat(undefined, undefined).header).toBe(FLOW_LOG_HEADER);
  });

  it('version is the highest version among the fields named', () => {
    expect(parseLogFormat('${srcaddr} ${dstaddr}')).toEqual({ fields: ['srcaddr', 'dstaddr'], version: 2 });
    expect(parseLogFormat('${tcp-flags} ${srcaddr}')).toMatchObject({ version: 3 });
    expect(parseLogFormat('${az-id}')).toMatchObject({ version: 4 });
    expect(parseLogFormat(' ${version}  ${traffic-path}\t${pkt-srcaddr} ')).toEqual({ fields: ['version', 'traffic-path', 'pkt-srcaddr'], version: 5 });
    expect(parseLogFormat('${ecs-task-id}')).toMatchObject({ version: 7 });
    expect(parseLogFormat('${reject-reason}')).toMatchObject({ version: 8 });
    expect(FLOW_LOG_FIELDS.length).toBe(40);
  });

  it('refuses unknown, repeated and malformed fields with a clear error', () => {
    expect(parseLogFormat('${srcaddr} ${src-addr} ${bogus}')).toEqual({ error: expect.stringMatching(/^unknown fields \$\{src-addr\}, \$\{bogus\}; AWS's fields are version, account-id/) });
    expect(parseLogFormat('${srcaddr} ${srcaddr}')).toEqual({ error: 'names ${srcaddr} twice' });
    expect(parseLogFormat('srcaddr dstaddr')).toEqual({ error: expect.stringMatching(/^"srcaddr" is not a field reference/) });
    expect(parseLogFormat('${srcaddr},${dstaddr}')).toEqual({ error: expect.stringMatching(/is not a field reference/) });
    expect(parseLogFormat('   ')).toEqual({ error: expect.stringMatching(/names no field/) });
  });

  it('the configuration reads format and fileFormat, and reports a bad one at its key', () => {
    const c = parseConfig(`${HEAD}flowLogs: { path: /f, format: "\${version} \${interface-id} \${flow-direction}", fileFormat: json }\n`, 'c.yaml');
    expect(c.flowLogs).toMatchObject({ format: ['version', 'interface-id', 'flow-direction'], fileFormat: 'json' });
    expect(messages('{ path: /f, format: "${version} ${nope}" }')).toEqual([expect.stringMatching(/^flowLogs\.format: unknown field \$\{nope\}; AWS's fields are /)]);
    expect(messages('{ path: /f, fileFormat: csv }')).toEqual([expect.stringMatching(/^flowLogs\.fileFormat: expected one of text, json, got "csv"/)]);
    expect(Object.keys(parseConfig(`${HEAD}flowLogs: { path: /f }\n`, 'c.yaml').flowLogs!)).not.toContain('format');
  });
});

describe('flow-log records', () => {
  it('tcp-flags as AWS records them: FIN 1, SYN 2, RST 4, SYN-ACK 18; ACK and PSH alone 0', () => {
    expect([0x02, 0x12, 0x01, 0x11, 0x04, 0x14, 0x10, 0x18, 0x08].map(awsTcpFlags)).toEqual([2, 18, 1, 1, 4, 4, 0, 0, 0]);
  });

  it('the table ORs tcp-flags over the interval per record, keeps direction in the key, the first packet\'s path and the pkt addresses', () => {
    const t = new FlowLogTable({ enis: 2, recordsPerEni: 8, seed: 7 });
    t.record(0, 1, 2, 40000, 443, 6, 1, 60, 1000, 2, FlowDir.Egress, TrafficPath.InternetGateway);
    t.record(0, 1, 2, 40000, 443, 6, 1, 52, 2000, 0, FlowDir.Egress, TrafficPath.InternetGateway);
    t.record(0, 1, 2, 40000, 443, 6, 1, 52, 3000, 1, FlowDir.Egress, TrafficPath.InternetGateway);
    // Same 5-tuple arriving (a hairpin): its own record.
    t.record(0, 1, 2, 40000, 443, 6, 1, 60, 1000, 18, FlowDir.Ingress, TrafficPath.None);
    // NAT gateway ENI: same shown addresses, different packet destinations: two records.
    t.record(1, 1, 9, 40000, 443, 6, 1, 60, 1000, 2, FlowDir.Ingress, 0, 1, 100);
    t.record(1, 1, 9, 40000, 443, 6, 1, 60, 1000, 2, FlowDir.Ingress, 0, 1, 101);
    const got: string[] = [];
    t.drain((eni, _s, _d, _sp, _dp, _p, _a, packets, _b, _f, _l, flags, dir, path, ps, pd) => got.push(`${eni} ${packets} ${flags} ${dir} ${path} ${ps}>${pd}`));
    expect(got.sort()).toEqual(['0 1 18 1 0 1>2', '0 3 3 2 2 1>2', '1 1 2 1 0 1>100', '1 1 2 1 0 1>101']);
  });

  it('renders - for fields without a value in text, null in JSON; flow-direction and traffic-path as AWS writes them', () => {
    const t = new FlowLogTable({ enis: 1, recordsPerEni: 4, seed: 7 });
    t.record(0, 0xc6120a0a, 0xcb007164, 40000, 443, 6, 0, 60, 1_700_000_001_000, 2, FlowDir.Egress, TrafficPath.VirtualPrivateGateway);
    t.record(0, 0xcb007164, 0xc6120a0a, 53, 5353, 17, 1, 80, 1_700_000_002_000, 0, FlowDir.Ingress, TrafficPath.None);
    const eni = { interfaceId: 'eni-0123456789abcdef0', instanceId: 'i-0123456789abcdef0', subnetId: 'subnet-0123456789abcdef0', vpcId: 'vpc-0123456789abcdef0' };
    const fields = ['version', 'interface-id', 'instance-id', 'srcaddr', 'protocol', 'action', 'tcp-flags', 'flow-direction', 'traffic-path', 'region', 'ecs-task-id'];
    const text = new FlowLogRecordFormat(fields, 'text');
    expect(text.record('1', eni, t, 0)).toBe('7 eni-0123456789abcdef0 i-0123456789abcdef0 198.18.10.10 6 REJECT 2 egress 3 - -');
    expect(text.record('1', eni, t, 1)).toBe('7 eni-0123456789abcdef0 i-0123456789abcdef0 203.0.113.100 17 ACCEPT 0 ingress - - -');
    expect(text.status('1', eni, 10, 70, 'NODATA')).toBe('7 eni-0123456789abcdef0 i-0123456789abcdef0 - - - - - - - -');
    expect(text.status('1', undefined, 10, 70, 'SKIPDATA')).toBe('7 - - - - - - - - - -');
    const json = new FlowLogRecordFormat(['start', 'end', 'log-status', 'traffic-path', 'dstport'], 'json');
    expect(json.header).toBeNull();
    expect(JSON.parse(json.record('1', eni, t, 0))).toEqual({ start: 1_700_000_001, end: 1_700_000_001, 'log-status': 'OK', 'traffic-path': 3, dstport: 443 });
    expect(JSON.parse(json.status('1', eni, 10, 70, 'NODATA'))).toEqual({ start: 10, end: 70, 'log-status': 'NODATA', 'traffic-path': null, dstport: null });
  });
});
