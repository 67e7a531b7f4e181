/**
 * Seeded 32-bit hashing of u32 words.
 *
 * The mix is MurmurHash3's x86_32 body and finaliser applied to whole words
 * (Math.imul keeps every step in int32, so V8 never boxes an intermediate).
 * Tables seed it per process (randomSeed()) so a remote peer cannot choose
 * tuples that collide (OVS, VPP and Snabb's ctable all seed for that reason);
 * tests pass a fixed seed to reproduce.
 *
 * Data-plane functions here never allocate. They return the hash as an int32
 * (`| 0`), not a u32: a u32 >= 2^31 is not a small integer in V8, and passing
 * or returning one through a call that is not inlined boxes it in a new heap
 * number. Measured in test/bench/conntrack.bench.ts: with u32 results and
 * keys, 2M lookups caused 16 scavenges; with int32, none. Use `& mask`.
 */
import { randomInt } from 'node:crypto';

const C1 = 0xcc9e2d51 | 0;
const C2 = 0x1b873593 | 0;

/** A random u32 seed for one table in this process. Control plane only. */
export function randomSeed(): number {
  return randomInt(0, 0x1_0000_0000) >>> 0;
}

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixH(h: number, k: number): number {
  h ^= mixK(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3 fmix32: every input bit affects every output bit. */
function fmix(h: number, words: number): number {
  h ^= words << 2; // length in bytes
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Seeded hash of one u32 word, as int32. Never allocates. */
export function hash1(a: number, seed: number): number {
  return fmix(mixH(seed | 0, a | 0), 1);
}

/** Seeded hash of two u32 words, as int32. Never allocates. */
export function hash2(a: number, b: number, seed: number): number {
  return fmix(mixH(mixH(seed | 0, a | 0), b | 0), 2);
}

/** Seeded hash of three u32 words, as int32. Never allocates. */
export function hash3(a: number, b: number, c: number, seed: number): number {
  let h = mixH(seed | 0, a | 0);
  h = mixH(h, b | 0);
  h = mixH(h, c | 0);
  return fmix(h, 3);
}

/** Seeded hash of four u32 words (an IPv4 flow key), as int32. Never allocates. */
export function hash4(a: number, b: number, c: number, d: number, seed: number): number {
  let h = mixH(seed | 0, a | 0);
  h = mixH(h, b | 0);
  h = mixH(h, c | 0);
  h = mixH(h, d | 0);
  return fmix(h, 4);
}

/** Smallest power of two >= n (n >= 1, result <= 2^30). */
export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
