import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { generate } from 'selfsigned';

/** PEM material for local runs and tests; production certificates come from the chart. */
export interface LocalCerts {
  caCert: string;
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface PemPair {
  cert: string;
  key: string;
}

export async function createCa(commonName = 'profile-irsa-webhook local CA'): Promise<PemPair> {
  const ca = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 365 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      {
        name: 'keyUsage',
        keyCertSign: true,
        cRLSign: true,
        digitalSignature: true,
        critical: true,
      },
    ],
  });
  return { cert: ca.cert, key: ca.private };
}

/** A serving certificate for `hosts` (DNS names or IPs), signed by `ca`. */
export async function issueServingCert(
  ca: PemPair,
  hosts: string[],
  validity: { notBefore?: Date; notAfter?: Date } = {},
): Promise<PemPair> {
  const leaf = await generate([{ name: 'commonName', value: hosts[0] ?? 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    ca: { cert: ca.cert, key: ca.key },
    notBeforeDate: validity.notBefore ?? new Date(Date.now() - 60_000),
    notAfterDate: validity.notAfter ?? new Date(Date.now() + 90 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: hosts.map((host) =>
          isIP(host) ? { type: 7, ip: host } : { type: 2, value: host },
        ),
      },
    ],
  });
  return { cert: leaf.cert, key: leaf.private };
}

/** A CA and a serving pair for 127.0.0.1 and localhost, written to `dir`. */
export async function writeLocalCerts(
  dir: string,
  hosts = ['127.0.0.1', 'localhost'],
): Promise<LocalCerts> {
  const ca = await createCa();
  const serving = await issueServingCert(ca, hosts);
  return writeCertFiles(dir, { caCert: ca.cert, cert: serving.cert, key: serving.key });
}

/** Writes PEM material as `ca.crt`, `tls.crt` and `tls.key` (the kubernetes.io/tls names). */
export async function writeCertFiles(
  dir: string,
  pem: Pick<LocalCerts, 'caCert' | 'cert' | 'key'>,
): Promise<LocalCerts> {
  await mkdir(dir, { recursive: true });
  const files = {
    caFile: join(dir, 'ca.crt'),
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key'),
  };
  await writeFile(files.caFile, pem.caCert);
  await writeFile(files.certFile, pem.cert);
  await writeFile(files.keyFile, pem.key, { mode: 0o600 });
  return { ...pem, ...files };
}
