/**
 * Big-endian (network order) integer access at an absolute byte offset.
 *
 * These are the primitives every view is built on: plain arithmetic on bytes,
 * no DataView (one per buffer would have to be cached per frame), no Buffer
 * methods (they throw on out-of-range offsets, which the hot path must never
 * do). They work on any Uint8Array, including a Buffer that is a slice of a
 * larger ArrayBuffer: offsets are relative to the array, never to its backing
 * store.
 *
 * Results are host-order numbers; 32-bit values are unsigned (`>>> 0`), in
 * [0, 2^32). An out-of-range read yields `undefined` bytes, which the integer
 * operators turn into 0: callers that need correct values validate ranges
 * first (a view's check()), but nothing here ever throws.
 */

/** Unsigned 16-bit big-endian value at `off`. */
export function readU16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

/** Unsigned 32-bit big-endian value at `off`, in [0, 2^32). */
export function readU32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

/** Writes the low 16 bits of `v` big-endian at `off`. */
/** Big-endian 32-bit read as an int32 bit pattern (`readU32(b, off) | 0` without the intermediate double). */
export function readI32(b: Uint8Array, off: number): number {
  return (b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
}

export function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v;
}

/** Writes the low 32 bits of `v` big-endian at `off` (signed or unsigned input). */
export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}

/** Unsigned 16-bit little-endian value at `off` (virtio_net_hdr fields). */
export function readU16Le(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8);
}

/** Writes the low 16 bits of `v` little-endian at `off`. */
export function writeU16Le(b: Uint8Array, off: number, v: number): void {
  b[off] = v;
  b[off + 1] = v >>> 8;
}

/**
 * Copies `len` bytes forward; a byte loop, cheaper than subarray()+set() for
 * MAC-sized runs. Overlapping ranges in one buffer are safe only if dstOff <= srcOff.
 */
export function copyBytes(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, len: number): void {
  for (let i = 0; i < len; i++) dst[dstOff + i] = src[srcOff + i];
}

/** True if the `len` bytes at a[aOff] and b[bOff] are equal. */
export function bytesEqual(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}
