/** The NTP header codec (services/ntp-codec.ts): client requests in, server answers out. */
import { describe, expect, it } from 'vitest';
import { buildNtpResponse, NTP_UNIX_OFFSET, parseNtpRequest, readNtpTime, writeNtpTime } from '../../../src/services/ntp-codec.js';

function request(version: number, mode: number, txMs: number): Uint8Array {
  const b = new Uint8Array(48);
  b[0] = (version << 3) | mode;
  b[2] = 6;
  writeNtpTime(b, 40, txMs);
  return b;
}

describe('NTP codec', () => {
  it('a v4 client request is answered in mode 4, same version, origin = the client transmit, receive/transmit = the host clock', () => {
    const q = parseNtpRequest(request(4, 3, 1_700_000_000_123));
    if (typeof q === 'string') throw new Error(q);
    const r = buildNtpResponse(q, 1_800_000_000_500, 1_800_000_000_501, { stratum: 1, refId: 'AMZN' });
    expect(r).toHaveLength(48);
    expect(r[0]! & 7).toBe(4);
    expect((r[0]! >> 3) & 7).toBe(4);
    expect(r[1]).toBe(1);
    expect(Buffer.from(r.subarray(12, 16)).toString()).toBe('AMZN');
    expect(Buffer.from(r.subarray(24, 32))).toEqual(Buffer.from(request(4, 3, 1_700_000_000_123).subarray(40, 48)));
    expect(readNtpTime(r, 32)).toBeCloseTo(1_800_000_000_500, 0);
    expect(readNtpTime(r, 40)).toBeCloseTo(1_800_000_000_501, 0);
  });

  it('a v3 request gets a v3 answer', () => {
    const q = parseNtpRequest(request(3, 3, 0));
    if (typeof q === 'string') throw new Error(q);
    expect((buildNtpResponse(q, 0, 0, { stratum: 1, refId: 'AMZN' })[0]! >> 3) & 7).toBe(3);
  });

  it('timestamps count from 1900', () => {
    const b = new Uint8Array(8);
    writeNtpTime(b, 0, 0);
    expect(Buffer.from(b).readUInt32BE(0)).toBe(NTP_UNIX_OFFSET);
  });

  it('malformed: short, another version, not a client', () => {
    expect(parseNtpRequest(new Uint8Array(47))).toBe('short');
    expect(parseNtpRequest(request(2, 3, 0))).toBe('version');
    expect(parseNtpRequest(request(4, 4, 0))).toBe('mode');
    expect(parseNtpRequest(request(4, 1, 0))).toBe('mode');
  });
});
