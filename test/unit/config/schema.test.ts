/**
 * schema/vpcd-config.schema.json against the loader. The project does not
 * depend on a JSON Schema library, so this file carries a small validator for
 * exactly the draft 2020-12 keywords the schema uses (a test below fails if the
 * schema starts using another one).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../../src/control/config.js';
import { ConfigError } from '../../../src/control/config-types.js';

const root = resolve(import.meta.dirname, '../../..');
type Schema = boolean | { readonly [k: string]: unknown };
const schema = JSON.parse(readFileSync(resolve(root, 'schema/vpcd-config.schema.json'), 'utf8')) as { [k: string]: unknown };

const APPLICATORS = [
  '$ref', 'type', 'enum', 'const', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum',
  'properties', 'patternProperties', 'additionalProperties', 'propertyNames', 'required',
  'items', 'minItems', 'maxItems', 'uniqueItems', 'allOf', 'anyOf', 'oneOf', 'not', 'if', 'then', 'else',
];
const ANNOTATIONS = ['$schema', '$id', '$defs', 'title', 'description', 'default'];

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function typeOk(t: string, x: unknown): boolean {
  switch (t) {
    case 'object': return isObject(x);
    case 'array': return Array.isArray(x);
    case 'string': return typeof x === 'string';
    case 'integer': return typeof x === 'number' && Number.isInteger(x);
    case 'number': return typeof x === 'number';
    case 'boolean': return typeof x === 'boolean';
    case 'null': return x === null;
    default: throw new Error(`unknown type ${t}`);
  }
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Errors of `x` against `s` (empty = valid). */
function validate(s: Schema, x: unknown, path = '$'): string[] {
  if (s === true) return [];
  if (s === false) return [`${path}: not allowed`];
  const errs: string[] = [];
  const sub = (k: string): Schema => s[k] as Schema;
  if (typeof s.$ref === 'string') {
    const name = /^#\/\$defs\/(.+)$/.exec(s.$ref)?.[1];
    const target = (schema.$defs as Record<string, Schema>)[name ?? ''];
    if (target === undefined) throw new Error(`bad $ref ${s.$ref}`);
    errs.push(...validate(target, x, path));
  }
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.some((t) => typeOk(t, x))) errs.push(`${path}: not of type ${types.join('|')}`);
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => same(e, x))) errs.push(`${path}: not in enum`);
  if ('const' in s && !same(s.const, x)) errs.push(`${path}: not const`);
  if (typeof x === 'string') {
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(x)) errs.push(`${path}: does not match ${s.pattern}`);
    const len = [...x].length;
    if (typeof s.minLength === 'number' && len < s.minLength) errs.push(`${path}: too short`);
    if (typeof s.maxLength === 'number' && len > s.maxLength) errs.push(`${path}: too long`);
  }
  if (typeof x === 'number') {
    if (typeof s.minimum === 'number' && x < s.minimum) errs.push(`${path}: below minimum`);
    if (typeof s.maximum === 'number' && x > s.maximum) errs.push(`${path}: above maximum`);
  }
  if (isObject(x)) {
    const props = (s.properties ?? {}) as Record<string, Schema>;
    const patterns = Object.entries((s.patternProperties ?? {}) as Record<string, Schema>);
    for (const [k, v] of Object.entries(x)) {
      let matched = false;
      if (k in props) {
        matched = true;
        errs.push(...validate(props[k] as Schema, v, `${path}.${k}`));
      }
      for (const [re, ps] of patterns) {
        if (new RegExp(re, 'u').test(k)) {
          matched = true;
          errs.push(...validate(ps, v, `${path}.${k}`));
        }
      }
      if (!matched && s.additionalProperties !== undefined) errs.push(...validate(sub('additionalProperties'), v, `${path}.${k}`));
      if (s.propertyNames !== undefined) errs.push(...validate(sub('propertyNames'), k, `${path}.${k}(name)`));
    }
    for (const r of (s.required ?? []) as string[]) if (!(r in x)) errs.push(`${path}: missing ${r}`);
  }
  if (Array.isArray(x)) {
    if (s.items !== undefined) x.forEach((v, i) => errs.push(...validate(sub('items'), v, `${path}[${i}]`)));
    if (typeof s.minItems === 'number' && x.length < s.minItems) errs.push(`${path}: too few items`);
    if (typeof s.maxItems === 'number' && x.length > s.maxItems) errs.push(`${path}: too many items`);
    if (s.uniqueItems === true && new Set(x.map((v) => JSON.stringify(v))).size !== x.length) errs.push(`${path}: duplicate items`);
  }
  for (const a of (s.allOf ?? []) as Schema[]) errs.push(...validate(a, x, path));
  if (Array.isArray(s.anyOf) && !(s.anyOf as Schema[]).some((a) => validate(a, x, path).length === 0)) errs.push(`${path}: matches no anyOf`);
  if (Array.isArray(s.oneOf) && (s.oneOf as Schema[]).filter((a) => validate(a, x, path).length === 0).length !== 1) errs.push(`${path}: does not match exactly one oneOf`);
  if (s.not !== undefined && validate(sub('not'), x, path).length === 0) errs.push(`${path}: matches not`);
  if (s.if !== undefined) {
    const branch = validate(sub('if'), x, path).length === 0 ? 'then' : 'else';
    if (s[branch] !== undefined) errs.push(...validate(sub(branch), x, path));
  }
  return errs;
}

