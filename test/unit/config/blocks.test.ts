/**
 * Every CIDR the loader returns carries its parsed form next to the text
 * (`block`, `blocks`), parsed once by the one parser; the compilers read it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Cidr, cidrToString, parseCidr } from '../../../src/control/cidr.js';
import { parseConfig } from '../../../src/control/config.js';
import type { VpcConfig } from '../../../src/control/config-types.js';

const root = resolve(import.meta.dirname, '../../..');
const FILES = ['config/examples/full.yaml', 'config/demo.yaml', 'test/fixtures/config/contract.yaml'];

/** Every (path, text, block) the config holds. */
function pairs(c: VpcConfig): [string, string, Cidr | undefined][] {
  const out: [string, string, Cidr | undefined][] = [['vpc', c.vpc.cidr, c.vpc.block]];
  for (const s of c.subnets.values()) out.push([`subnets.${s.name}`, s.cidr, s.block]);
  for (const n of c.networkAcls.values()) {
    for (const [dir, rules] of [['inbound', n.inbound], ['outbound', n.outbound]] as const) {
      rules.forEach((r, i) => out.push([`networkAcls.${n.name}.${dir}[${i}]`, r.cidr, r.block]));
    }
  }
  for (const g of c.securityGroups.values()) {
    for (const [dir, rules] of [['ingress', g.ingress], ['egress', g.egress]] as const) {
      rules.forEach((r, i) => {
        if (r.cidr !== undefined) out.push([`securityGroups.${g.name}.${dir}[${i}]`, r.cidr, r.block]);
        else expect(r.block, `securityGroups.${g.name}.${dir}[${i}]`).toBeUndefined();
      });
    }
  }
  for (const p of c.prefixLists.values()) {
    expect(p.blocks.length, `prefixLists.${p.name}`).toBe(p.cidrs.length);
    p.cidrs.forEach((t, i) => out.push([`prefixLists.${p.name}[${i}]`, t, p.blocks[i]]));
  }
  for (const t of c.routeTables.values()) t.routes.forEach((r, i) => out.push([`routeTables.${t.name}[${i}]`, r.destination, r.block]));
  return out;
}

describe('parsed CIDR blocks', () => {
  for (const f of FILES) {
    it(`${f}: every CIDR's block is the parse of its text`, () => {
      const c = parseConfig(readFileSync(resolve(root, f), 'utf8'), f);
      const all = pairs(c);
      expect(all.length).toBeGreaterThan(5);
      for (const [path, text, block] of all) {
        const r = parseCidr(text);
        expect(r.ok, path).toBe(true);
        expect(block, path).toEqual(r.ok ? r.cidr : undefined);
        expect(block !== undefined && cidrToString(block), path).toBe(text);
      }
    });
  }

  it('implicit objects (default NACL, default SG egress) carry 0.0.0.0/0 as a block', () => {
    const c = parseConfig('vpc: { name: t, cidr: 198.18.0.0/16 }\n', 't.yaml');
    const any = { family: 4, addr: 0, prefix: 0 };
    expect(c.networkAcls.get('default')?.inbound[0]?.block).toEqual(any);
    expect(c.networkAcls.get('default')?.outbound[0]?.block).toEqual(any);
    expect(c.securityGroups.get('default')?.egress[0]?.block).toEqual(any);
    expect(c.vpc.block).toEqual({ family: 4, addr: 0xc6120000, prefix: 16 });
  });

  it('blocks stay out of keys, spreads and JSON (an IPv6 block holds a bigint)', () => {
    const c = parseConfig([
      'vpc: { name: t, cidr: 198.18.0.0/16 }',
      'networkAcls: { n: { inbound: [ { rule: 1, action: allow, protocol: all, cidr: "2001:db8::/32" } ] } }',
      'securityGroups: { s: { ingress: [ { protocol: all, cidr: "2001:db8::/32" } ] } }',
      'prefixLists: { p: { cidrs: ["2001:db8::/48"] } }',
    ].join('\n'), 't.yaml');
    const rule = c.networkAcls.get('n')?.inbound[0];
    expect(rule?.block).toEqual({ family: 6, addr: 0x20010db8n << 96n, prefix: 32 });
    expect(Object.keys(rule ?? {})).not.toContain('block');
    expect(Object.keys(c.vpc)).toEqual(['name', 'cidr', 'accountId']);
    expect(() => JSON.stringify([rule, c.securityGroups.get('s'), c.prefixLists.get('p')])).not.toThrow();
  });
});
