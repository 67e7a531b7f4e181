import { it } from 'vitest';
import { config } from '../../helpers/config-builder.js';
import { evaluateFlow } from '../../../src/policy/reference.js';
import { formatExplanation } from '../../../src/policy/format.js';

it('scratch', () => {
  const cfg = config()
    .subnet('public-a', '198.18.1.0/24', { routeTable: 'public', networkAcl: 'public-nacl' })
    .subnet('private-a', '198.18.2.0/24', { routeTable: 'private', networkAcl: 'private-nacl' })
    .nacl('public-nacl', {
      inbound: [
        { rule: 100, action: 'allow', protocol: 'tcp', ports: 443, cidr: '0.0.0.0/0' },
        { rule: 110, action: 'allow', protocol: 'tcp', ports: '1024-65535', cidr: '0.0.0.0/0' },
        { rule: 90, action: 'deny', protocol: 'all', cidr: '203.0.113.66/32' },
        { rule: 130, action: 'allow', protocol: 'all', cidr: '198.18.0.0/16' },
      ],
      outbound: [{ rule: 100, action: 'allow', protocol: 'all', cidr: '0.0.0.0/0' }],
    })
    .nacl('private-nacl', {
      inbound: [{ rule: 100, action: 'allow', protocol: 'all', cidr: '198.18.0.0/16' }, { rule: 110, action: 'allow', protocol: 'tcp', ports: '1024-65535', cidr: '0.0.0.0/0' }],
      outbound: [{ rule: 100, action: 'allow', protocol: 'all', cidr: '0.0.0.0/0' }],
    })
    .sg('web', { ingress: [{ protocol: 'tcp', ports: 443, cidr: '0.0.0.0/0' }] })
    .sg('open', { ingress: [{ protocol: 'all', cidr: '0.0.0.0/0' }] })
    .instance('web-1', { subnet: 'public-a', ip: '198.18.1.10', publicIp: '203.0.113.10', securityGroups: ['web'] })
    .instance('open-1', { subnet: 'private-a', ip: '198.18.2.50', securityGroups: ['open'] })
    .igw()
    .natGateway('nat-a', { subnet: 'public-a', ip: '198.18.1.5', publicIp: '203.0.113.5' })
    .routeTable('public', [{ destination: '0.0.0.0/0', target: 'igw' }])
    .routeTable('private', [{ destination: '0.0.0.0/0', target: 'nat-a' }])
    .build();
  for (const f of [
    { src: '198.18.2.50', dst: '203.0.113.100', proto: 6, dport: 443 },
    { src: '203.0.113.100', dst: '203.0.113.10', proto: 6, dport: 443 },
    { src: '198.18.2.50', dst: '198.18.1.10', proto: 6, dport: 443 },
  ]) {
    const e = evaluateFlow(cfg, f);
    console.log(formatExplanation(e));
  }
  console.log(JSON.stringify(evaluateFlow(cfg, { src: '198.18.2.50', dst: '203.0.113.100', proto: 1 }), null, 1));
});