function schemaErrors(text: string): string[] {
  return validate(schema, parse(text) as unknown);
}

function loaderErrors(text: string): string[] {
  try {
    parseConfig(text, 't.yaml');
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => i.message);
    throw e;
  }
}

const doc = (...lines: string[]): string => `${lines.join('\n')}\n`;
const HEAD = ['vpc:', '  name: t', '  cidr: 198.18.0.0/16'];
const NET = [...HEAD, 'subnets: { a: { cidr: 198.18.1.0/24 } }', 'internetGateway: {}'];
const VPN = [...HEAD, 'vpnGateway: {}', 'vpnConnections:', '  c:', '    role: vgw', '    remoteNetworks: [198.19.0.0/16]', '    auth: { psk: { env: K } }'];
const TUN = '    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/30 } ]';

describe('JSON Schema', () => {
  it('is draft 2020-12 and uses only keywords this validator implements', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    const known = new Set([...APPLICATORS, ...ANNOTATIONS]);
    const walk = (s: unknown, inProps: boolean): void => {
      if (!isObject(s)) return;
      for (const [k, v] of Object.entries(s)) {
        if (inProps) {
          walk(v, false);
          continue;
        }
        expect(known.has(k), `keyword ${k}`).toBe(true);
        if (k === 'properties' || k === 'patternProperties' || k === '$defs') walk(v, true);
        else if (Array.isArray(v)) v.forEach((x) => walk(x, false));
        else if (k !== 'enum' && k !== 'const' && k !== 'default') walk(v, false);
      }
    };
    walk(schema, false);
  });

  it('accepts the complete example, the contract example and a minimal file', () => {
    for (const f of ['config/examples/full.yaml', 'config/examples/nacl-reply.yaml', 'config/demo.yaml', 'test/fixtures/config/contract.yaml', 'test/fixtures/config/warning.yaml']) {
      expect(schemaErrors(readFileSync(resolve(root, f), 'utf8')), f).toEqual([]);
    }
    expect(schemaErrors(doc(...HEAD))).toEqual([]);
  });

  it('has the same top-level keys as the loader', () => {
    const keys = Object.keys(schema.properties as object);
    for (const k of keys) {
      expect(loaderErrors(doc(...HEAD.filter(() => k !== 'vpc'), `${k}: 5`)).join('\n'), k).not.toContain(`${k}: unknown key`);
    }
    expect(loaderErrors(doc(...HEAD, 'vpcs: 5'))[0]).toContain('vpcs: unknown key');
    expect(schemaErrors(doc(...HEAD, 'vpcs: 5'))).not.toEqual([]);
  });

  // Shape errors: the schema and the loader both reject each of these.
  const bothReject: [string, string][] = [
    ['missing vpc.cidr', doc('vpc: { name: t }')],
    ['unknown key', doc(...HEAD, 'subnets: { a: { cidr: 198.18.1.0/24, zone: x } }')],
    ['bad CIDR', doc(...HEAD, 'subnets: { a: { cidr: 198.18.1.0/33 } }')],
    ['bad name', doc(...HEAD, 'subnets: { "a b": { cidr: 198.18.1.0/24 } }')],
    ['sg- name', doc(...HEAD, 'securityGroups: { sg-1: {} }')],
    ['rule number', doc(...HEAD, 'networkAcls: { n: { inbound: [ { rule: 0, action: allow, protocol: all, cidr: 0.0.0.0/0 } ] } }')],
    ['action', doc(...HEAD, 'networkAcls: { n: { inbound: [ { rule: 1, action: drop, protocol: all, cidr: 0.0.0.0/0 } ] } }')],
    ['NACL without cidr', doc(...HEAD, 'networkAcls: { n: { inbound: [ { rule: 1, action: allow, protocol: all } ] } }')],
    ['protocol', doc(...HEAD, 'securityGroups: { s: { ingress: [ { protocol: sctp, cidr: 0.0.0.0/0 } ] } }')],
    ['ports syntax', doc(...HEAD, 'securityGroups: { s: { ingress: [ { protocol: tcp, ports: http, cidr: 0.0.0.0/0 } ] } }')],
    ['icmpType with tcp', doc(...HEAD, 'securityGroups: { s: { ingress: [ { protocol: tcp, icmpType: 8, cidr: 0.0.0.0/0 } ] } }')],
    ['ports with icmp', doc(...HEAD, 'securityGroups: { s: { ingress: [ { protocol: icmp, ports: 8, cidr: 0.0.0.0/0 } ] } }')],
    ['all types, one code', doc(...HEAD, 'securityGroups: { s: { ingress: [ { protocol: icmp, icmpCode: 4, cidr: 0.0.0.0/0 } ] } }')],
    ['two targets', doc(...HEAD, 'securityGroups: { s: { ingress: [ { protocol: all, cidr: 0.0.0.0/0, group: s } ] } }')],
    ['no target', doc(...HEAD, 'securityGroups: { s: { ingress: [ { protocol: all } ] } }')],
    ['six groups', doc(...NET, 'securityGroups: { a1: {}, a2: {}, a3: {}, a4: {}, a5: {} }', 'instances: { i: { subnet: a, ip: 198.18.1.9, securityGroups: [default, a1, a2, a3, a4, a5] } }')],
    ['multicast MAC', doc(...NET, 'instances: { i: { subnet: a, ip: 198.18.1.9, mac: "03:00:00:00:00:01" } }')],
    ['long interface name', doc(...NET, 'instances: { i: { subnet: a, ip: 198.18.1.9, interface: abcdefghijklmnop } }')],
    ['public NAT without publicIp', doc(...NET, 'natGateways: { n: { subnet: a, ip: 198.18.1.9 } }')],
    ['private NAT with publicIp', doc(...NET, 'natGateways: { n: { subnet: a, type: private, ip: 198.18.1.9, publicIp: 203.0.113.9 } }')],
    ['route to local', doc(...NET, 'routeTables: { r: { routes: [ { destination: 0.0.0.0/0, target: local } ] } }')],
    ['conntrack.max', doc(...HEAD, 'conntrack: { max: 16777217 }')],
    ['udp timeout', doc(...HEAD, 'conntrack: { timeouts: { udp: 61 } }')],
    ['flow log interval', doc(...HEAD, 'flowLogs: { path: f, aggregationInterval: 0 }')],
    ['metrics listen', doc(...HEAD, 'metrics: { listen: 9469 }')],
    ['batch', doc(...HEAD, 'dataplane: { batch: 0 }')],
    ['state path', doc(...HEAD, 'state: { path: 5 }')],
    ['state enabled', doc(...HEAD, 'state: { enabled: maybe }')],
    ['state unknown key', doc(...HEAD, 'state: { file: x }')],
    ['zone record type', doc(...HEAD, 'privateZones: { corp.internal: { records: [ { name: db, type: PTR, values: [x] } ] } }')],
    ['zone name', doc(...HEAD, 'privateZones: { "bad..zone": {} }')],
    ['dns upstreams', doc(...HEAD, 'dns: { upstreams: [resolver.example] }')],
    ['role', doc(...VPN.map((l) => l.replace('role: vgw', 'role: aws')), TUN)],
    ['psk and certificate', doc(...VPN.map((l) => l.replace('auth: { psk: { env: K } }', 'auth: { psk: { env: K }, certificate: { cert: a, key: b, ca: c } }')), TUN)],
    ['psk env and file', doc(...VPN.map((l) => l.replace('{ env: K }', '{ env: K, file: k }')), TUN)],
    ['three tunnels', doc(...VPN, '    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/30 }, { peer: 198.51.100.2, insideCidr: 169.254.11.0/30 }, { peer: 198.51.100.3, insideCidr: 169.254.12.0/30 } ]')],
    ['inside /29', doc(...VPN, '    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/29 } ]')],
    ['reserved inside', doc(...VPN, '    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.169.252/30 } ]')],
    ['reserved inside, host bits', doc(...VPN, '    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.3.2/30 } ]')],
    ['short ike lifetime', doc(...VPN, TUN, '    ike: { lifetime: 600 }')],
    ['short dpd', doc(...VPN, TUN, '    ike: { dpdTimeout: 5 }')],
    ['unknown algorithm', doc(...VPN, TUN, '    esp: { proposals: [aes256-md5] }')],
    ['no remoteNetworks', doc(...VPN.filter((l) => !l.includes('remoteNetworks')), TUN)],
  ];

  for (const [what, text] of bothReject) {
    it(`rejects (schema and loader): ${what}`, () => {
      expect(schemaErrors(text), 'schema').not.toEqual([]);
      expect(loaderErrors(text), 'loader').not.toEqual([]);
    });
  }

  it('accepts what the loader accepts with the extensions', () => {
    const ok = [
      doc(...VPN, TUN, '    allowShortLifetimes: true', '    ike: { lifetime: 20, dpdTimeout: 3 }', '    esp: { lifetime: 10 }'),
      doc(...VPN.filter((l) => !l.includes('remoteNetworks')), TUN, '    splitTunnel: false'),
      doc(...NET, 'instances: { i: { subnet: a, ip: 198.18.1.9, mac: "02:AB:00:00:00:01", interface: eth-i } }', 'lab:', 'dataplane: { netns: x }'),
      doc(...HEAD, 'x-rules: &r [ { protocol: tcp, ports: 1024-65535, cidr: 0.0.0.0/0 } ]', 'securityGroups: { s: { ingress: *r } }'),
      doc(...HEAD, 'securityGroups: { s: { ingress: [ { protocol: "6", ports: "80", cidr: "2001:db8::/32" } ] } }'),
      doc(...HEAD, 'state: { path: run/t.state, enabled: false }'),
      doc(...HEAD, "privateZones: { corp.internal: { records: [ { name: db, type: A, values: [198.18.2.20], ttl: 60 }, { name: '@', type: MX, values: ['10 mail.corp.internal'] } ] } }", "dns: { upstreams: ['203.0.113.53', '127.0.0.1:5353', '[2001:db8::53]:53'] }"),
    ];
    for (const text of ok) {
      expect(schemaErrors(text), text).toEqual([]);
      expect(loaderErrors(text), text).toEqual([]);
    }
  });

  it('leaves cross-references and addressing to the loader', () => {
    // Shape-valid, so the schema accepts them; vpcd check rejects them.
    const semantic = [
      doc(...HEAD, 'subnets: { a: { cidr: 198.17.1.0/24 } }'),
      doc(...NET, 'instances: { i: { subnet: b, ip: 198.18.1.9 } }'),
      doc(...NET, 'instances: { i: { subnet: a, ip: 198.18.1.1 } }'),
      doc(...VPN, TUN, '    ike: { lifetime: 1800 }'),
    ];
    for (const text of semantic) {
      expect(schemaErrors(text), text).toEqual([]);
      expect(loaderErrors(text), text).not.toEqual([]);
    }
  });
});

