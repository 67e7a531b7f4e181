/**
 * The port table: what each port id is attached to (an instance's ENI, the
 * internet uplink, the VPN WAN, a Direct Connect link), whether its frames
 * carry a virtio-net header, and the MAC each instance really uses. Queues
 * frames for transmission and counts them. Allocation-free.
 */
import type { PacketBatch } from './batch.js';
import { type Counters, MAX_PORTS } from './counters.js';

/** What a port is attached to. */
/** Service: the veth to the VPC services' namespace (services/plane.ts). */
export const PortRole = { None: 0, Instance: 1, Uplink: 2, Wan: 3, DirectConnect: 4, Service: 5 } as const;

export class Ports {
  readonly counters: Counters;
  /** Per port id: role, index (instance...), vnet header present. */
  readonly role = new Uint8Array(MAX_PORTS);
  readonly index = new Int32Array(MAX_PORTS).fill(-1);
  readonly vnet = new Uint8Array(MAX_PORTS);
  /** Per instance index: its port id, or -1 when not attached. */
  instPort: Int32Array;
  /** Per instance: the MAC learned from its frames (6 bytes each) and whether one was learned. */
  learnedMac: Uint8Array;
  learned: Uint8Array;

  constructor(counters: Counters, instances: number) {
    this.counters = counters;
    this.instPort = new Int32Array(instances).fill(-1);
    this.learnedMac = new Uint8Array(instances * 6);
    this.learned = new Uint8Array(instances);
  }

  /** Forgets every attachment (a new topology); the caller attaches the ports again. */
  reset(instances: number): void {
    this.instPort = new Int32Array(instances).fill(-1);
    this.learnedMac = new Uint8Array(instances * 6);
    this.learned = new Uint8Array(instances);
    this.role.fill(PortRole.None);
    this.index.fill(-1);
  }

  attachInstance(port: number, inst: number, vnet: boolean): void {
    this.role[port] = PortRole.Instance;
    this.index[port] = inst;
    this.vnet[port] = vnet ? 1 : 0;
    this.instPort[inst] = port;
  }

  attach(port: number, role: number, index: number, vnet: boolean): void {
    this.role[port] = role;
    this.index[port] = index;
    this.vnet[port] = vnet ? 1 : 0;
  }

  detach(port: number): void {
    const inst = this.index[port];
    if (this.role[port] === PortRole.Instance && inst >= 0 && inst < this.instPort.length && this.instPort[inst] === port) {
      this.instPort[inst] = -1;
    }
    this.role[port] = PortRole.None;
    this.index[port] = -1;
  }

  /** Queues arena bytes [off, off+len) on a port and counts them. */
  queue(b: PacketBatch, port: number, off: number, len: number): void {
    b.queueTx(port, off, len);
    this.counters.tx(port, len);
  }

  /** Remembers the MAC an instance really uses (what AWS knows from the ENI); never a group address. */
  learn(buf: Uint8Array, inst: number, macOff: number): void {
    if ((buf[macOff] & 1) !== 0) return;
    const lm = this.learnedMac;
    const o = inst * 6;
    for (let k = 0; k < 6; k++) lm[o + k] = buf[macOff + k];
    this.learned[inst] = 1;
  }
}
