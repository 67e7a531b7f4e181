/**
 * Interop: vpcd's IKEv2 engine against a real strongSwan 5.9 charon.
 *
 *   ns <P>-vgw  198.51.100.1 ---- veth ---- 198.51.100.2  ns <P>-cgw
 *   (lo 198.18.1.1: strongSwan's libipsec needs a local address inside its local TS)
 *
 * The IKE engine runs in a child process inside a namespace: src/ike is
 * compiled with tsc into a temporary directory in beforeAll, and
 * `ip netns exec NS node <tmp>/ike/standalone.js cfg.json` prints JSON events.
 * ESP is out of scope (no kernel ESP here; the data plane does ESP later): key
 * agreement is checked by comparing SHA-256 fingerprints of our keys with the
 * keys strongSwan dumps at log level chd=4, and SPIs with `swanctl --list-sas`.
 *
 * Needs root, ip(8), strongSwan (charon, swanctl, kernel-libipsec) and openssl;
 * skipped otherwise (a failure in CI). Every wait is bounded. Namespaces are removed in afterAll.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/needs.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PEER_SCRIPT = join(ROOT, 'scripts/strongswan-peer.sh');
const P = `vt${randomBytes(2).toString('hex')}`;
const NS_VGW = `${P}-vgw`;
const NS_CGW = `${P}-cgw`;
const VGW = '198.51.100.1';
const CGW = '198.51.100.2';
const PSK = 'vpcd-interop-psk-0123456789';


let work = '';
let build = '';
const runners: Runner[] = [];
const peers: { name: string; ns: string }[] = [];

function sh(cmd: string, args: string[], timeoutMs = 10_000): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

interface Ev {
  t: number;
  event: string;
  [k: string]: unknown;
}

/** One IKE session in a namespace (src/ike/standalone.ts). */
class Runner {
  readonly proc: ChildProcess;
  readonly events: Ev[] = [];
  private buf = '';
  private waiters: { pred: (e: Ev) => boolean; resolve: (e: Ev) => void }[] = [];
  exited = false;

