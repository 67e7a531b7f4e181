/**
 * What the Amazon DNS server is told: the VPC's names, its private zones,
 * where other names go, who its clients are, and where outcomes are counted.
 * Re-exported by server.ts, the module's entry.
 */
import type { PrivateZone } from '../../control/config-types.js';

export type { PrivateZone } from '../../control/config-types.js';

export type DnsOutcome = 'answered' | 'nxdomain' | 'forwarded' | 'servfail' | 'refused' | 'rate_limited' | 'malformed';

export interface DnsServiceOptions {
  /** us-east-1 -> ip-a-b-c-d.ec2.internal; else ip-a-b-c-d.<region>.compute.internal. */
  region: string;
  /** Private (and public) hostnames, A and PTR, only when on. */
  enableDnsHostnames: boolean;
  /** PTR answered for addresses in it. */
  vpcCidr: string;
  instances: ReadonlyArray<{ name: string; privateIp: string; publicIp?: string }>;
  /** The parsed form of the configuration key privateZones. */
  privateZones: ReadonlyArray<PrivateZone>;
  /** Sends a query on (the caller decides where); null -> SERVFAIL. */
  upstream: (query: Buffer, viaTcp: boolean) => Promise<Buffer | null>;
  /** Packets per second per client (default 1024, AWS's per-ENI limit to the Resolver). */
  perEniLimitPps?: number;
  /** ENI/instance name of a client; undefined: an unknown client, answered REFUSED. */
  identify(srcIp: string): string | undefined;
  /** Metrics hook, called once per query received. */
  onQuery?(who: string | undefined, outcome: DnsOutcome): void;
}
