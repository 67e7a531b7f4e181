/**
 * Binds the VPN packet path (vpn-path.ts) to ESP: per tunnel slot the newest
 * outbound SA (make-before-break on rekey), inbound SAs by SPI until IKE
 * removes them. This first binding does ESP (RFC 4303, tunnel mode) with
 * AES-GCM (RFC 4106) through node:crypto; src/ipsec holds the full engine.
 */
import { createCipheriv, createDecipheriv, type CipherGCM, type DecipherGCM } from 'node:crypto';
import type { ChildSa } from '../ipsec/sa-types.js';
import type { TunnelCrypto, VpnPath } from './vpn-path.js';
import { readU32, writeU32 } from '../wire/bytes.js';

interface SaState {
  readonly sa: ChildSa;
  readonly slot: number;
  seq: number;
  /** anti-replay: highest seen and a 1024-bit window below it */
  top: number;
  readonly window: Uint32Array;
}

const WINDOW = 1024;

export interface BoundTunnelCrypto extends TunnelCrypto {
  install(slot: number, sa: ChildSa): void;
  remove(spiIn: number): void;
}

export function createTunnelCrypto(path: VpnPath): BoundTunnelCrypto {
  const inbound = new Map<number, SaState>();
  const outbound: (SaState | undefined)[] = new Array(path.tunConn.length).fill(undefined);
  const iv = Buffer.alloc(8);
  const nonce = Buffer.alloc(12);
  const aad = Buffer.alloc(8);

  const keyLen = (sa: ChildSa) => (sa.encKeyOut.length === 16 ? 'aes-128-gcm' : sa.encKeyOut.length === 24 ? 'aes-192-gcm' : 'aes-256-gcm');

  const replayCheck = (s: SaState, seq: number): boolean => {
    if (seq === 0) return false;
    if (seq > s.top) return true;
    if (s.top - seq >= WINDOW) return false;
    return (s.window[(seq % WINDOW) >>> 5]! & (1 << (seq & 31))) === 0;
  };
  const replayMark = (s: SaState, seq: number): void => {
    if (seq > s.top) {
      const adv = Math.min(seq - s.top, WINDOW);
      for (let k = 1; k <= adv; k++) {
        const q = s.top + k;
        s.window[(q % WINDOW) >>> 5]! &= ~(1 << (q & 31));
      }
      s.top = seq;
    }
    s.window[(seq % WINDOW) >>> 5]! |= 1 << (seq & 31);
  };

  const crypto: BoundTunnelCrypto = {
    lastTunnel: -1,
    install(slot, sa) {
      const st: SaState = { sa, slot, seq: 0, top: 0, window: new Uint32Array(WINDOW / 32) };
      inbound.set(sa.spiIn >>> 0, st);
      outbound[slot] = st;
    },
    remove(spiIn) {
      const st = inbound.get(spiIn >>> 0);
      inbound.delete(spiIn >>> 0);
      if (st && outbound[st.slot] === st) {
        // keep sending on another SA of the same tunnel if one is installed
        let next: SaState | undefined;
        for (const s of inbound.values()) if (s.slot === st.slot) next = s;
        outbound[st.slot] = next;
      }
    },
    hasOutbound(t) {
      return outbound[t] !== undefined;
    },
    innerMtu(_t) {
      // 1500 - IPv4 20 - UDP 8 - ESP 8 - IV 8 - ICV 16, padded to 4 with 2 trailer bytes
      return 1438;
    },
    encrypt(t, inner, innerOff, innerLen, out, outOff) {
      const st = outbound[t];
      if (!st) return -1;
      const sa = st.sa;
      if (st.seq >= 0xffffffff) return -1;
      st.seq++;
      const padLen = (4 - ((innerLen + 2) % 4)) % 4;
      const ptLen = innerLen + padLen + 2;
      writeU32(out, outOff, sa.spiOut);
      writeU32(out, outOff + 4, st.seq);
      // explicit IV: the sequence number, unique per packet under one key (RFC 4106 §3.1)
      iv.writeUInt32BE(0, 0);
      iv.writeUInt32BE(st.seq, 4);
      out.set(iv, outOff + 8);
      nonce.set(sa.saltOut, 0);
      iv.copy(nonce, 4);
      aad.writeUInt32BE(sa.spiOut >>> 0, 0);
      aad.writeUInt32BE(st.seq, 4);
      const c = createCipheriv(keyLen(sa), sa.encKeyOut, nonce, { authTagLength: 16 }) as CipherGCM;
      c.setAAD(aad);
      const trailer = Buffer.alloc(padLen + 2);
      for (let i = 0; i < padLen; i++) trailer[i] = i + 1;
      trailer[padLen] = padLen;
      trailer[padLen + 1] = 4; // IPv4
      const a = c.update(inner.subarray(innerOff, innerOff + innerLen));
      const b2 = c.update(trailer);
      c.final();
      const tag = c.getAuthTag();
      let o = outOff + 16;
      out.set(a, o); o += a.length;
      out.set(b2, o); o += b2.length;
      out.set(tag, o);
      return 16 + ptLen + 16;
    },
    decrypt(buf, espOff, espLen, out, outOff) {
      if (espLen < 8 + 8 + 4 + 16) return -4;
      const spi = readU32(buf, espOff);
      const st = inbound.get(spi);
      if (!st) return -1;
      const seq = readU32(buf, espOff + 4);
      if (!replayCheck(st, seq)) return -2;
      const sa = st.sa;
      nonce.set(sa.saltIn, 0);
      for (let k = 0; k < 8; k++) nonce[4 + k] = buf[espOff + 8 + k]!;
      aad.writeUInt32BE(spi, 0);
      aad.writeUInt32BE(seq, 4);
      const ctLen = espLen - 16 - 16;
      const d = createDecipheriv(keyLen(sa), sa.encKeyIn, nonce, { authTagLength: 16 }) as DecipherGCM;
      d.setAAD(aad);
      d.setAuthTag(Buffer.from(buf.buffer, buf.byteOffset + espOff + espLen - 16, 16));
      let pt: Buffer;
      try {
        pt = Buffer.concat([d.update(Buffer.from(buf.buffer, buf.byteOffset + espOff + 16, ctLen)), d.final()]);
      } catch {
        return -3;
      }
      replayMark(st, seq);
      const padLen = pt[pt.length - 2]!;
      const next = pt[pt.length - 1]!;
      if (next !== 4 || padLen + 2 > pt.length) return -4;
      const n = pt.length - 2 - padLen;
      out.set(pt.subarray(0, n), outOff);
      crypto.lastTunnel = st.slot;
      return n;
    },
  };
  return crypto;
}
