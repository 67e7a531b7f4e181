import { describe, it, expect } from 'vitest';
import {
  bytesEqual, copyBytes, readU16, readU16Le, readU32, writeU16, writeU16Le, writeU32,
} from '../../../src/wire/bytes.js';

describe('bytes', () => {
  it('reads big-endian at an absolute offset', () => {
    const b = Uint8Array.from([0xff, 0x12, 0x34, 0x56, 0x78, 0xff]);
    expect(readU16(b, 1)).toBe(0x1234);
    expect(readU32(b, 1)).toBe(0x12345678);
  });

  it('returns u32 values as unsigned numbers', () => {
    const b = Uint8Array.from([0xff, 0xff, 0xff, 0xfe]);
    expect(readU32(b, 0)).toBe(0xfffffffe);
    expect(readU32(b, 0)).toBeGreaterThan(0);
  });

  it('writes big-endian, truncating to the field width', () => {
    const b = new Uint8Array(8);
    writeU16(b, 1, 0x1abcd);
    expect([...b.subarray(0, 3)]).toEqual([0, 0xab, 0xcd]);
    writeU32(b, 3, 0xc6120a01);
    expect([...b.subarray(3, 7)]).toEqual([0xc6, 0x12, 0x0a, 0x01]);
    writeU32(b, 3, -1); // signed input
    expect(readU32(b, 3)).toBe(0xffffffff);
  });

  it('honours a Buffer that is a slice of a larger ArrayBuffer', () => {
    const big = Buffer.alloc(64, 0xee);
    const slice = big.subarray(10, 20);
    writeU32(slice, 2, 0x01020304);
    expect(big[12]).toBe(1);
    expect(big[15]).toBe(4);
    expect(readU32(slice, 2)).toBe(0x01020304);
    expect(readU16(slice, 0)).toBe(0xeeee);
  });

  it('reads and writes little-endian 16-bit fields', () => {
    const b = new Uint8Array(4);
    writeU16Le(b, 1, 0x1234);
    expect([...b]).toEqual([0, 0x34, 0x12, 0]);
    expect(readU16Le(b, 1)).toBe(0x1234);
  });

  it('never throws out of range (yields zero bits instead)', () => {
    const b = Uint8Array.from([0x12]);
    expect(readU16(b, 0)).toBe(0x1200);
    expect(readU32(b, 5)).toBe(0);
    expect(readU16(b, -3)).toBe(0);
  });

  it('copies and compares byte runs', () => {
    const a = Uint8Array.from([1, 2, 3, 4, 5, 6, 7]);
    const b = new Uint8Array(10);
    copyBytes(a, 1, b, 3, 6);
    expect([...b]).toEqual([0, 0, 0, 2, 3, 4, 5, 6, 7, 0]);
    expect(bytesEqual(a, 1, b, 3, 6)).toBe(true);
    expect(bytesEqual(a, 0, b, 3, 6)).toBe(false);
  });
});
