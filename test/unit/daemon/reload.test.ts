import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/control/config.js';
import { changedSections, restartOnlyIssues } from '../../../src/daemon/reload.js';

const BASE = `
vpc: { name: r, cidr: 198.18.0.0/16 }
subnets:
  a: { cidr: 198.18.1.0/24 }
securityGroups:
  web: { ingress: [ { protocol: tcp, ports: 80, cidr: 0.0.0.0/0 } ] }
instances:
  i1: { subnet: a, ip: 198.18.1.10, securityGroups: [web] }
conntrack: { max: 1000 }
metrics: { listen: "127.0.0.1:9469" }
`;

describe('reload sections', () => {
  it('names exactly the sections that differ', () => {
    const a = parseConfig(BASE, 'a.yaml');
    expect(changedSections(a, parseConfig(BASE, 'a.yaml'))).toEqual([]);
    const b = parseConfig(BASE.replace('ports: 80', 'ports: 443').replace('9469', '9470'), 'a.yaml');
    expect(changedSections(a, b)).toEqual(['securityGroups', 'metrics']);
    const c = parseConfig(`${BASE}flowLogs: { path: /var/log/vpcd/f.log }\n`, 'a.yaml');
    expect(changedSections(a, c)).toEqual(['flowLogs']);
  });

  it('rejects what needs a restart, with the reason: conntrack.max, dataplane.*', () => {
    const a = parseConfig(BASE, 'a.yaml');
    expect(restartOnlyIssues(a, parseConfig(BASE.replace('ports: 80', 'ports: 22'), 'a.yaml'))).toEqual([]);
    expect(restartOnlyIssues(a, parseConfig(BASE.replace('max: 1000', 'max: 2000'), 'a.yaml')))
      .toEqual(['conntrack.max changes need a restart (running 1000, file 2000)']);
    expect(restartOnlyIssues(a, parseConfig(`${BASE}dataplane: { batch: 32 }\n`, 'a.yaml'))[0]).toMatch(/dataplane\.netns, dataplane\.batch/);
  });
});
