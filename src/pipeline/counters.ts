/**
 * Hot-path counters: plain Float64Array slots that the packet path bumps and
 * the metrics scraper reads (interfaces.md: nothing on the per-packet path
 * calls the metrics library). Doubles count exactly up to 2^53.
 */
import { DROP_REASON_COUNT } from './batch.js';

export const MAX_PORTS = 1024;

export class Counters {
  /** Per port id: [rxPackets, rxBytes, txPackets, txBytes]. */
  readonly port = new Float64Array(MAX_PORTS * 4);
  /** Per DropReason. */
  readonly drops = new Float64Array(DROP_REASON_COUNT);
  /** Batches processed and frames in them (for batch-size insight). */
  batches = 0;
  frames = 0;

  rx(port: number, bytes: number): void {
    const b = port << 2;
    this.port[b]++;
    this.port[b + 1] += bytes;
  }

  tx(port: number, bytes: number): void {
    const b = (port << 2) + 2;
    this.port[b]++;
    this.port[b + 1] += bytes;
  }

  resetPort(port: number): void {
    this.port.fill(0, port << 2, (port << 2) + 4);
  }
}
