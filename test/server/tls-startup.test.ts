import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from '../helpers/amqp-client.js';
import { logLinesAt, runCli } from '../helpers/cli-process.js';
import { type CertificateFiles, createTestPki, type TestPki } from '../helpers/test-pki.js';
import { amqpsUrl, roundTrip, startTlsBroker, tlsArgs, tlsBrokerSkip } from '../helpers/tls-broker.js';

describe('TLS files at start', { skip: tlsBrokerSkip() }, () => {
  let pki: TestPki;
  let scratch: string;

  before(async () => {
    pki = await createTestPki();
    scratch = await mkdtemp(join(tmpdir(), 'eventter-tls-start-'));
  });
  after(async () => {
    await pki?.remove();
    await rm(scratch, { recursive: true, force: true });
  });

  /** Exit 1, one plain line naming the file, no stack trace, and the data directory left untouched. */
  async function assertRefused(
    certificate: CertificateFiles,
    env: Record<string, string>,
    file: string,
    reason: RegExp,
  ) {
    const dataDir = join(scratch, `data-${Math.random().toString(36).slice(2)}`);
    const listeners = '--hosts 127.0.0.1 --amqp-port 0 --http-port 0 --mqtt-port 0'.split(' ');
    const args = ['server', '--data-dir', dataDir, ...listeners, ...tlsArgs(certificate)];
    const run = await runCli(args, { env: { PATH: process.env.PATH, ...env } });
    assert.equal(run.code, 1, `exit code; stderr: ${run.stderr}`);
    const lines = run.stderr.split('\n').filter((line) => line.length > 0);
    assert.equal(lines.length, 1, `one line on stderr, got:\n${run.stderr}`);
    assert.ok(lines[0].startsWith(`eventter: cannot use TLS `), lines[0]);
    assert.ok(lines[0].includes(file), `names ${file}: ${lines[0]}`);
    assert.match(lines[0], reason);
    assert.deepEqual(logLinesAt(run.stdout, ['fatal']), [], 'no fatal record');
    assert.doesNotMatch(run.stdout + run.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(
      await readdir(dataDir).catch(() => []),
      [],
      'checked before the data directory is opened',
    );
  }

  it('refuses to start with a missing certificate file, naming it', async () => {
    const missing = join(scratch, 'nope.pem');
    await assertRefused(
      { certFile: missing, keyFile: pki.server.keyFile },
      {},
      missing,
      /certificate file .*: cannot read it: no such file \(ENOENT\)/,
    );
  });

  it('refuses to start with a wrong key passphrase, naming the key file', async () => {
    const encrypted = await pki.encryptKey(pki.server, 'right');
    await assertRefused(
      { certFile: pki.server.certFile, keyFile: encrypted },
      { EVENTTER_TLS_KEY_PASSPHRASE: 'wrong' },
      encrypted,
      /wrong passphrase/,
    );
  });

  it('starts with an encrypted key and its passphrase from the environment', async () => {
    const encrypted = await pki.encryptKey(pki.server, 'right');
    const logs: string[] = [];
    const broker = await startTlsBroker(pki, {
      certificate: { certFile: pki.server.certFile, keyFile: encrypted },
      env: { EVENTTER_TLS_KEY_PASSPHRASE: 'right' },
      onLogLine: (line) => logs.push(line),
    });
    try {
      const conn = await connect(amqpsUrl(broker), { ca: [await readFile(pki.ca.certFile, 'utf8')] });
      assert.equal(await roundTrip(conn, 'decrypted'), 'decrypted');
      await conn.close();
      assert.ok(
        logs.every((line) => !line.includes('"right"')),
        'the passphrase is never logged',
      );
    } finally {
      assert.equal(await broker.stop(), 0);
    }
  });
});
