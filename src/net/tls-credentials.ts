import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { open } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

/** Where a listener's TLS identity comes from; read at start and again on every reload. */
export interface TlsFiles {
  /** The server certificate, then any intermediates (PEM). */
  certFile: string;
  keyFile: string;
  keyPassphrase?: string;
  /** CA certificates client certificates are verified against (PEM). */
  caFile?: string;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
}

/** Files read and checked, ready for tls.createServer() and server.setSecureContext(). */
export interface TlsCredentials {
  /** Node's default cipher list is kept on purpose: it tracks current advice with each Node release. */
  readonly context: SecureContextOptions;
  /** The server's own (first) certificate, for the log. */
  readonly certificate: X509Certificate;
}

type FileRole = 'certificate' | 'key' | 'CA';

/** A TLS file that cannot be used, naming the file and why; start-up reports it as one line. */
export class TlsFileError extends Error {
  override readonly name = 'TlsFileError';

  constructor(
    readonly file: string,
    role: FileRole,
    reason: string,
    options?: { cause: unknown },
  ) {
    super(`cannot use TLS ${role} file ${file}: ${reason}`, options);
  }
}

// Certificate chains and keys are a few KiB; the bound keeps a mistaken path (a log, /dev/zero) harmless.
const MAX_PEM_FILE_BYTES = 1024 * 1024;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
// PKCS#8 "ENCRYPTED PRIVATE KEY", or a traditional key with a "Proc-Type: 4,ENCRYPTED" header.
const ENCRYPTED_PEM_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/;

/**
 * Reads and checks every file, so a mistake is reported against the file that holds it (not as OpenSSL's
 * "no start line" from somewhere in the set): each certificate parses, the key decrypts and matches the
 * certificate. Throws TlsFileError.
 */
export async function loadTlsCredentials(files: TlsFiles): Promise<TlsCredentials> {
  const [cert, key, ca] = await Promise.all([
    readPemFile(files.certFile, 'certificate'),
    readPemFile(files.keyFile, 'key'),
    files.caFile === undefined ? undefined : readPemFile(files.caFile, 'CA'),
  ]);
  const certificate = parseCertificates(cert, files.certFile, 'certificate')[0];
  if (ca !== undefined && files.caFile !== undefined) parseCertificates(ca, files.caFile, 'CA');
  const privateKey = parsePrivateKey(key, files);
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new TlsFileError(files.keyFile, 'key', `it is not the key of the certificate in ${files.certFile}`);
  }
  const context: SecureContextOptions = {
    cert,
    key,
    passphrase: files.keyPassphrase,
    ca,
    minVersion: files.minVersion,
  };
  try {
    // What the listeners will do with it: anything OpenSSL still refuses shows now, not at the first client.
    createSecureContext(context);
  } catch (err) {
    throw new TlsFileError(files.certFile, 'certificate', (err as Error).message, { cause: err });
  }
  return { context, certificate };
}

async function readPemFile(path: string, role: FileRole): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, 'r');
    const stat = await handle.stat();
    if (!stat.isFile()) throw new TlsFileError(path, role, 'not a regular file');
    if (stat.size > MAX_PEM_FILE_BYTES) {
      throw new TlsFileError(path, role, `larger than ${MAX_PEM_FILE_BYTES} bytes, not a PEM file`);
    }
    return await handle.readFile('utf8');
  } catch (err) {
    if (err instanceof TlsFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const reason = READ_ERRORS[code ?? ''] ?? (err as Error).message;
    throw new TlsFileError(path, role, `cannot read it: ${reason}${code ? ` (${code})` : ''}`, {
      cause: err,
    });
  } finally {
    await handle?.close();
  }
}

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent is not a directory',
};

function parseCertificates(pem: string, path: string, role: FileRole): X509Certificate[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new TlsFileError(path, role, 'no PEM certificate in it');
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new TlsFileError(
        path,
        role,
        `certificate ${index + 1} does not parse (${(err as Error).message})`,
        {
          cause: err,
        },
      );
    }
  });
}

function parsePrivateKey(pem: string, files: TlsFiles): KeyObject {
  if (files.keyPassphrase === undefined && ENCRYPTED_PEM_KEY.test(pem)) {
    throw new TlsFileError(
      files.keyFile,
      'key',
      'the key is encrypted: set its passphrase (tls.keyPassphrase)',
    );
  }
  try {
    return createPrivateKey({ key: pem, format: 'pem', passphrase: files.keyPassphrase });
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    const reason =
      code === 'ERR_OSSL_BAD_DECRYPT'
        ? 'wrong passphrase (tls.keyPassphrase)'
        : `not a PEM private key (${message})`;
    throw new TlsFileError(files.keyFile, 'key', reason, { cause: err });
  }
}

/** What the log says about a certificate in use. */
export function describeCertificate(certificate: X509Certificate): Record<string, string> {
  return {
    subject: certificate.subject.replaceAll('\n', ', '),
    issuer: certificate.issuer.replaceAll('\n', ', '),
    validTo: new Date(certificate.validTo).toISOString(),
    fingerprint256: certificate.fingerprint256,
  };
}
