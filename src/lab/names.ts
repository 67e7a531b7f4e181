import { resolve } from 'node:path';

/**
 * Deterministic names and MACs shared by the lab (which creates interfaces)
 * and the daemon (which opens them). Linux interface names are at most 15
 * bytes, and instance names may be longer, so names are short hashes.
 */

/** FNV-1a, 32 bits: stable across runs and machines. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** The daemon-side interface of an instance's link (the instance side is `eth0`): `vi` + 8 hex digits. */
export function labInstanceIfName(prefix: string, instance: string): string {
  return `vi${hex8(fnv1a32(`${prefix}/${instance}`))}`;
}

/** The daemon-side interface of the internet gateway's uplink to the lab internet. */
export function labUplinkIfName(prefix: string): string {
  return `vu${hex8(fnv1a32(`${prefix}/igw`))}`;
}

/** A locally administered unicast MAC derived from a key. */
export function derivedMac(key: string): string {
  const a = fnv1a32(key);
  const b = fnv1a32(`${key}#`);
  const bytes = [0x02, (a >>> 24) & 0xff, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff, b & 0xff];
  return bytes.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** An instance ENI's MAC when the config gives none. */
export function instanceMac(vpcName: string, instance: string): string {
  return derivedMac(`eni/${vpcName}/${instance}`);
}

/** The VPC router's MAC on a subnet (what ARP for the subnet's `.1` answers). */
export function routerMac(vpcName: string, subnet: string): string {
  return derivedMac(`router/${vpcName}/${subnet}`);
}

/** The daemon-side interface of a Direct Connect link. */
export function labDxIfName(prefix: string): string {
  return `vd${hex8(fnv1a32(`${prefix}/dx`))}`;
}

/** The VPC services' namespace, the data plane's end of its veth, and the MACs on that link (services/plane.ts). */
export interface ServicePlaneNames {
  readonly netns: string;
  readonly port: string;
  readonly serviceMac: string;
  readonly portMac: string;
}

/** Derived from the configuration file's absolute path: two daemons never share them; `lab down` finds a crashed daemon's. */
export function servicePlaneNames(configPath: string): ServicePlaneNames {
  const h = hex8(fnv1a32(resolve(configPath)));
  return { netns: `vpcd-svc-${h}`, port: `vs${h}`, serviceMac: derivedMac(`svc/${h}`), portMac: derivedMac(`svc-port/${h}`) };
}
