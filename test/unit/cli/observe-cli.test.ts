/**
 * `vpcd observe` and `vpcd conntrack` arguments and output formats, without
 * a daemon: filters parsed as documented, bad values refused with exit 1,
 * a missing daemon is exit 2 with a pointer, the table rows name the rule.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatEventRow, parseObserveArgs, runObserve, TABLE_HEADER } from '../../../src/cli/observe.js';
import { formatConntrack, parseConntrackArgs, runConntrack } from '../../../src/cli/conntrack.js';
import { UsageError } from '../../../src/cli/args.js';
import type { ObserveEvent } from '../../../src/observe/event-decode.js';

const tmp = mkdtempSync(join(tmpdir(), 'vpcd-observe-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const CFG = join(tmp, 'c.yaml');
writeFileSync(CFG, `vpc: { name: v, cidr: 198.18.0.0/16 }\ncontrol: { socket: ${join(tmp, 'none.sock')} }\nsubnets: { s: { cidr: 198.18.1.0/24 } }\ninstances: { a: { subnet: s, ip: 198.18.1.10 } }\n`);

function capture(): { out: { stdout: (s: string) => void; stderr: (s: string) => void }; text: { stdout: string; stderr: string } } {
  const text = { stdout: '', stderr: '' };
  return { out: { stdout: (s) => { text.stdout += `${s}\n`; }, stderr: (s) => { text.stderr += `${s}\n`; } }, text };
}

describe('vpcd observe arguments', () => {
  it('parses every filter', () => {
    expect(parseObserveArgs([CFG, '--instance', 'a', '--subnet', 's', '--verdict', 'reject', '--proto', 'udp', '--port', '53', '--cidr', '198.51.100.0/24', '--reason', 'nacl', '--json']))
      .toEqual({ config: CFG, json: true, filter: { instance: 'a', subnet: 's', verdict: 'REJECT', proto: 17, port: 53, cidr: '198.51.100.0/24', reason: 'nacl' } });
    expect(parseObserveArgs(['--help'])).toBe('help');
  });

  it.each([
    [['--verdict', 'DROP'], /ACCEPT or REJECT/],
    [['--proto', 'tpc'], /did you mean "tcp"/],
    [['--port', '65536'], /0-65535/],
    [['--colour', 'x'], /unknown option --colour/],
    [[], /no configuration file/],
  ])('%j is a usage error', (argv, why) => {
    expect(() => parseObserveArgs([...(argv.length === 0 ? [] : [CFG]), ...argv])).toThrow(UsageError);
    expect(() => parseObserveArgs([...(argv.length === 0 ? [] : [CFG]), ...argv])).toThrow(why);
  });

  it('no daemon on the socket: exit 2 with the socket named', async () => {
    const c = capture();
    const code = await runObserve([CFG, '--json'], c.out, { isTTY: false, stopped: new Promise(() => {}) });
    expect(code).toBe(2);
    expect(c.text.stderr).toMatch(/no vpcd answers on .*none\.sock/);
  });

  it('a table row names the stage, the rule and the code; a NAT row both pairs', () => {
    const base: ObserveEvent = { type: 'flow', time: '2026-01-01T10:00:00.123Z', verdict: 'REJECT', stage: 'nacl-inbound', by: { nacl: 'pub', rule: 50 },
      code: 'SUBNET_ACL_RESTRICTION', instance: 'web', proto: 'tcp', src: '203.0.113.100', dst: '198.18.1.10', sport: 40000, dport: 8081, packets: 1, bytes: 60 };
    expect(TABLE_HEADER).toMatch(/^TIME +TYPE +VERDICT +INSTANCE/);
    expect(formatEventRow(base)).toMatch(/^10:00:00\.123 flow REJECT +web +tcp +203\.0\.113\.100:40000 +198\.18\.1\.10:8081 +nacl-inbound +pub #50 +SUBNET_ACL_RESTRICTION$/);
    const nat = formatEventRow({ ...base, type: 'nat', verdict: 'ACCEPT', stage: 'nat', by: null, code: 'NGW_SOURCE_ADDRESS_REASSIGN', xsrc: '203.0.113.5', xsport: 1234, xdst: '198.18.1.10', xdport: 8081, natGateway: 'nat-a' });
    expect(nat).toContain('203.0.113.100:40000→203.0.113.5:1234');
    expect(formatEventRow({ type: 'lost', time: '2026-01-01T10:00:00.123Z', lost: 7, where: 'queue' })).toMatch(/7 events lost \(this reader fell behind\)/);
  });
});

describe('vpcd conntrack arguments', () => {
  it('list and flush', () => {
    expect(parseConntrackArgs(['list', CFG, '--instance', 'a', '--json', '--limit', '5'])).toEqual({ action: 'list', config: CFG, instance: 'a', json: true, limit: 5 });
    expect(parseConntrackArgs(['flush', CFG])).toMatchObject({ action: 'flush', config: CFG });
    expect(() => parseConntrackArgs(['show', CFG])).toThrow(/list or flush/);
    expect(() => parseConntrackArgs(['flush', CFG, '--json'])).toThrow(/list only/);
    expect(() => parseConntrackArgs(['list', CFG, '--limit', '0'])).toThrow(/1-10000/);
  });

  it('an instance the configuration does not have is exit 1 before any connection; no daemon is exit 2', async () => {
    const c = capture();
    expect(await runConntrack(['list', CFG, '--instance', 'zz'], c.out)).toBe(1);
    const d = capture();
    expect(await runConntrack(['list', CFG], d.out)).toBe(2);
    expect(d.text.stderr).toMatch(/no vpcd answers/);
  });

  it('the table says how many entries there are and when the list was cut', () => {
    const e = { table: 'conntrack' as const, instance: 'a', proto: 'tcp', src: '198.18.1.10', dst: '203.0.113.100', sport: 40000, dport: 80, state: 'ESTABLISHED',
      idleSecondsLeft: 12.5, tracking: 'tracked', packets: 3, bytes: 180, nat: { gateway: 'nat-a', src: '198.18.1.5', sport: 1234, publicIp: '203.0.113.5' } };
    const t = formatConntrack([e], 3);
    expect(t).toMatch(/198\.18\.1\.10:40000 +203\.0\.113\.100:80 +ESTABLISHED +12\.5s +3 +180 +nat-a 203\.0\.113\.5:1234 +tracked/);
    expect(t).toMatch(/1 of 3 entries shown/);
  });
});
