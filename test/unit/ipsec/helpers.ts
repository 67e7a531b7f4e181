/**
 * Test helpers for the ESP data path: ChildSa fixtures, inner IPv4 packets,
 * and an independent ESP implementation written directly on node:crypto
 * (one call per packet, nothing shared with src/ipsec) for interop checks,
 * and a seeded property runner that prints its seed and case count.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { ChildSa, EspAlgorithm } from '../../../src/ipsec/sa-types.js';
import { internetChecksum } from '../../../src/wire/checksum.js';

export const ALL_ALGORITHMS: readonly EspAlgorithm[] = [
  'aes256gcm16', 'aes192gcm16', 'aes128gcm16',
  'aes256-sha256', 'aes192-sha256', 'aes128-sha256',
  'aes256-sha384', 'aes192-sha384', 'aes128-sha384',
  'aes256-sha512', 'aes192-sha512', 'aes128-sha512',
  'aes256-sha1', 'aes192-sha1', 'aes128-sha1',
];

export interface RefAlg {
  gcm: boolean;
  keyLen: number;
  hash: string;
  integKeyLen: number;
  icvLen: number;
}

/** The transform table written out again, independently of src/ipsec/esp-alg.ts. */
export function refAlg(alg: EspAlgorithm): RefAlg {
  const bits = Number(alg.slice(3, 6));
  if (alg.endsWith('gcm16')) return { gcm: true, keyLen: bits / 8, hash: '', integKeyLen: 0, icvLen: 16 };
  const h = alg.split('-')[1]!;
  const integ = h === 'sha1' ? 20 : h === 'sha256' ? 32 : h === 'sha384' ? 48 : 64;
  return { gcm: false, keyLen: bits / 8, hash: h, integKeyLen: integ, icvLen: h === 'sha1' ? 12 : integ / 2 };
}

let nextSpi = 0x1000;
let nextId = 1;

/** A ChildSa with random keys; `over` replaces fields. */
export function makeChildSa(alg: EspAlgorithm, over: Partial<ChildSa> = {}): ChildSa {
  const a = refAlg(alg);
  const salt = (): Uint8Array => (a.gcm ? randomBytes(4) : new Uint8Array(0));
  const integ = (): Uint8Array => (a.gcm ? new Uint8Array(0) : randomBytes(a.integKeyLen));
  return {
    connection: 'vpn-1',
    tunnel: 0,
    id: nextId++,
    spiIn: (0xc0000000 + nextSpi++) >>> 0,
    spiOut: (0x50000000 + nextSpi++) >>> 0,
    algorithm: alg,
    encKeyIn: randomBytes(a.keyLen),
    encKeyOut: randomBytes(a.keyLen),
    saltIn: salt(),
    saltOut: salt(),
    integKeyIn: integ(),
    integKeyOut: integ(),
    icvLen: a.icvLen,
    esn: false,
    replayWindow: 1024,
    localTs: [{ ipProtocol: 0, startAddr: 0xc6120000, endAddr: 0xc612ffff, startPort: 0, endPort: 65535 }],
    remoteTs: [{ ipProtocol: 0, startAddr: 0xc6130000, endAddr: 0xc613ffff, startPort: 0, endPort: 65535 }],
    local: { addr: 0xc6336402, port: 4500 }, // 198.51.100.2
    peer: { addr: 0xc6336401, port: 4500 }, // 198.51.100.1
    encap: true,
    tunnelMode: true,
    lifetimeSec: 3600,
    installedMs: 0,
    ...over,
  };
}

/** The peer's view of the same CHILD_SA: directions swapped. */
export function mirror(sa: ChildSa, over: Partial<ChildSa> = {}): ChildSa {
  return {
    ...sa,
    connection: `${sa.connection}-peer`,
    spiIn: sa.spiOut,
    spiOut: sa.spiIn,
    encKeyIn: sa.encKeyOut,
    encKeyOut: sa.encKeyIn,
    saltIn: sa.saltOut,
    saltOut: sa.saltIn,
    integKeyIn: sa.integKeyOut,
    integKeyOut: sa.integKeyIn,
    local: sa.peer,
    peer: sa.local,
    ...over,
  };
}

/** A valid IPv4/UDP packet of `len` bytes (>= 28) with a deterministic payload. */
export function ipv4Packet(len: number, seed = 1): Buffer {
  const p = Buffer.alloc(len);
  p[0] = 0x45;
  p.writeUInt16BE(len, 2);
  p.writeUInt16BE(seed & 0xffff, 4);
  p[8] = 64;
  p[9] = 17;
  p.writeUInt32BE(0xc6120a05, 12); // 198.18.10.5
  p.writeUInt32BE(0xc6130a07, 16); // 198.19.10.7
  p.writeUInt16BE(internetChecksum(p, 0, 20), 10);
  if (len >= 28) {
    p.writeUInt16BE(40000, 20);
    p.writeUInt16BE(5001, 22);
    p.writeUInt16BE(len - 20, 24);
  }
  let x = seed * 2654435761;
  for (let i = 28; i < len; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    p[i] = x >>> 24;
  }
  return p;
}

