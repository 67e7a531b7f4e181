/** The live page's statistics (src/daemon/live-data.ts): rule hits of NACLs and security groups from the running counters. */
import { describe, expect, it } from 'vitest';
import { liveStats } from '../../../src/daemon/live-data.js';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Tcp, TCP_SYN } from '../../helpers/frames.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';

const YAML = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 }
securityGroups:
  web: { ingress: [ { protocol: tcp, ports: 22, cidr: 198.18.9.0/24 }, { protocol: tcp, ports: 443, cidr: 198.18.1.0/24 } ] }
instances:
  a: { subnet: sa, ip: 198.18.1.10 }
  srv: { subnet: sa, ip: 198.18.1.30, securityGroups: [web] }
`;

describe('liveStats', () => {
  it('lists the security-group rule that admitted traffic, by group, direction and position, with its hits', () => {
    const h = new Harness(YAML, { security: true });
    const frames = [40001, 40002, 40003].map((sport) => ({
      port: h.port('a'),
      frame: ethIpv4Tcp({ srcMac: instanceMac('t', 'a'), dstMac: routerMac('t', 'sa'), src: '198.18.1.10', dst: '198.18.1.30', sport, dport: 443, flags: TCP_SYN }),
    }));
    expect(h.run(frames)).toHaveLength(3);
    const s = liveStats(h.policy!, h.security!, h.counters);
    expect(s.sgRuleHits).toContainEqual({ group: 'web', direction: 'ingress', rule: 1, hits: 3 });
    expect(s.sgRuleHits.some((r) => r.group === 'web' && r.rule === 0)).toBe(false);
  });
});