  constructor(ns: string, cfg: Record<string, unknown>, tag: string) {
    const path = join(work, `${tag}.json`);
    writeFileSync(path, JSON.stringify(cfg));
    this.proc = spawn('ip', ['netns', 'exec', ns, process.execPath, join(build, 'ike/standalone.js'), path], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout?.setEncoding('utf8');
    this.proc.stdout?.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        let e: Ev;
        try {
          e = JSON.parse(line) as Ev;
        } catch {
          continue;
        }
        this.events.push(e);
        if (process.env.IKE_TEST_LOG) console.log(`[${tag}] ${line}`);
        for (const w of [...this.waiters]) {
          if (w.pred(e)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(e);
          }
        }
      }
    });
    this.proc.stderr?.setEncoding('utf8');
    this.proc.stderr?.on('data', (d: string) => {
      if (process.env.IKE_TEST_LOG) console.log(`[${tag} stderr] ${d}`);
    });
    this.proc.on('exit', () => {
      this.exited = true;
    });
    runners.push(this);
  }

  /** Resolves with the first event (already seen or future) matching pred; rejects after timeoutMs. */
  waitFor(pred: (e: Ev) => boolean, timeoutMs: number, what: string): Promise<Ev> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise<Ev>((res, rej) => {
      const w = { pred, resolve: (e: Ev) => { clearTimeout(timer); res(e); } };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        rej(new Error(`timeout (${timeoutMs} ms) waiting for ${what}; events:\n${this.events.map((e) => JSON.stringify(e)).join('\n')}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Waits for the n-th (1-based) event matching pred. */
  async waitForNth(pred: (e: Ev) => boolean, n: number, timeoutMs: number, what: string): Promise<Ev> {
    let count = 0;
    return this.waitFor((e) => pred(e) && ++count >= n, timeoutMs, what).catch(async (err) => {
      const all = this.events.filter(pred);
      if (all.length >= n) return all[n - 1];
      throw err;
    });
  }

  installs(): Ev[] {
    return this.events.filter((e) => e.event === 'install');
  }

  send(cmd: string): void {
    this.proc.stdin?.write(`${cmd}\n`);
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    this.send('stop');
    const done = new Promise<void>((r) => this.proc.once('exit', () => r()));
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await done;
    clearTimeout(t);
  }
}

/** scripts/strongswan-peer.sh for one instance. */
function peer(name: string, ns: string, env: Record<string, string>, args: string[], timeoutMs = 30_000): string {
  if (!peers.some((p) => p.name === name)) peers.push({ name, ns });
  return execFileSync('bash', [PEER_SCRIPT, ...args], {
    encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SS_QUIET: '1', SS_NAME: name, SS_NETNS: ns, SS_STATE_DIR: join(work, `ss-${name}`), ...env },
  });
}
function peerDown(name: string, ns: string): void {
  try {
    peer(name, ns, {}, ['down'], 15_000);
  } catch {
    /* best effort */
  }
}
function charonLog(name: string): string {
  const f = join(work, `ss-${name}`, 'charon.log');
  return existsSync(f) ? readFileSync(f, 'utf8') : '';
}

interface SwanChild { state: string; spiIn: string; spiOut: string }
function listSas(name: string, ns: string): { ike: string[]; children: SwanChild[] } {
  const raw = peer(name, ns, {}, ['swanctl', '--list-sas', '--raw']);
  const ike = [...raw.matchAll(/version=2 state=(\w+)/g)].map((m) => m[1]);
  const children = [...raw.matchAll(/state=(\w+) mode=\w+ protocol=ESP encap=\w+ spi-in=([0-9a-f]+) spi-out=([0-9a-f]+)/g)]
    .map((m) => ({ state: m[1], spiIn: m[2], spiOut: m[3] }));
  return { ike, children };
}

/** SHA-256 fingerprints of the CHILD_SA keys strongSwan derived (log level chd=4), in log order. */
function strongswanKeyFingerprints(log: string): { fpI: string; fpR: string }[] {
  const lines = log.split('\n');
  const groups: Map<string, Buffer>[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /(encryption|integrity) (initiator|responder) key => \d+ bytes/.exec(lines[i]);
    if (!m) continue;
    if (m[1] === 'encryption' && m[2] === 'initiator') groups.push(new Map());
    const g = groups[groups.length - 1];
    if (!g) continue;
    let bytes = Buffer.alloc(0);
    for (let j = i + 1; j < lines.length; j++) {
      const d = />\s+\d+: ((?:[0-9A-F]{2} )*[0-9A-F]{2})/.exec(lines[j]);
      if (!d) break;
      bytes = Buffer.concat([bytes, Buffer.from(d[1].replace(/ /g, ''), 'hex')]);
    }
    g.set(`${m[1]}-${m[2]}`, bytes);
  }
  const fp = (enc?: Buffer, integ?: Buffer): string =>
    createHash('sha256').update(enc ?? Buffer.alloc(0)).update(integ ?? Buffer.alloc(0)).digest('hex').slice(0, 16);
  return groups.map((g) => ({
    fpI: fp(g.get('encryption-initiator'), g.get('integrity-initiator')),
    fpR: fp(g.get('encryption-responder'), g.get('integrity-responder')),
  }));
}

/** Which side initiated the exchange that created `inst`, judged from strongSwan's keys ('us' | 'peer'), or undefined if no match. */
function keyMatch(log: string, inst: Ev): 'us' | 'peer' | undefined {
  for (const k of strongswanKeyFingerprints(log)) {
    if (k.fpI === inst.fpOut && k.fpR === inst.fpIn) return 'us';
    if (k.fpI === inst.fpIn && k.fpR === inst.fpOut) return 'peer';
  }
  return undefined;
}

/** Polls (bounded) until strongSwan's log shows keys matching `inst`; returns who initiated that exchange. */
async function keysAgree(name: string, inst: Ev): Promise<'us' | 'peer' | undefined> {
  const end = Date.now() + 5000;
  for (;;) {
    const m = keyMatch(charonLog(name), inst);
    if (m || Date.now() > end) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function baseCfg(role: 'initiator' | 'responder'): Record<string, unknown> {
  return role === 'initiator'
    ? {
        role, name: 'to-aws', localAddr: CGW, peerAddr: VGW, ikeProposals: ['aes256gcm16-prfsha256-ecp256'],
        espProposals: ['aes256gcm16-ecp256'], localTs: ['198.19.0.0/16'], remoteTs: ['198.18.0.0/16'], retryDelayMs: 2000,
      }
    : {
        role, name: 'vgw', localAddr: VGW, peerAddr: CGW, ikeProposals: ['aes256gcm16-prfsha256-ecp256-modp2048', 'aes256-sha256-ecp256-modp2048'],
        espProposals: ['aes256gcm16-ecp256-modp2048', 'aes256-sha256-ecp256-modp2048'], localTs: ['198.18.0.0/16'], remoteTs: ['198.19.0.0/16'],
      };
}

const setupTimes: Record<string, number> = {};

async function establishedInitiator(r: Runner, label: string): Promise<Ev> {
  const started = await r.waitFor((e) => e.event === 'state' && e.state === 'connecting', 10_000, 'runner start');
  const up = await r.waitFor((e) => e.event === 'state' && e.state === 'up', 15_000, 'tunnel up');
  setupTimes[label] = Math.round((up.t - started.t) * 10) / 10;
  return r.waitFor((e) => e.event === 'install', 1000, 'install');
}

async function until(f: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describeWith(['root', 'strongswan', 'openssl'], 'IKEv2 interop with strongSwan (root, namespaces)', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), `${P}-`));
    build = join(work, 'build');
    writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({
      extends: join(ROOT, 'tsconfig.json'),
      compilerOptions: { noEmit: false, outDir: build, rootDir: join(ROOT, 'src'), typeRoots: [join(ROOT, 'node_modules/@types')], sourceMap: false },
      include: [join(ROOT, 'src/ike/**/*.ts'), join(ROOT, 'src/ipsec/sa-types.ts')],
      exclude: [join(ROOT, 'src/**/*.test.ts')],
    }));
    sh(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(work, 'tsconfig.json')], 60_000);
    for (const ns of [NS_VGW, NS_CGW]) {
      sh('ip', ['netns', 'add', ns]);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    sh('ip', ['link', 'add', `${P}-v`, 'netns', NS_VGW, 'type', 'veth', 'peer', 'name', `${P}-c`, 'netns', NS_CGW]);
    sh('ip', ['-n', NS_VGW, 'addr', 'add', `${VGW}/24`, 'dev', `${P}-v`]);
    sh('ip', ['-n', NS_CGW, 'addr', 'add', `${CGW}/24`, 'dev', `${P}-c`]);
    sh('ip', ['-n', NS_VGW, 'link', 'set', `${P}-v`, 'up']);
    sh('ip', ['-n', NS_CGW, 'link', 'set', `${P}-c`, 'up']);
    // kernel-libipsec routes the remote TS "src <local address in local TS>": give each side one
    sh('ip', ['-n', NS_VGW, 'addr', 'add', '198.18.1.1/24', 'dev', 'lo']);
    sh('ip', ['-n', NS_CGW, 'addr', 'add', '198.19.1.1/24', 'dev', 'lo']);
    sh('ip', ['netns', 'exec', NS_CGW, 'ping', '-c1', '-W2', VGW]);
  }, 90_000);

  // whatever a test left running (also after a failure) is stopped before the next one
  afterEach(async () => {
    for (const r of runners.splice(0)) {
      try {
        await r.stop();
      } catch {
        r.proc.kill('SIGKILL');
      }
    }
    for (const p of peers.splice(0)) peerDown(p.name, p.ns);
  }, 60_000);

  afterAll(async () => {
    for (const r of runners) {
      try {
        await r.stop();
      } catch {
        r.proc.kill('SIGKILL');
      }
    }
    for (const p of peers) peerDown(p.name, p.ns);
    for (const ns of [NS_VGW, NS_CGW]) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        /* not created */
      }
    }
    if (Object.keys(setupTimes).length) console.log(`IKE setup times (IKE_SA_INIT request -> CHILD_SA installed), ms: ${JSON.stringify(setupTimes)}`);
    if (work && !process.env.IKE_TEST_KEEP) rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('PSK: our initiator brings up IKE + CHILD SA with a strongSwan VGW; SPIs and keys agree; rekeys both ways', async () => {
    const name = 'psk';
    peer(name, NS_VGW, { SS_LOG: 'chd=4', SS_PSK: PSK }, ['up']);
    const r = new Runner(NS_CGW, { ...baseCfg('initiator'), psk: PSK }, 'psk-cgw');
    const inst = await establishedInitiator(r, 'psk');
    expect(inst.algorithm).toBe('aes256gcm16');
    expect(inst.encap).toBe(true);
    expect(inst.localPort).toBe(4500);
    let sas = listSas(name, NS_VGW);
    expect(sas.ike).toEqual(['ESTABLISHED']);
    expect(sas.children).toEqual([{ state: 'INSTALLED', spiIn: inst.spiOut, spiOut: inst.spiIn }]);
    expect(await keysAgree(name, inst)).toBe('us');

    // our CHILD_SA rekey (CREATE_CHILD_SA with PFS KE), then DELETE of the old one
    r.send('rekey-child');
    const inst2 = await r.waitForNth((e) => e.event === 'install', 2, 10_000, 'rekeyed CHILD_SA');
    await r.waitFor((e) => e.event === 'remove' && e.spiIn === inst.spiIn, 10_000, 'old CHILD_SA removed');
    expect(await keysAgree(name, inst2)).toBe('us');
    await until(() => {
      const c = listSas(name, NS_VGW).children;
      return c.length === 1 && c[0].spiIn === inst2.spiOut;
    }, 10_000, 'strongSwan to drop the old CHILD_SA');

    // strongSwan rekeys the CHILD_SA
    peer(name, NS_VGW, {}, ['rekey-child']);
    const inst3 = await r.waitForNth((e) => e.event === 'install', 3, 10_000, 'CHILD_SA rekeyed by strongSwan');
    await r.waitFor((e) => e.event === 'remove' && e.spiIn === inst2.spiIn, 10_000, 'old CHILD_SA deleted by strongSwan');
    expect(await keysAgree(name, inst3)).toBe('peer');

    // IKE_SA rekeys: ours, then strongSwan's
    r.send('rekey-ike');
    await r.waitFor((e) => e.event === 'log' && e.name === 'ike-sa-deleted', 10_000, 'old IKE SA deleted after our rekey');
    peer(name, NS_VGW, {}, ['rekey-ike']);
    await r.waitFor((e) => e.event === 'log' && e.name === 'ike-sa-deleted-by-peer', 10_000, 'old IKE SA deleted after strongSwan rekey');
    // the CHILD_SA survives both IKE rekeys and a rekey over the new IKE SA works
    r.send('rekey-child');
    const inst4 = await r.waitForNth((e) => e.event === 'install', 4, 10_000, 'CHILD_SA rekey over the rekeyed IKE SA');
    expect(await keysAgree(name, inst4)).toBe('us');
    await until(() => {
      const s = listSas(name, NS_VGW);
      return s.ike.length === 1 && s.ike[0] === 'ESTABLISHED' && s.children.length === 1 && s.children[0].spiIn === inst4.spiOut;
    }, 10_000, 'one IKE SA and the newest CHILD_SA at strongSwan');
    expect(r.events.some((e) => e.event === 'state' && e.state === 'down')).toBe(false);
    await r.stop();
    expect(charonLog(name)).toMatch(/received DELETE for IKE_SA/);
    peerDown(name, NS_VGW);
  }, 90_000);

  for (const certType of ['rsa', 'ecdsa'] as const) {
    it(`certificates (${certType}): RFC 7427 signatures, CERT/CERTREQ, RFC 7383 fragments`, async () => {
      const name = `cert-${certType}`;
      const env = peer(name, NS_VGW, { SS_AUTH: 'cert', SS_CERT_TYPE: certType, SS_LOG: 'chd=4' }, ['up']);
      const pki = /SS_PKI_DIR=(\S+)/.exec(env)?.[1] ?? '';
      expect(pki).not.toBe('');
      const r = new Runner(NS_CGW, {
        ...baseCfg('initiator'), cert: join(pki, 'peer.crt'), key: join(pki, 'peer.key'), ca: join(pki, 'ca.crt'), debug: true,
      }, `${name}-cgw`);
      const inst = await establishedInitiator(r, name);
      const sas = listSas(name, NS_VGW);
      expect(sas.children).toEqual([{ state: 'INSTALLED', spiIn: inst.spiOut, spiOut: inst.spiIn }]);
      expect(await keysAgree(name, inst)).toBe('us');
      const log = charonLog(name);
      expect(log).toMatch(/authentication of 'cgw\.vpcd\.test' with .* successful/);
      if (certType === 'rsa') {
        expect(log).toMatch(/RSA_EMSA_PKCS1_SHA2_256 successful/);
        // the RSA IKE_AUTH exceeds 1280 bytes both ways: fragments ours, reassembles theirs
        expect(log).toMatch(/parsed IKE_AUTH request 1 \[ EF\(1\/2\) \]/);
        expect(log).toMatch(/generating IKE_AUTH response 1 \[ EF\(1\/2\) \]/);
      }
      expect(r.events.some((e) => e.event === 'log' && e.name === 'ike-sa-established' && String(e.msg).includes('vgw.vpcd.test'))).toBe(true);
      await r.stop();
      peerDown(name, NS_VGW);
    }, 60_000);
  }

  it('strongSwan (CGW) initiates to our responder (VGW); it rekeys CHILD and IKE SA; we rekey the CHILD_SA', async () => {
    const name = 'ss-cgw';
    const r = new Runner(NS_VGW, { ...baseCfg('responder'), psk: PSK }, 'resp-vgw');
    await r.waitFor((e) => e.event === 'started', 10_000, 'responder start');
    peer(name, NS_CGW, {
      SS_LOCAL_ADDR: CGW, SS_REMOTE_ADDR: VGW, SS_LOCAL_TS: '198.19.0.0/16', SS_REMOTE_TS: '198.18.0.0/16', SS_PSK: PSK,
      SS_IKE_PROPOSALS: 'aes256-sha256-modp2048', SS_ESP_PROPOSALS: 'aes256-sha256-modp2048', SS_LOG: 'chd=4', SS_START_ACTION: 'start',
    }, ['up']);
    const inst = await r.waitFor((e) => e.event === 'install', 10_000, 'CHILD_SA at our responder');
    expect(inst.algorithm).toBe('aes256-sha256');
    let sas = listSas(name, NS_CGW);
    expect(sas.children).toEqual([{ state: 'INSTALLED', spiIn: inst.spiOut, spiOut: inst.spiIn }]);
    expect(await keysAgree(name, inst)).toBe('peer');
    peer(name, NS_CGW, {}, ['rekey-child']);
    const inst2 = await r.waitForNth((e) => e.event === 'install', 2, 10_000, 'CHILD_SA rekeyed by strongSwan');
    expect(await keysAgree(name, inst2)).toBe('peer');
    peer(name, NS_CGW, {}, ['rekey-ike']);
    await r.waitFor((e) => e.event === 'log' && e.name === 'ike-sa-deleted-by-peer', 10_000, 'old IKE SA deleted by strongSwan');
    r.send('rekey-child');
    const inst3 = await r.waitForNth((e) => e.event === 'install', 3, 10_000, 'CHILD_SA rekeyed by us (responder side)');
    expect(await keysAgree(name, inst3)).toBe('us');
    await until(() => {
      sas = listSas(name, NS_CGW);
      return sas.children.length === 1 && sas.children[0].spiIn === inst3.spiOut && sas.children[0].state === 'INSTALLED';
    }, 10_000, 'strongSwan to hold only the newest CHILD_SA');
    await r.stop();
    peerDown(name, NS_CGW);
  }, 60_000);

  it('CHILD_SA rekeyed when its short lifetime (12 s, margin 4 s) runs out; strongSwan DPD answered', async () => {
    const name = 'life';
    peer(name, NS_VGW, { SS_LOG: 'chd=4', SS_PSK: PSK, SS_DPD_DELAY: '2s' }, ['up']);
    const r = new Runner(NS_CGW, {
      ...baseCfg('initiator'), psk: PSK, childLifetimeSec: 12, rekeyMarginSec: 4, rekeyFuzzPct: 0, dpdDelaySec: 2, debug: true,
    }, 'life-cgw');
    const inst = await establishedInitiator(r, 'psk-short-lifetime');
    const inst2 = await r.waitForNth((e) => e.event === 'install', 2, 15_000, 'lifetime-driven CHILD_SA rekey');
    await r.waitFor((e) => e.event === 'remove' && e.spiIn === inst.spiIn, 5000, 'old CHILD_SA deleted');
    expect(await keysAgree(name, inst2)).toBe('us');
    await until(() => {
      const c = listSas(name, NS_VGW).children;
      return c.length === 1 && c[0].spiIn === inst2.spiOut;
    }, 10_000, 'strongSwan to hold the rekeyed CHILD_SA');
    // strongSwan's DPD (2 s of silence) got answered
    const log = charonLog(name);
    expect(log).toMatch(/generating INFORMATIONAL request \d+ \[ \]/);
    expect(log).toMatch(/parsed INFORMATIONAL response \d+ \[ \]/);
    // (our own DPD never fires here: strongSwan's requests keep the SA live; the dead-peer test covers ours)
    expect(r.events.some((e) => e.event === 'log' && /INFORMATIONAL response \d+ \[\]/.test(String(e.msg)))).toBe(true);
    expect(r.events.some((e) => e.event === 'state' && e.state === 'down')).toBe(false);
    await r.stop();
    peerDown(name, NS_VGW);
  }, 60_000);

  it('INVALID_KE_PAYLOAD: retries with the group strongSwan asks for', async () => {
    const name = 'ke';
    peer(name, NS_VGW, { SS_PSK: PSK }, ['up']);
    const r = new Runner(NS_CGW, { ...baseCfg('initiator'), psk: PSK, ikeProposals: ['aes256gcm16-prfsha256-ecp384-ecp256'] }, 'ke-cgw');
    await establishedInitiator(r, 'psk-invalid-ke');
    expect(r.events.some((e) => e.event === 'log' && e.name === 'invalid-ke-retry' && String(e.msg).includes('group 19'))).toBe(true);
    expect(charonLog(name)).toMatch(/N\(INVAL_KE\)/);
    await r.stop();
    peerDown(name, NS_VGW);
  }, 60_000);

  it('COOKIE: strongSwan under "load" demands a cookie and we retry with it', async () => {
    const name = 'cookie';
    peer(name, NS_VGW, { SS_PSK: PSK, SS_COOKIE_THRESHOLD: '1' }, ['up']);
    // one IKE_SA_INIT that is never completed (from another source port) leaves a half-open SA
    const halfOpen = join(work, 'half-open.mjs');
    writeFileSync(halfOpen, `
      import { createSocket } from 'node:dgram';
      import { IkeInitiator } from ${JSON.stringify(join(build, 'ike/session.js'))};
      const s = new IkeInitiator({ name: 'half-open', localAddr: '${CGW}', peerAddr: '${VGW}', localIkePort: 5000,
        auth: { kind: 'psk', psk: new TextEncoder().encode('${PSK}') }, ikeProposals: ['aes256gcm16-prfsha256-ecp256'],
        espProposals: ['aes256gcm16'], localTs: ['198.19.0.0/16'], remoteTs: ['198.18.0.0/16'] });
      const a = s.start(0).find((x) => x.kind === 'send');
      const sock = createSocket('udp4');
      sock.bind(5000, '${CGW}', () => sock.send(a.bytes, 500, '${VGW}', () => setTimeout(() => sock.close(), 200)));
    `);
    sh('ip', ['netns', 'exec', NS_CGW, process.execPath, halfOpen]);
    await until(() => /generating IKE_SA_INIT response 0/.test(charonLog(name)), 5000, 'half-open SA at strongSwan');
    const r = new Runner(NS_CGW, { ...baseCfg('initiator'), psk: PSK }, 'cookie-cgw');
    await establishedInitiator(r, 'psk-cookie');
    expect(r.events.some((e) => e.event === 'log' && e.name === 'cookie-retry')).toBe(true);
    expect(charonLog(name)).toMatch(/generating IKE_SA_INIT response 0 \[ N\(COOKIE\) \]/);
    await r.stop();
    peerDown(name, NS_VGW);
  }, 60_000);

  it('dead peer: strongSwan killed, DPD gives up after dpdTimeout and the tunnel goes down', async () => {
    const name = 'dead';
    peer(name, NS_VGW, { SS_PSK: PSK, SS_DPD_DELAY: '30s' }, ['up']);
    const r = new Runner(NS_CGW, { ...baseCfg('initiator'), psk: PSK, dpdDelaySec: 1, dpdTimeoutSec: 4, keepUp: false }, 'dead-cgw');
    await establishedInitiator(r, 'psk-dpd');
    const pid = /SS_PID=(\d+)/.exec(readFileSync(join(work, `ss-${name}`, 'peer.env'), 'utf8'))?.[1];
    expect(pid).toBeDefined();
    process.kill(Number(pid), 'SIGKILL');
    const down = await r.waitFor((e) => e.event === 'state' && e.state === 'down', 15_000, 'tunnel down after DPD');
    expect(String(down.reason)).toMatch(/peer dead: no answer to DPD/);
    await r.waitFor((e) => e.event === 'remove', 1000, 'CHILD_SA removed');
    await r.stop();
    peerDown(name, NS_VGW);
  }, 60_000);
});
