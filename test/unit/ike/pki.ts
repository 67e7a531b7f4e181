/**
 * Test PKI made with the openssl CLI in a temporary directory: an RSA root CA,
 * an intermediate CA, an unrelated CA, and end-entity certificates (RSA-2048 or
 * ECDSA P-256) with DNS/IP subjectAltNames.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Issued {
  readonly cert: string;
  readonly key: string;
}

export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'vpcd-ike-pki-'));
  private serial = 1;

  private ossl(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  }

  private key(name: string, type: 'rsa' | 'ecdsa'): string {
    const path = join(this.dir, `${name}.key`);
    if (type === 'rsa') this.ossl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', path]);
    else this.ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
    return path;
  }

  /** A self-signed root CA. */
  ca(name: string, type: 'rsa' | 'ecdsa' = 'rsa'): Issued {
    const key = this.key(name, type);
    const cert = join(this.dir, `${name}.crt`);
    this.ossl(['req', '-x509', '-new', '-key', key, '-subj', `/O=vpcd test/CN=${name}`, '-days', '30', '-sha256',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', cert]);
    return { cert, key };
  }

  /** A certificate issued by `issuer` (a CA unless `ca` is false). */
  issue(name: string, issuer: Issued, opts: { type?: 'rsa' | 'ecdsa'; san?: string; ca?: boolean; days?: number } = {}): Issued {
    const key = this.key(name, opts.type ?? 'rsa');
    const csr = join(this.dir, `${name}.csr`);
    const ext = join(this.dir, `${name}.ext`);
    const cert = join(this.dir, `${name}.crt`);
    this.ossl(['req', '-new', '-key', key, '-subj', `/O=vpcd test/CN=${name}`, '-out', csr]);
    writeFileSync(ext, opts.ca
      ? 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n'
      : `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n${opts.san ? `subjectAltName=${opts.san}\n` : ''}`);
    this.ossl(['x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, '-set_serial', String(this.serial++),
      '-days', String(opts.days ?? 30), '-sha256', '-extfile', ext, '-out', cert]);
    return { cert, key };
  }

  read(path: string): string {
    return readFileSync(path, 'utf8');
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
