import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { opensslAvailable, skipWithout } from './system-packages.js';

/**
 * Throwaway certificates for TLS tests, made with the openssl command-line tool in a temporary directory:
 * a CA, a server certificate for localhost and 127.0.0.1, client certificates (valid, expired, from another
 * CA). EC P-256 keys: quick to generate and fine for every client tested.
 */

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

export interface Pem {
  cert: string;
  key: string;
}

export interface IssueOptions {
  /** Default 'client'. */
  usage?: 'server' | 'client';
  /** Issued by the unrelated second CA. */
  byOtherCa?: boolean;
  /** Valid only in January 2020. */
  expired?: boolean;
}

export interface TestPki {
  readonly dir: string;
  readonly ca: CertificateFiles;
  /** A second CA that nothing trusts. */
  readonly otherCa: CertificateFiles;
  /** CN=localhost, SAN DNS:localhost and IP:127.0.0.1, issued by ca. */
  readonly server: CertificateFiles;
  /** A new key and certificate for `commonName`; `name` keeps the files apart. */
  issue(name: string, commonName: string, options?: IssueOptions): Promise<CertificateFiles>;
  /** The key of `files` encrypted with a passphrase (AES-256), in a new file. */
  encryptKey(files: CertificateFiles, passphrase: string): Promise<string>;
  read(files: CertificateFiles): Promise<Pem>;
  remove(): Promise<void>;
}

const OPENSSL_CONFIG = `
[ req ]
distinguished_name = subject
prompt = no
[ subject ]
CN = placeholder
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[ client_ext ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[ ca ]
default_ca = test_ca
[ test_ca ]
database = index.txt
new_certs_dir = issued
serial = serial
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none
[ any_name ]
commonName = supplied
`;

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd: dir, timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve();
    });
  });
}

/** For describe(): skip without openssl, except in CI (see skipWithout). */
export function skipWithoutOpenssl(): string | false {
  return skipWithout(opensslAvailable(), 'the openssl command is not installed (Debian: openssl)');
}

export async function createTestPki(): Promise<TestPki> {
  if (!opensslAvailable()) throw new Error('the openssl command is not installed (Debian: openssl)');
  const dir = await mkdtemp(join(tmpdir(), 'eventter-pki-'));
  await mkdir(join(dir, 'issued'));
  await writeFile(join(dir, 'openssl.cnf'), OPENSSL_CONFIG);
  await writeFile(join(dir, 'index.txt'), '');
  await writeFile(join(dir, 'serial'), '1000\n');
  const files = (name: string): CertificateFiles => ({
    certFile: join(dir, `${name}.pem`),
    keyFile: join(dir, `${name}.key`),
  });

  const makeCa = async (name: string, commonName: string) => {
    const ca = files(name);
    await openssl(dir, [
      'req',
      '-x509',
      '-config',
      'openssl.cnf',
      '-extensions',
      'ca_ext',
      ...EC_KEY,
      '-keyout',
      ca.keyFile,
      '-out',
      ca.certFile,
      '-days',
      '3',
      '-subj',
      `/CN=${commonName}`,
    ]);
    return ca;
  };
  const ca = await makeCa('ca', 'EventterMQ test CA');
  const otherCa = await makeCa('other-ca', 'Unrelated test CA');

  // `openssl ca` keeps one database in the directory: issue one certificate at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const issue = (name: string, commonName: string, options: IssueOptions = {}) => {
    const issued = queue.then(async () => {
      const out = files(name);
      const csr = join(dir, `${name}.csr`);
      await openssl(dir, [
        'req',
        '-new',
        '-config',
        'openssl.cnf',
        ...EC_KEY,
        '-keyout',
        out.keyFile,
        '-out',
        csr,
        '-subj',
        `/CN=${commonName}`,
      ]);
      const issuer = options.byOtherCa ? otherCa : ca;
      const validity = options.expired
        ? ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z']
        : ['-days', '3'];
      await openssl(dir, [
        'ca',
        '-batch',
        '-notext',
        '-config',
        'openssl.cnf',
        '-cert',
        issuer.certFile,
        '-keyfile',
        issuer.keyFile,
        '-extensions',
        options.usage === 'server' ? 'server_ext' : 'client_ext',
        ...validity,
        '-in',
        csr,
        '-out',
        out.certFile,
      ]);
      return out;
    });
    queue = issued.catch(() => undefined);
    return issued;
  };

  const server = await issue('server', 'localhost', { usage: 'server' });
  return {
    dir,
    ca,
    otherCa,
    server,
    issue,
    async encryptKey(source, passphrase) {
      const out = join(dir, `encrypted-${Math.random().toString(36).slice(2)}.key`);
      await openssl(dir, [
        'pkey',
        '-in',
        source.keyFile,
        '-aes256',
        '-passout',
        `pass:${passphrase}`,
        '-out',
        out,
      ]);
      return out;
    },
    async read(source) {
      const [cert, key] = await Promise.all([
        readFile(source.certFile, 'utf8'),
        readFile(source.keyFile, 'utf8'),
      ]);
      return { cert, key };
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
