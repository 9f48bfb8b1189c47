/**
 * A throwaway self-signed P-256 certificate made with `openssl` (node:crypto cannot write X.509
 * certificates), for the local HTTPS and SMTP servers of the benchmarks and tests.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Writes `key.pem` and `cert.pem` (prefixed by `name`) into `dir`, valid `days` days, for the
 * common name and subject alternative names given (e.g. `IP:127.0.0.1,DNS:localhost`).
 */
export function writeSelfSignedCertificate(dir, { name = '', commonName = '127.0.0.1', altNames = 'IP:127.0.0.1', days = 1 } = {}) {
  const keyFile = join(dir, `${name}key.pem`);
  const certFile = join(dir, `${name}cert.pem`);
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', String(days)];
  args.push('-subj', `/CN=${commonName}`, '-addext', `subjectAltName=${altNames}`, '-keyout', keyFile, '-out', certFile);
  execFileSync('openssl', args, { stdio: 'ignore' });
  return { keyFile, certFile };
}
