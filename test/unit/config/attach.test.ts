/**
 * instances.<name>.attach: an instance in a namespace vpcd did not create.
 * What the loader stores (defaults eth1 and defaultRoute true), and each
 * rejection with its message.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/control/config.js';
import { ConfigError } from '../../../src/control/config-types.js';

const doc = (attach: string): string => `vpc: { name: t, cidr: 198.18.0.0/16 }
subnets: { a: { cidr: 198.18.1.0/24 } }
instances:
  x: { subnet: a, ip: 198.18.1.10, attach: ${attach} }
  y: { subnet: a, ip: 198.18.1.11 }
`;

function messages(text: string): string[] {
  try {
    parseConfig(text, 'c.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.line}:${i.column}: ${i.message}`);
    throw e;
  }
  return [];
}

describe('instances.<name>.attach', () => {
  it('pid, netns name, netns path and container; interface eth1 and defaultRoute true by default', () => {
    const cases: [string, unknown][] = [
      ['{ pid: 4242 }', { pid: 4242 }],
      ['{ netns: web }', { netns: 'web' }],
      ['{ netns: /proc/4242/ns/net }', { netns: '/proc/4242/ns/net' }],
      ['{ container: clab-demo-web1 }', { container: 'clab-demo-web1' }],
    ];
    for (const [text, target] of cases) {
      const c = parseConfig(doc(text), 'c.yaml');
      expect(c.instances.get('x')!.attach).toEqual({ target, interface: 'eth1', defaultRoute: true });
      expect(c.instances.get('y')!.attach).toBeUndefined();
    }
  });

  it('interface and defaultRoute are kept as given', () => {
    const c = parseConfig(doc('{ pid: 7, interface: net0, defaultRoute: false }'), 'c.yaml');
    expect(c.instances.get('x')!.attach).toEqual({ target: { pid: 7 }, interface: 'net0', defaultRoute: false });
  });

  it('rejects none or several targets, bad values and unknown keys', () => {
    expect(messages(doc('{}'))).toEqual(['4:44: instances.x.attach: give exactly one of netns, pid and container']);
    expect(messages(doc('{ pid: 1, container: web }'))).toEqual(['4:44: instances.x.attach: give exactly one of netns, pid and container (got pid, container)']);
    expect(messages(doc('{ pid: 0 }'))[0]).toMatch(/^4:51: instances\.x\.attach\.pid: /);
    expect(messages(doc('{ pid: 5000000 }'))[0]).toMatch(/instances\.x\.attach\.pid: /);
    expect(messages(doc('{ netns: proc/1/ns/net }'))).toEqual([
      '4:53: instances.x.attach.netns: "proc/1/ns/net" is not a valid network namespace name (1 to 255 characters, no "/", not "." or ".."); give a name under /run/netns or an absolute path such as /proc/PID/ns/net',
    ]);
    expect(messages(doc('{ container: "-web" }'))[0]).toMatch(/instances\.x\.attach\.container: "-web" is not a container name or id/);
    expect(messages(doc('{ pid: 7, interface: "a/b" }'))[0]).toMatch(/instances\.x\.attach\.interface: "a\/b" is not a valid Linux interface name/);
    expect(messages(doc('{ pid: 7, defaultRoute: yes }'))[0]).toMatch(/instances\.x\.attach\.defaultRoute: /);
    expect(messages(doc('{ pid: 7, interfce: eth2 }'))[0]).toMatch(/instances\.x\.attach\.interfce: unknown key \(did you mean "interface"\?\)/);
  });
});
