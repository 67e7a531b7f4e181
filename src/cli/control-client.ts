/**
 * The client side of the control socket (daemon/control-wire.ts) for
 * `vpcd observe` and `vpcd conntrack`: finds the socket from CONFIG (the
 * same file `vpcd run` was given: control.socket or its default), sends one
 * request, and reads the reply and, for observe, the event lines after it.
 */
import { createConnection, type Socket } from 'node:net';
import { formatIssue, loadConfig } from '../control/config.js';
import { ConfigError, type VpcConfig } from '../control/config-types.js';
import { encodeRequest, LineSplitter, type ControlReply, type ControlRequest } from '../daemon/control-wire.js';
import type { Out } from './args.js';

/** Event lines are longer than requests; a line past this is refused. */
const MAX_REPLY_LINE = 64 * 1024 * 1024;

/** Loads CONFIG for its control socket; on failure prints why and returns the exit code. */
export function loadForControl(command: string, file: string, out: Out): VpcConfig | number {
  try {
    return loadConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const issue of e.issues) out.stderr(formatIssue(issue));
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    const reason = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    out.stderr(`vpcd ${command}: ${file}: cannot read: ${reason}`);
    return err.code === 'ENOENT' || err.code === 'EISDIR' ? 1 : 2;
  }
}

export class ControlConnectError extends Error {}

/** A connection with one request sent; `lines` yields the reply and every line after it. */
export class ControlClient {
  private readonly splitter = new LineSplitter(MAX_REPLY_LINE);
  private constructor(readonly sock: Socket) {}

  static connect(path: string, req: ControlRequest): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const sock = createConnection(path);
      sock.once('connect', () => {
        sock.off('error', onError);
        sock.write(encodeRequest(req));
        resolve(new ControlClient(sock));
      });
      const onError = (e: NodeJS.ErrnoException): void => {
        const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? `no vpcd answers on ${path} (is \`vpcd run\` running with this configuration?)`
          : e.code === 'EACCES' ? `${path}: permission denied (root, or a member of control.group, may connect)`
          : `${path}: ${e.message}`;
        reject(new ControlConnectError(why));
      };
      sock.once('error', onError);
    });
  }

  /** Calls onLine for every line until the daemon closes; resolves then (or rejects on a socket error). */
  read(onLine: (line: string) => void): Promise<void> {
    const sock = this.sock;
    sock.setEncoding('utf8');
    return new Promise((resolve, reject) => {
      sock.on('data', (chunk: string) => {
        let ls: string[];
        try {
          ls = this.splitter.push(chunk);
        } catch (e) {
          sock.destroy();
          reject(e);
          return;
        }
        for (const l of ls) onLine(l);
      });
      sock.on('end', () => resolve());
      sock.on('close', () => resolve());
      sock.on('error', (e) => reject(e));
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

/** One request, one reply (conntrack list/flush). Throws ControlConnectError or Error. */
export async function ask(path: string, req: ControlRequest): Promise<ControlReply> {
  const c = await ControlClient.connect(path, req);
  let reply: ControlReply | undefined;
  await c.read((l) => {
    if (reply === undefined) reply = JSON.parse(l) as ControlReply;
  });
  if (reply === undefined) throw new Error('the daemon closed the connection without a reply');
  return reply;
}
