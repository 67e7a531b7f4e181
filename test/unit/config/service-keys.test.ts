/**
 * The keys of the VPC services: vpc.region, enableDnsSupport,
 * enableDnsHostnames, instances.<name>.metadataOptions and userData,
 * dhcpOptions, lab.addressing: what each accepts, what the loader stores,
 * and each rejection with its message.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/control/config.js';
import { ConfigError } from '../../../src/control/config-types.js';
import { metadataOptionsOf, vpcSettingsOf } from '../../../src/control/config-defaults.js';

const doc = (vpcExtra: string, rest = ''): string => `vpc: { name: t, cidr: 198.18.0.0/16${vpcExtra} }
subnets: { a: { cidr: 198.18.1.0/24 } }
${rest}`;

function messages(text: string): string[] {
  try {
    parseConfig(text, 'c.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => i.message);
    throw e;
  }
  return [];
}

describe('vpc.region, enableDnsSupport, enableDnsHostnames', () => {
  it('absent: us-east-1, DNS support on, hostnames off (AWS defaults for a non-default VPC)', () => {
    expect(vpcSettingsOf(parseConfig(doc(''), 'c.yaml').vpc)).toEqual({ region: 'us-east-1', enableDnsSupport: true, enableDnsHostnames: false });
  });

  it('given: stored as written', () => {
    const c = parseConfig(doc(', region: ap-southeast-2, enableDnsSupport: true, enableDnsHostnames: true'), 'c.yaml');
    expect(vpcSettingsOf(c.vpc)).toEqual({ region: 'ap-southeast-2', enableDnsSupport: true, enableDnsHostnames: true });
    expect(parseConfig(doc(', region: us-gov-west-1'), 'c.yaml').vpc.region).toBe('us-gov-west-1');
  });

  it('rejections: a region that is no region name, a non-boolean, hostnames without DNS support', () => {
    expect(messages(doc(', region: mars-1'))).toEqual(['vpc.region: "mars-1" is not an AWS region name (such as us-east-1 or eu-west-3)']);
    expect(messages(doc(', enableDnsSupport: yes please'))[0]).toMatch(/^vpc.enableDnsSupport: expected true or false/);
    expect(messages(doc(', enableDnsSupport: false, enableDnsHostnames: true'))).toEqual(['vpc.enableDnsHostnames: true needs enableDnsSupport: true (AWS refuses DNS hostnames without DNS resolution)']);
  });
});

describe('instances.<name>.metadataOptions and userData', () => {
  const inst = (extra: string) => doc('', `instances:\n  i: { subnet: a, ip: 198.18.1.10${extra} }\n`);

  it('absent: enabled, optional, hop limit 1; partial: the rest defaulted', () => {
    expect(metadataOptionsOf(parseConfig(inst(''), 'c.yaml').instances.get('i')!)).toEqual({ httpEndpoint: 'enabled', httpTokens: 'optional', httpPutResponseHopLimit: 1 });
    const c = parseConfig(inst(', metadataOptions: { httpTokens: required }'), 'c.yaml');
    expect(c.instances.get('i')!.metadataOptions).toEqual({ httpEndpoint: 'enabled', httpTokens: 'required', httpPutResponseHopLimit: 1 });
  });

  it('rejections: unknown values, a hop limit outside 1..64, an unknown option', () => {
    expect(messages(inst(', metadataOptions: { httpTokens: mandatory }'))[0]).toMatch(/httpTokens: expected one of optional, required/);
    expect(messages(inst(', metadataOptions: { httpEndpoint: off }'))[0]).toMatch(/httpEndpoint: expected one of enabled, disabled/);
    expect(messages(inst(', metadataOptions: { httpPutResponseHopLimit: 65 }'))[0]).toMatch(/httpPutResponseHopLimit/);
    expect(messages(inst(', metadataOptions: { httpPutResponseHopLimit: 0 }'))[0]).toMatch(/httpPutResponseHopLimit/);
    expect(messages(inst(', metadataOptions: { instanceTags: enabled }'))[0]).toMatch(/instanceTags: unknown key/);
  });

  it('userData: stored; more than 16 KB is refused', () => {
    expect(parseConfig(inst(', userData: "#!/bin/sh"'), 'c.yaml').instances.get('i')!.userData).toBe('#!/bin/sh');
    expect(messages(inst(`, userData: "${'x'.repeat(16_385)}"`))).toEqual(['instances.i.userData: 16385 bytes; AWS limits user data to 16 KB']);
  });
});

describe('dhcpOptions', () => {
  it('stored; AmazonProvidedDNS kept by name; servers default to AmazonProvidedDNS', () => {
    const c = parseConfig(doc('', 'dhcpOptions: { domainName: corp.internal, domainNameServers: [AmazonProvidedDNS, 198.51.100.53] }\n'), 'c.yaml');
    expect(c.dhcpOptions).toEqual({ domainName: 'corp.internal', domainNameServers: ['AmazonProvidedDNS', '198.51.100.53'] });
    expect(parseConfig(doc('', 'dhcpOptions: { domainName: corp.internal }\n'), 'c.yaml').dhcpOptions?.domainNameServers).toEqual(['AmazonProvidedDNS']);
  });

  it('rejections: a bad domain name, a bad server, more than four servers', () => {
    expect(messages(doc('', 'dhcpOptions: { domainName: "bad domain" }\n'))).toEqual(['dhcpOptions.domainName: "bad domain" is not a domain name (labels of letters, digits and "-", separated by ".")']);
    expect(messages(doc('', 'dhcpOptions: { domainNameServers: [AmazonDNS] }\n'))[0]).toMatch(/domainNameServers/);
    expect(messages(doc('', 'dhcpOptions: { domainNameServers: [1.1.1.1, 1.0.0.1, 8.8.8.8, 8.8.4.4, 9.9.9.9] }\n'))).toEqual(['dhcpOptions.domainNameServers: AWS allows up to four servers, got 5']);
  });
});

describe('lab.addressing', () => {
  it('static or dhcp; anything else refused', () => {
    expect(parseConfig(doc('', 'lab: { addressing: dhcp }\n'), 'c.yaml').lab.addressing).toBe('dhcp');
    expect(parseConfig(doc(''), 'c.yaml').lab.addressing).toBeUndefined();
    expect(messages(doc('', 'lab: { addressing: slaac }\n'))[0]).toMatch(/lab.addressing: expected one of static, dhcp/);
  });
});
