/**
 * Standalone IKE runner: one session over UDP, events as JSON lines on stdout.
 *
 *   node dist/ike/standalone.js <config.json>
 *
 * config.json = IkeSessionConfig fields plus:
 *   "role": "initiator" | "responder",
 *   "psk": "<text>" | "pskHex": "<hex>"        (PSK auth), or
 *   "cert": "<pem path>", "key": "<pem path>", "ca": "<pem path>"  (certificates)
 * Commands on stdin, one a line: rekey-child | rekey-ike | initiate | status | stop.
 * SIGTERM/SIGINT stop the session (DELETE sent) and exit 0.
 *
 * Output lines: {"t": ms since start, "event": ...}. `install` lines carry SPIs,
 * the algorithm, ports and a SHA-256 fingerprint of each direction's keys
 * (never the keys themselves), so tests can check both ends derived the same.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { loadCertCredentials } from './auth.js';
import type { IkeAuthConfig, IkeSessionConfig } from './config.js';
import { IkeError } from './errors.js';
import { IkeInitiator, IkeResponder, type IkeAction, type IkeSession } from './session.js';
import { UdpDriver } from './udp-driver.js';
import type { ChildSa } from '../ipsec/sa-types.js';

type RunnerConfig = Omit<IkeSessionConfig, 'auth' | 'random' | 'wallClock'> & {
  role?: 'initiator' | 'responder';
  psk?: string;
  pskHex?: string;
  cert?: string;
  key?: string;
  ca?: string;
  /** Print DEBUG logs too. */
  debug?: boolean;
};

function out(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

/** First 16 hex digits of SHA-256(key | salt | integKey): comparable, not reversible. */
function keyFingerprint(enc: Uint8Array, salt: Uint8Array, integ: Uint8Array): string {
  return createHash('sha256').update(enc).update(salt).update(integ).digest('hex').slice(0, 16);
}

function hex32(v: number): string {
  return v.toString(16).padStart(8, '0');
}

function describeInstall(sa: ChildSa): Record<string, unknown> {
  return {
    id: sa.id, spiIn: hex32(sa.spiIn), spiOut: hex32(sa.spiOut), algorithm: sa.algorithm,
    fpIn: keyFingerprint(sa.encKeyIn, sa.saltIn, sa.integKeyIn), fpOut: keyFingerprint(sa.encKeyOut, sa.saltOut, sa.integKeyOut),
    localPort: sa.local.port, peerPort: sa.peer.port, encap: sa.encap,
  };
}

async function main(): Promise<void> {
  const path = process.argv[2];
  if (!path) {
    process.stderr.write('usage: standalone.js <config.json>\n');
    process.exit(2);
  }
  const raw = JSON.parse(readFileSync(path, 'utf8')) as RunnerConfig;
  let auth: IkeAuthConfig;
  if (raw.cert && raw.key && raw.ca) {
    auth = { kind: 'cert', credentials: loadCertCredentials(readFileSync(raw.cert, 'utf8'), readFileSync(raw.key, 'utf8'), readFileSync(raw.ca, 'utf8')) };
  } else if (raw.pskHex !== undefined || raw.psk !== undefined) {
    auth = { kind: 'psk', psk: new Uint8Array(raw.pskHex !== undefined ? Buffer.from(raw.pskHex, 'hex') : Buffer.from(raw.psk ?? '', 'utf8')) };
  } else {
    throw new Error('config needs psk/pskHex or cert/key/ca');
  }
  const { role, psk: _p, pskHex: _h, cert: _c, key: _k, ca: _a, debug, ...rest } = raw;
  const cfg: IkeSessionConfig = { ...rest, auth };
  const session: IkeSession = role === 'responder' ? new IkeResponder(cfg) : new IkeInitiator(cfg);
  const t0 = performance.now();
  const t = (): number => Math.round((performance.now() - t0) * 10) / 10;
  const driver = new UdpDriver({
    session,
    onAction(a: IkeAction) {
      switch (a.kind) {
        case 'send':
          if (debug) out({ t: t(), event: 'send', len: a.bytes.length, src: a.src, dst: a.dst });
          break;
        case 'install-child-sa':
          out({ t: t(), event: 'install', ...describeInstall(a.sa) });
          break;
        case 'remove-child-sa':
          out({ t: t(), event: 'remove', id: a.id, spiIn: hex32(a.spiIn), spiOut: hex32(a.spiOut), reason: a.reason });
          break;
        case 'state':
          out({ t: t(), event: 'state', state: a.state, reason: a.reason });
          break;
        case 'log':
          if (debug || a.level !== 'debug') out({ t: t(), event: 'log', level: a.level, name: a.event, msg: a.msg });
          break;
      }
    },
  });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await driver.stop();
    out({ t: t(), event: 'stopped', stats: session.stats, errors: session.errorCounts() });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  await driver.start();
  out({ t: t(), event: 'started', role: session.role, local: cfg.localAddr, peer: cfg.peerAddr });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const cmd = line.trim();
    if (cmd === 'rekey-child') driver.invoke((s, n) => s.rekeyChild(n));
    else if (cmd === 'rekey-ike') driver.invoke((s, n) => s.rekeyIke(n));
    else if (cmd === 'initiate') driver.invoke((s, n) => s.initiate(n));
    else if (cmd === 'stop') void stop();
    else if (cmd === 'status') {
      out({
        t: t(), event: 'status', state: session.tunnelState, ike: session.ikeSaInfo ?? null, ikeSas: session.ikeSaCount,
        children: session.childSas.map(describeInstall), stats: session.stats, errors: session.errorCounts(),
      });
    }
  });
  rl.on('close', () => undefined);
}

main().catch((e: unknown) => {
  out({ event: 'fatal', error: e instanceof IkeError ? `${e.codeName}: ${e.message}` : String(e) });
  process.exit(1);
});
