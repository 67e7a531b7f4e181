/**
 * A stand-in ESP engine for the in-memory data-plane tests: encrypt()
 * "seals" by copying the inner packet behind an 8-byte header of 0xee (the
 * tests read it back at outer IPv4 + 28 + 8) and records each call;
 * decrypt() writes `inner` as tunnel `lastTunnel`, or returns `code`, or -1
 * when neither is set. Its inner MTU is `mtu`.
 */
import { EspError } from '../../src/ipsec/esp.js';
import type { TunnelCrypto } from '../../src/vpn/vpn-path.js';

export interface StandInEsp extends TunnelCrypto {
  mtu: number;
  /** The tunnel of each encrypt() call, in order. */
  sealed: number[];
  /** A copy of the inner packet of each encrypt() call, in order. */
  inners: Buffer[];
  /** encrypt() call numbers (1-based) refused with EspError.NoSa. */
  refuse: number[];
  inner: Buffer | null;
  code: number | undefined;
}

export function standInEsp(mtu = 1400): StandInEsp {
  return {
    mtu, sealed: [], inners: [], refuse: [], inner: null, code: undefined, lastTunnel: 0,
    encrypt(t, src, off, len, out, outOff) {
      this.sealed.push(t);
      this.inners.push(Buffer.from(src.subarray(off, off + len)));
      if (this.refuse.includes(this.sealed.length)) return EspError.NoSa;
      out.fill(0xee, outOff, outOff + 8);
      out.set(src.subarray(off, off + len), outOff + 8);
      return len + 8;
    },
    decrypt(_b, _o, _l, out, outOff) {
      if (this.code !== undefined) return this.code;
      if (this.inner === null) return -1;
      out.set(this.inner, outOff);
      return this.inner.length;
    },
    innerMtu() { return this.mtu; },
    hasOutbound() { return true; },
  };
}
