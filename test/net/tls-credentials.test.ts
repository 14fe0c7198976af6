import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadTlsCredentials, TlsFileError, type TlsFiles } from '../../src/net/tls-credentials.js';
import { createTestPki, skipWithoutOpenssl, type TestPki } from '../helpers/test-pki.js';

describe('loadTlsCredentials', { skip: skipWithoutOpenssl() }, () => {
  let pki: TestPki;
  let files: TlsFiles;

  before(async () => {
    pki = await createTestPki();
    files = { ...pki.server, caFile: pki.ca.certFile, minVersion: 'TLSv1.2' };
  });
  after(async () => {
    await pki?.remove();
  });

  async function rejectsNaming(given: TlsFiles, file: string, reason: RegExp): Promise<void> {
    await assert.rejects(loadTlsCredentials(given), (err: unknown) => {
      assert.ok(err instanceof TlsFileError, `expected TlsFileError, got ${String(err)}`);
      assert.equal(err.file, file);
      assert.ok(err.message.startsWith(`cannot use TLS `), err.message);
      assert.ok(err.message.includes(file), `the message names ${file}: ${err.message}`);
      assert.match(err.message, reason);
      assert.doesNotMatch(err.message, /\n/, 'one line');
      return true;
    });
  }

  async function scratchFile(name: string, text: string): Promise<string> {
    const path = join(pki.dir, name);
    await writeFile(path, text);
    return path;
  }

  it('loads certificate, key and CA, and reports the server certificate', async () => {
    const credentials = await loadTlsCredentials(files);
    const expected = new X509Certificate(await readFile(pki.server.certFile));
    assert.equal(credentials.certificate.fingerprint256, expected.fingerprint256);
    assert.equal(credentials.context.minVersion, 'TLSv1.2');
    assert.equal(credentials.context.ciphers, undefined, "Node's default cipher list");
    assert.equal(credentials.context.ca, await readFile(pki.ca.certFile, 'utf8'));
  });

  it('names a missing file', async () => {
    const missing = join(pki.dir, 'missing.pem');
    await rejectsNaming(
      { ...files, certFile: missing },
      missing,
      /certificate file .*: cannot read it: no such file \(ENOENT\)/,
    );
  });

  it('names a directory given as a file', async () => {
    await rejectsNaming({ ...files, caFile: pki.dir }, pki.dir, /CA file .*: not a regular file/);
  });

  it('names a certificate file without a PEM certificate', async () => {
    const path = await scratchFile('not-a-cert.pem', 'hello\n');
    await rejectsNaming({ ...files, certFile: path }, path, /no PEM certificate in it/);
  });

  it('names a CA file whose certificate does not parse', async () => {
    const path = await scratchFile(
      'broken-ca.pem',
      '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
    );
    await rejectsNaming({ ...files, caFile: path }, path, /CA file .*: certificate 1 does not parse/);
  });

  it('names a key file that is not a key', async () => {
    const path = await scratchFile('not-a-key.pem', 'hello\n');
    await rejectsNaming({ ...files, keyFile: path }, path, /key file .*: not a PEM private key/);
  });

  it('names a key that belongs to another certificate', async () => {
    const other = await pki.issue('other-server', 'localhost', { usage: 'server' });
    await rejectsNaming(
      { ...files, keyFile: other.keyFile },
      other.keyFile,
      /it is not the key of the certificate in .*server\.pem/,
    );
  });

  it('decrypts an encrypted key with its passphrase, and names the key file without or with a wrong one', async () => {
    const encrypted = await pki.encryptKey(pki.server, 'correct horse');
    const credentials = await loadTlsCredentials({
      ...files,
      keyFile: encrypted,
      keyPassphrase: 'correct horse',
    });
    assert.equal(credentials.context.passphrase, 'correct horse');
    await rejectsNaming(
      { ...files, keyFile: encrypted },
      encrypted,
      /the key is encrypted: set its passphrase/,
    );
    await rejectsNaming(
      { ...files, keyFile: encrypted, keyPassphrase: 'wrong' },
      encrypted,
      /wrong passphrase/,
    );
  });
});
