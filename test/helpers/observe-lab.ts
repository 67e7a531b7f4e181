/**
 * A small lab for the observability tests: a public subnet with a web
 * instance (public IP; its NACL denies TCP 8081 inbound, its group allows
 * 8080-8081), a private subnet whose instance reaches the internet through a
 * NAT gateway, an internet host, and a `vpcd observe` child whose JSON lines
 * are collected.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { VPCD, sleep } from './netns.js';

export const HOST = '203.0.113.100';
export const NAT_PUB = '203.0.113.5';
export const WEB_PUB = '203.0.113.10';
export const WEB = '198.18.1.10';
export const APP = '198.18.2.10';

export function observeLabConfig(prefix: string, mport: number, socketDir: string): string {
  return `
vpc: { name: ${prefix}, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public, networkAcl: pub-nacl }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
networkAcls:
  pub-nacl:
    inbound:
      - { rule: 50, action: deny, protocol: tcp, ports: 8081, cidr: 0.0.0.0/0 }
      - { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }
    outbound:
      - { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }
securityGroups:
  web:
    ingress:
      - { protocol: tcp, ports: 8080-8081, cidr: 0.0.0.0/0 }
  app: {}
instances:
  web: { subnet: pub, ip: ${WEB}, publicIp: ${WEB_PUB}, securityGroups: [web] }
  app: { subnet: priv, ip: ${APP}, securityGroups: [app] }
internetGateway: { name: igw }
natGateways:
  nat-a: { subnet: pub, type: public, ip: 198.18.1.5, publicIp: ${NAT_PUB} }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: nat-a } ] }
metrics: { listen: "127.0.0.1:${mport}" }
control: { socket: ${join(socketDir, 'control.sock')} }
lab:
  prefix: ${prefix}
  internet: ${prefix}-inet
  internetHosts: { h1: ${HOST} }
`;
}

/** `vpcd observe CONFIG ARGS...` with its output lines parsed. */
export class Observer {
  readonly proc: ChildProcess;
  readonly events: Record<string, unknown>[] = [];
  /** Arrival time (Date.now()) of each event. */
  readonly at: number[] = [];
  stderr = '';
  private readonly exited: Promise<number>;

  constructor(config: string, args: string[]) {
    this.proc = spawn(VPCD, ['observe', config, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dirname(config) });
    let buf = '';
    this.proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.events.push(JSON.parse(line) as Record<string, unknown>);
        this.at.push(Date.now());
      }
    });
    this.proc.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.exited = new Promise((res) => this.proc.on('exit', (code, sig) => res(code ?? (sig ? 128 : -1))));
  }

  /** The first event matching pred and when it arrived; rejects after timeoutMs. */
  async waitFor(pred: (e: Record<string, unknown>) => boolean, timeoutMs = 5_000): Promise<{ e: Record<string, unknown>; at: number }> {
    const t0 = Date.now();
    for (;;) {
      const i = this.events.findIndex(pred);
      if (i >= 0) return { e: this.events[i]!, at: this.at[i]! };
      if (Date.now() - t0 > timeoutMs) throw new Error(`no matching event in ${timeoutMs} ms; stderr: ${this.stderr}; last: ${JSON.stringify(this.events.slice(-5))}`);
      await sleep(20);
    }
  }

  /** Ctrl-C; resolves with the exit code. */
  async interrupt(): Promise<number> {
    this.proc.kill('SIGINT');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}