describe('docs/config.md', () => {
  it('documents every key of the schema', () => {
    const md = readFileSync(resolve(root, 'docs/config.md'), 'utf8');
    const keys = new Set<string>();
    const walk = (s: unknown): void => {
      if (!isObject(s)) return;
      if (isObject(s.properties)) for (const k of Object.keys(s.properties)) keys.add(k);
      for (const v of Object.values(s)) {
        if (Array.isArray(v)) v.forEach(walk);
        else walk(v);
      }
    };
    walk(schema);
    // As `key`, or as the last part of a dotted path such as `ike.lifetime` or `tunnels[].peer`.
    const missing = [...keys].filter((k) => !new RegExp(`\`([^\`\\s]*[.\\]])?${k.replace(/[$]/g, '\\$')}\``).test(md));
    expect(missing).toEqual([]);
  });
});

describe('docs/config.md examples', () => {
  const md = readFileSync(resolve(root, 'docs/config.md'), 'utf8');
  // Code blocks, with the indentation of a block inside a list item removed.
  const blocks = [...md.matchAll(/^( *)```yaml\n([\s\S]*?)^\1```/gm)].map((m) =>
    (m[2] as string).split('\n').map((l) => l.slice((m[1] as string).length)).join('\n'));

  it('complete examples are valid; fragments are valid inside a minimal file', () => {
    expect(blocks.length).toBeGreaterThan(5);
    for (const b of blocks) {
      if (b.startsWith('vpc:')) {
        expect(loaderErrors(b), b).toEqual([]);
        expect(schemaErrors(b), b).toEqual([]);
      } else {
        // A fragment may name objects defined elsewhere: only shape is checked.
        expect(schemaErrors(`${HEAD.join('\n')}\n${b}`), b).toEqual([]);
      }
    }
  });
});
