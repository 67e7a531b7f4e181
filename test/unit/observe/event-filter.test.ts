/**
 * `vpcd observe` filters: each filter keeps exactly the events it names
 * (checked against events built for the purpose, both sides of a NAT
 * translation included), and names the configuration does not know are
 * refused with a suggestion.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/control/config.js';
import type { ObserveEvent } from '../../../src/observe/event-decode.js';
import { compileFilter, FilterError, parseProtoFilter } from '../../../src/observe/event-filter.js';

const cfg = parseConfig(`
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 }
  sb: { cidr: 198.18.2.0/24 }
instances:
  web: { subnet: sa, ip: 198.18.1.10, publicIp: 203.0.113.10 }
  db: { subnet: sb, ip: 198.18.2.20 }
internetGateway: {}
`, 'f.yaml');

function ev(o: Partial<ObserveEvent>): ObserveEvent {
  return { type: 'flow', time: '2026-01-01T00:00:00.000Z', verdict: 'ACCEPT', stage: 'sg-ingress', by: null, code: null, instance: null,
    proto: 'tcp', src: '198.18.1.10', dst: '198.18.2.20', sport: 40000, dport: 5432, packets: 1, bytes: 60, ...o };
}

const A = ev({});
const B = ev({ verdict: 'REJECT', code: 'SUBNET_ACL_RESTRICTION', instance: 'db', src: '198.51.100.7', dst: '198.18.2.20', dport: 22 });
const C = ev({ type: 'drop', verdict: 'REJECT', reason: 'no_route', proto: 'udp', src: '198.18.2.20', dst: '198.51.100.9', sport: 53, dport: 53 });
const D = ev({ type: 'nat', proto: 'icmp', sport: null, dport: null, src: '198.18.2.20', dst: '198.51.100.9', xsrc: '203.0.113.10', xdst: '198.51.100.9' });
const ALL = [A, B, C, D];
const kept = (spec: Parameters<typeof compileFilter>[0]): ObserveEvent[] => ALL.filter((e) => compileFilter(spec, cfg).matches(e));

describe('observe filters', () => {
  it.each([
    [{}, [A, B, C, D]],
    [{ verdict: 'REJECT' as const }, [B, C]],
    [{ proto: 17 }, [C]],
    [{ proto: 1 }, [D]],
    [{ port: 22 }, [B]],
    [{ port: 53 }, [C]],
    [{ instance: 'web' }, [A, D]],
    [{ instance: 'db' }, [A, B, C, D]],
    [{ subnet: 'sa' }, [A]],
    [{ cidr: '198.51.100.0/24' }, [B, C, D]],
    [{ cidr: '203.0.113.10/32' }, [D]],
    [{ reason: 'NO_ROUTE' }, [C]],
    [{ reason: 'subnet_acl_restriction' }, [B]],
    [{ verdict: 'REJECT' as const, cidr: '198.51.100.9/32' }, [C]],
  ])('%j', (spec, want) => {
    expect(kept(spec)).toEqual(want);
  });

  it('refuses unknown names and bad values, with a suggestion', () => {
    expect(() => compileFilter({ instance: 'wbe' }, cfg)).toThrow(/"web"/);
    expect(() => compileFilter({ subnet: 'sc' }, cfg)).toThrow(FilterError);
    expect(() => compileFilter({ cidr: '198.51.100.0/33' }, cfg)).toThrow(/IPv4 CIDR/);
    expect(() => compileFilter({ reason: 'nacll' }, cfg)).toThrow(/"nacl"/);
    expect(() => compileFilter({ port: 70000 }, cfg)).toThrow(/0-65535/);
    expect(() => parseProtoFilter('tpc')).toThrow(/"tcp"/);
    expect(parseProtoFilter('ICMP')).toBe(1);
  });
});
