/**
 * Amazon DNS inside the service server: the resolver (services/dns/) listens
 * on the VPC base + 2 and 169.254.169.253 (UDP and TCP 53) while
 * enableDnsSupport is on and is closed when it is switched off. The service
 * namespace has no way out, so names the resolver forwards go to the parent
 * daemon over IPC (`forward`), which sends them from its own namespace to
 * dns.upstreams and passes the answer back.
 */
import { type DnsOutcome, DnsService, type DnsServiceOptions } from './dns/server.js';
import { DNS_LINK_LOCAL_ADDR, instanceByIp, type ServiceSnapshot } from './snapshot.js';

/** Sends a query to the parent's forwarder; resolves with the answer or null. */
export type Forward = (query: Buffer, viaTcp: boolean) => Promise<Buffer | null>;

export class DnsHook {
  private service: DnsService | undefined;
  private snap: ServiceSnapshot | undefined;

  constructor(private readonly forward: Forward, private readonly onQuery: (who: string | undefined, outcome: DnsOutcome) => void) {}

  private options(snap: ServiceSnapshot): DnsServiceOptions {
    return {
      region: snap.region,
      enableDnsHostnames: snap.enableDnsHostnames,
      vpcCidr: snap.vpcCidr,
      instances: snap.instances.map((i) => ({ name: i.name, privateIp: i.ip, ...(i.publicIp !== undefined ? { publicIp: i.publicIp } : {}) })),
      privateZones: snap.privateZones,
      upstream: snap.dnsForwarding ? this.forward : async () => null,
      identify: (ip) => (this.snap === undefined ? undefined : instanceByIp(this.snap, ip)?.name),
      onQuery: (who, outcome) => this.onQuery(who, outcome),
    };
  }

  /** Starts, reconfigures or stops the resolver for `snap`. Throws when it cannot listen or the zones do not compile. */
  async configure(snap: ServiceSnapshot): Promise<void> {
    this.snap = snap;
    if (!snap.enableDnsSupport) {
      await this.close();
      return;
    }
    if (this.service !== undefined) {
      this.service.setConfig(this.options(snap));
      return;
    }
    const s = new DnsService(this.options(snap));
    await s.listen([snap.dnsAddress, DNS_LINK_LOCAL_ADDR], 53);
    this.service = s;
  }

  async close(): Promise<void> {
    const s = this.service;
    this.service = undefined;
    await s?.close();
  }
}
