/**
 * Where Amazon DNS plugs into the service server: the resolver listens on the
 * VPC base + 2 and 169.254.169.253 (UDP and TCP 53) while enableDnsSupport is
 * on, and is stopped when it is switched off. Until the DNS server is built
 * in, configure() records that nobody answers: the data plane still steers
 * DNS to the namespace, where the kernel refuses it (ICMP port unreachable
 * for UDP, RST for TCP), so clients fail fast instead of timing out.
 */
import type { ServiceSnapshot } from './snapshot.js';

export class DnsHook {
  private warned = false;

  constructor(private readonly report: (message: string) => void) {}

  async configure(snap: ServiceSnapshot): Promise<void> {
    if (snap.enableDnsSupport && !this.warned) {
      this.warned = true;
      this.report('Amazon DNS is not built into this vpcd: queries to the VPC base + 2 and 169.254.169.253 are refused');
    }
  }

  async close(): Promise<void> {
    // nothing listens yet
  }
}
