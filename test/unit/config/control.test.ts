/**
 * `control:`: the default socket follows the configuration file (the same
 * file by any path gives the same socket; two files of one name in two
 * directories do not share one), explicit values are checked, and a group
 * resolves through the group file.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../../src/control/config.js';
import { ConfigError } from '../../../src/control/config-types.js';
import { resolveGroup } from '../../../src/daemon/control-socket.js';

const tmp = mkdtempSync(join(tmpdir(), 'vpcd-control-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const BASE = 'vpc: { name: v, cidr: 198.18.0.0/16 }\n';

function file(dir: string, name: string, text = BASE): string {
  mkdirSync(join(tmp, dir), { recursive: true });
  const p = join(tmp, dir, name);
  writeFileSync(p, text);
  return p;
}

describe('control.socket default', () => {
  it('is /run/vpcd/NAME-HASH.sock, the same for the same file by any path, different across directories', () => {
    const a = file('a', 'demo.yaml');
    const b = file('b', 'demo.yaml');
    symlinkSync(a, join(tmp, 'link.yaml'));
    const sa = loadConfig(a).control.socket;
    expect(sa).toMatch(/^\/run\/vpcd\/demo-[0-9a-f]{8}\.sock$/);
    expect(loadConfig(relative(process.cwd(), a)).control.socket).toBe(sa);
    expect(loadConfig(join(tmp, 'link.yaml')).control.socket).toBe(sa);
    expect(loadConfig(b).control.socket).not.toBe(sa);
    expect(parseConfig(BASE, '<stdin>').control.socket).toBe('/run/vpcd/v.sock');
  });

  it('takes an explicit path (relative to the file) and group', () => {
    const p = file('c', 'x.yaml', `${BASE}control: { socket: run/x.sock, group: vpcd }\n`);
    expect(loadConfig(p).control).toEqual({ socket: join(tmp, 'c', 'run', 'x.sock'), group: 'vpcd' });
  });

  it.each([
    [`control: { socket: /${'d'.repeat(120)}.sock }`, /at most 107 bytes/],
    ['control: { group: "bad group" }', /not a group name or number/],
    ['control: { port: 1 }', /port/],
  ])('%s is refused', (line, why) => {
    let err: unknown;
    try {
      parseConfig(`${BASE}${line}\n`, 'f.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.message).join('\n')).toMatch(why);
  });
});

describe('control.group', () => {
  it('resolves a name through the group file, a number as itself, and refuses an unknown name', () => {
    const g = file('etc', 'group', 'root:x:0:\nvpcd:x:4242:alice,bob\n');
    expect(resolveGroup('vpcd', g)).toBe(4242);
    expect(resolveGroup('4243', g)).toBe(4243);
    expect(() => resolveGroup('nope', g)).toThrow(/no such group/);
  });
});
