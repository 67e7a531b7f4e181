/**
 * Software completion of what the virtio-net header defers, for frames that
 * leave vpcd other than as frames (encrypted into an ESP tunnel): the peer
 * will not finish a partial checksum or split a 64 KB super-frame for us.
 *
 * struct virtio_net_hdr (host byte order, little-endian here):
 *   u8 flags (1 = NEEDS_CSUM) | u8 gso_type (0 none, 1 TCPV4, 3 UDP, 4 TCPV6, 5 UDP_L4; 0x80 ECN)
 *   u16 hdr_len | u16 gso_size | u16 csum_start | u16 csum_offset
 * csum_start is counted from the start of the Ethernet frame.
 *
 * Allocation-free: segments are written into a caller-provided buffer.
 */
import { readU16, readU32, writeU16, writeU32 } from '../wire/bytes.js';
import { onesSum } from '../wire/checksum.js';

export const VNET_NEEDS_CSUM = 1;
export const GSO_NONE = 0, GSO_TCPV4 = 1;

function le16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

/**
 * Finishes a NEEDS_CSUM checksum in place (the field holds the pseudo-header
 * sum; the result is the complement of the sum over the L4 bytes).
 * vnetOff: the virtio header; ethOff: the frame; end: one past the frame.
 */
export function completeChecksum(buf: Uint8Array, vnetOff: number, ethOff: number, end: number): void {
  if ((buf[vnetOff] & VNET_NEEDS_CSUM) === 0) return;
  const start = ethOff + le16(buf, vnetOff + 6);
  const field = start + le16(buf, vnetOff + 8);
  if (start >= end || field + 2 > end) return;
  let c = ~onesSum(buf, start, end - start) & 0xffff;
  // UDP (checksum at offset 6) sends a computed 0 as 0xFFFF; TCP's 0 stays 0.
  if (c === 0 && field - start === 6) c = 0xffff;
  writeU16(buf, field, c);
  buf[vnetOff] &= ~VNET_NEEDS_CSUM;
}

/** gso_type (without the ECN bit) and gso_size of a frame's virtio header. */
export function gsoType(buf: Uint8Array, vnetOff: number): number {
  return buf[vnetOff + 1] & 0x7f;
}
export function gsoSize(buf: Uint8Array, vnetOff: number): number {
  return le16(buf, vnetOff + 4);
}

/**
 * Splits one TCP/IPv4 super-frame (the IPv4 packet at [l3, l3End)) into
 * segments of at most `mss` payload bytes, each a complete IPv4 packet with
 * full checksums, written back to back into `out` from `outOff`. For each
 * segment `emit(segOff, segLen)` is called (a callback made once by the
 * caller, not per packet). Returns the number of segments, or -1 when `out`
 * is too small or the headers are inconsistent.
 */
export function segmentTcp4(
  buf: Uint8Array, l3: number, l3End: number, mss: number,
  out: Uint8Array, outOff: number, emit: (segOff: number, segLen: number) => void,
): number {
  const ihl = (buf[l3] & 15) << 2;
  const l4 = l3 + ihl;
  if (l4 + 20 > l3End) return -1;
  const thl = (buf[l4 + 12] >>> 4) << 2;
  const hdrs = ihl + thl;
  const payload = l3End - l3 - hdrs;
  if (mss <= 0 || payload < 0) return -1;
  const n = payload === 0 ? 1 : Math.ceil(payload / mss);
  if (outOff + n * (hdrs + mss) > out.length) return -1;
  const id0 = readU16(buf, l3 + 4);
  const seq0 = readU32(buf, l4 + 4);
  const flags = buf[l4 + 13];
  const src = readU32(buf, l3 + 12), dst = readU32(buf, l3 + 16);
  const pseudoAddr = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 6;
  let o = outOff;
  for (let i = 0; i < n; i++) {
    const dataOff = i * mss;
    const len = Math.min(mss, payload - dataOff);
    // headers
    for (let k = 0; k < hdrs; k++) out[o + k] = buf[l3 + k];
    // payload
    const from = l3 + hdrs + dataOff;
    for (let k = 0; k < len; k++) out[o + hdrs + k] = buf[from + k];
    const total = hdrs + len;
    writeU16(out, o + 2, total);
    writeU16(out, o + 4, (id0 + i) & 0xffff);
    writeU16(out, o + 10, 0);
    writeU16(out, o + 10, ~onesSum(out, o, ihl) & 0xffff);
    const t = o + ihl;
    writeU32(out, t + 4, (seq0 + dataOff) >>> 0);
    let f = flags;
    if (i < n - 1) f &= ~0x09; // FIN and PSH only on the last segment
    if (i > 0) f &= ~0x80;     // CWR only on the first
    out[t + 13] = f;
    writeU16(out, t + 16, 0);
    const seg = thl + len;
    writeU16(out, t + 16, ~onesSum(out, t, seg, pseudoAddr + seg) & 0xffff);
    emit(o, total);
    o += total;
  }
  return n;
}
