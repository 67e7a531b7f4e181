/** flowLogs keys of the writer: recordsPerEni, fileMode, allowSharedDirectory, maxBytes, keep. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/control/config.js';
import { ConfigError } from '../../../src/control/config-types.js';

const HEAD = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  a: { cidr: 198.18.1.0/24 }
instances:
  i1: { subnet: a, ip: 198.18.1.10 }
  i2: { subnet: a, ip: 198.18.1.11 }
`;

function messages(flowLogs: string): string[] {
  try {
    parseConfig(`${HEAD}flowLogs: ${flowLogs}\n`, 'c.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => i.message);
    throw e;
  }
  return [];
}

describe('flowLogs writer keys', () => {
  it('reads them, leaving unset keys absent (the writer applies the defaults)', () => {
    const c = parseConfig(`${HEAD}flowLogs:\n  path: /var/log/vpcd/f.log\n  recordsPerEni: 100\n  fileMode: "0600"\n  allowSharedDirectory: true\n  maxBytes: 1048576\n  keep: 3\n`, 'c.yaml');
    expect(c.flowLogs).toEqual({ path: '/var/log/vpcd/f.log', aggregationInterval: 600, recordsPerEni: 100, fileMode: 0o600, allowSharedDirectory: true, maxBytes: 1_048_576, keep: 3 });
    const d = parseConfig(`${HEAD}flowLogs: { path: /var/log/vpcd/f.log }\n`, 'c.yaml');
    expect(Object.keys(d.flowLogs!).sort()).toEqual(['aggregationInterval', 'path']);
  });

  it('takes a file mode as a quoted octal string or YAML 1.2 octal, and refuses a decimal-looking or world-writable one', () => {
    expect(parseConfig(`${HEAD}flowLogs: { path: /f, fileMode: 0o640 }\n`, 'c.yaml').flowLogs!.fileMode).toBe(0o640);
    expect(parseConfig(`${HEAD}flowLogs: { path: /f, fileMode: "640" }\n`, 'c.yaml').flowLogs!.fileMode).toBe(0o640);
    expect(messages('{ path: /f, fileMode: 0640 }')).toEqual(['flowLogs.fileMode: expected an octal file mode such as "0640" (quoted) or 0o640, got 640']);
    expect(messages('{ path: /f, fileMode: "0666" }')).toEqual(['flowLogs.fileMode: 0666 lets any user write the flow log; drop the write bit for others']);
  });

  it('bounds recordsPerEni x instances and maxBytes', () => {
    expect(messages('{ path: /f, recordsPerEni: 600000 }')).toEqual([
      'flowLogs.recordsPerEni: 600000 records x 2 instances exceeds 1048576 records per interval; lower it to at most 524288',
    ]);
    expect(messages('{ path: /f, recordsPerEni: 0 }')[0]).toMatch(/recordsPerEni: expected an integer between 1 and 1048576/);
    expect(messages('{ path: /f, maxBytes: 1000 }')).toEqual(['flowLogs.maxBytes: expected 0 (never rotate) or at least 65536 bytes, got 1000']);
    expect(messages('{ path: /f, maxBytes: 0, keep: 0 }')).toEqual([]);
    expect(messages('{ path: /f, keep: 1001 }')[0]).toMatch(/keep: expected an integer between 0 and 1000/);
    expect(messages('{ path: /f, allowSharedDirectory: yes }')[0]).toMatch(/allowSharedDirectory: expected true or false/);
  });
});