export interface RefEncryptOptions {
  /** Override the padding bytes (default 1, 2, 3, ...). */
  padding?: Uint8Array;
  /** Next Header (default 4). */
  nextHeader?: number;
  /** Explicit IV (default: random). */
  iv?: Uint8Array;
  /** Pad Length field override (default: the real padding length). */
  padLenField?: number;
  /** Alignment override (default 4 for GCM, 16 for CBC). */
  align?: number;
}

/**
 * Independent ESP encryption (RFC 4303 §2, RFC 4106, RFC 3602 + RFC 4868),
 * from the sender's keys: encKey/salt/integKey are the sender's "Out" keys.
 */
export function refEncrypt(alg: EspAlgorithm, spi: number, seq: number, encKey: Uint8Array, salt: Uint8Array, integKey: Uint8Array,
  payload: Uint8Array, o: RefEncryptOptions = {}): Buffer {
  const a = refAlg(alg);
  const align = o.align ?? (a.gcm ? 4 : 16);
  let padLen = (align - ((payload.length + 2) % align)) % align;
  let padding = Buffer.alloc(padLen);
  for (let i = 0; i < padLen; i++) padding[i] = i + 1;
  if (o.padding !== undefined) {
    padding = Buffer.from(o.padding);
    padLen = padding.length;
  }
  const trailer = Buffer.from([o.padLenField ?? padLen, o.nextHeader ?? 4]);
  const pt = Buffer.concat([payload, padding, trailer]);
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32BE(spi >>> 0, 0);
  hdr.writeUInt32BE(seq >>> 0, 4);
  const bits = a.keyLen * 8;
  if (a.gcm) {
    const iv = Buffer.from(o.iv ?? randomBytes(8));
    const c = createCipheriv(`aes-${bits}-gcm` as 'aes-256-gcm', encKey, Buffer.concat([salt, iv]), { authTagLength: 16 });
    c.setAAD(hdr);
    const ct = Buffer.concat([c.update(pt), c.final()]);
    return Buffer.concat([hdr, iv, ct, c.getAuthTag()]);
  }
  const iv = Buffer.from(o.iv ?? randomBytes(16));
  const c = createCipheriv(`aes-${bits}-cbc`, encKey, iv);
  c.setAutoPadding(false);
  const ct = Buffer.concat([c.update(pt), c.final()]);
  const mac = createHmac(a.hash, integKey).update(Buffer.concat([hdr, iv, ct])).digest().subarray(0, a.icvLen);
  return Buffer.concat([hdr, iv, ct, mac]);
}

export interface RefDecrypted {
  spi: number;
  seq: number;
  payload: Buffer;
  padding: Buffer;
  nextHeader: number;
  iv: Buffer;
}

/** Independent ESP decryption with the receiver's keys; null if the ICV does not verify. */
export function refDecrypt(alg: EspAlgorithm, encKey: Uint8Array, salt: Uint8Array, integKey: Uint8Array, esp: Uint8Array): RefDecrypted | null {
  const a = refAlg(alg);
  const b = Buffer.from(esp);
  const ivLen = a.gcm ? 8 : 16;
  const hdr = b.subarray(0, 8);
  const iv = b.subarray(8, 8 + ivLen);
  const ct = b.subarray(8 + ivLen, b.length - a.icvLen);
  const icv = b.subarray(b.length - a.icvLen);
  const bits = a.keyLen * 8;
  let pt: Buffer;
  if (a.gcm) {
    const d = createDecipheriv(`aes-${bits}-gcm` as 'aes-256-gcm', encKey, Buffer.concat([salt, iv]), { authTagLength: 16 });
    d.setAAD(hdr);
    d.setAuthTag(icv);
    try {
      pt = Buffer.concat([d.update(ct), d.final()]);
    } catch {
      return null;
    }
  } else {
    const mac = createHmac(a.hash, integKey).update(b.subarray(0, b.length - a.icvLen)).digest().subarray(0, a.icvLen);
    if (!mac.equals(icv)) return null;
    const d = createDecipheriv(`aes-${bits}-cbc`, encKey, iv);
    d.setAutoPadding(false);
    pt = Buffer.concat([d.update(ct), d.final()]);
  }
  const nh = pt[pt.length - 1]!;
  const padLen = pt[pt.length - 2]!;
  return {
    spi: hdr.readUInt32BE(0),
    seq: hdr.readUInt32BE(4),
    payload: pt.subarray(0, pt.length - 2 - padLen),
    padding: pt.subarray(pt.length - 2 - padLen, pt.length - 2),
    nextHeader: nh,
    iv: Buffer.from(iv),
  };
}

/** Small deterministic PRNG (mulberry32). */
export function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * fast-check property run with a fixed seed; prints the seed and the number
 * of cases run, and fails with fast-check's report (counterexample, seed,
 * path) when the property does not hold.
 */
export function assertProperty<Ts extends [unknown, ...unknown[]]>(label: string, property: fc.IProperty<Ts>, seed: number, numRuns: number): void {
  const details = fc.check(property, { seed, numRuns });
  console.log(`property "${label}": seed ${seed}, ${details.numRuns} cases${details.failed ? ', FAILED' : ''}`);
  if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? `property "${label}" failed (seed ${seed})`);
}
