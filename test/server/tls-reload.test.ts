import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, waitFor } from '../helpers/amqp-client.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../helpers/broker-under-test.js';
import { type CertificateFiles, createTestPki, type TestPki } from '../helpers/test-pki.js';
import {
  amqpsUrl,
  httpsGetJson,
  roundTrip,
  serverFingerprint,
  startTlsBroker,
  tlsBrokerSkip,
} from '../helpers/tls-broker.js';

async function fingerprintOf(certFile: string): Promise<string> {
  return new X509Certificate(await readFile(certFile)).fingerprint256;
}

async function install(source: CertificateFiles, target: CertificateFiles): Promise<void> {
  await copyFile(source.keyFile, target.keyFile);
  await copyFile(source.certFile, target.certFile);
}

describe('SIGHUP reloads the TLS certificate', { skip: tlsBrokerSkip() }, () => {
  let pki: TestPki;
  let ca: string;
  /** The files the broker is configured with; the test replaces their contents. */
  let live: CertificateFiles;
  let broker: BrokerUnderTest;
  const logs: string[] = [];

  const logCount = (message: string) => logs.filter((line) => line.includes(`"msg":"${message}"`)).length;

  /** Sends SIGHUP and waits for the broker to log the outcome (one more of `message` than before). */
  async function sighup(message: string): Promise<string> {
    const before = logCount(message);
    broker.process?.kill('SIGHUP');
    await waitFor(() => logCount(message) > before, `"${message}" in the log`, 15_000);
    return logs.filter((line) => line.includes(`"msg":"${message}"`)).at(-1) ?? '';
  }

  before(async () => {
    pki = await createTestPki();
    ca = await readFile(pki.ca.certFile, 'utf8');
    live = { certFile: join(pki.dir, 'live.pem'), keyFile: join(pki.dir, 'live.key') };
    await install(pki.server, live);
    broker = await startTlsBroker(pki, {
      certificate: live,
      withCa: false,
      extraArgs: ['--http-tls'],
      onLogLine: (line) => logs.push(line),
    });
  });
  after(async () => {
    await broker?.stop();
    await pki?.remove();
  });

  it('serves a renewed certificate to new connections while open ones keep working', async () => {
    const amqps = { port: broker.amqpsPort, ca };
    const https = { port: broker.httpPort, ca };
    const first = await fingerprintOf(pki.server.certFile);
    assert.equal(await serverFingerprint(amqps), first);
    assert.equal(await serverFingerprint(https), first);
    const opened = await connect(amqpsUrl(broker), { ca: [ca] });
    try {
      assert.equal(await roundTrip(opened, 'before'), 'before');

      const renewed = await pki.issue('server-renewed', 'localhost', { usage: 'server' });
      const second = await fingerprintOf(renewed.certFile);
      assert.notEqual(second, first);
      await install(renewed, live);
      const logged = await sighup('TLS certificate reloaded');
      assert.ok(logged.includes(live.certFile), 'the log names the file');
      assert.ok(logged.includes(second), 'the log carries the new fingerprint');

      assert.equal(await serverFingerprint(amqps), second, 'amqps presents the new certificate');
      assert.equal(await serverFingerprint(https), second, 'HTTPS presents the new certificate');
      assert.equal(await roundTrip(opened, 'after'), 'after', 'the connection opened before still works');
      const fresh = await connect(amqpsUrl(broker), { ca: [ca] });
      assert.equal(await roundTrip(fresh, 'fresh'), 'fresh');
      await fresh.close();
    } finally {
      await opened.close();
    }
  });

  it('keeps the current certificate when the new files do not load, and logs the file', async () => {
    const current = await serverFingerprint({ port: broker.amqpsPort, ca });
    await writeFile(live.certFile, 'half-copied renewal\n');
    const logged = await sighup('TLS reload failed, the current certificate stays in use');
    assert.match(logged, /"level":"error"/);
    assert.ok(logged.includes(live.certFile), 'the log names the file');

    assert.equal(broker.process?.exitCode, null, 'the broker is still running');
    assert.equal(await serverFingerprint({ port: broker.amqpsPort, ca }), current);
    const conn = await connect(amqpsUrl(broker), { ca: [ca] });
    assert.equal(await roundTrip(conn, 'still serving'), 'still serving');
    await conn.close();
    const { status } = await httpsGetJson(broker.httpPort, '/health', ca);
    assert.equal(status, 200);
  });
});

describe('SIGHUP without TLS', {
  skip: isExternalBroker() && 'sends SIGHUP to an EventterMQ process',
}, () => {
  it('is logged and leaves the broker running', async () => {
    const logs: string[] = [];
    const broker = await startBroker({
      extraArgs: ['--hosts', '127.0.0.1'],
      onLogLine: (line) => logs.push(line),
    });
    try {
      broker.process?.kill('SIGHUP');
      await waitFor(
        () => logs.some((line) => line.includes('no TLS certificate configured, nothing to reload')),
        'the reload logged',
        15_000,
      );
      const conn = await connect(broker.url);
      assert.equal(await roundTrip(conn, 'alive'), 'alive');
      await conn.close();
    } finally {
      assert.equal(await broker.stop(), 0);
    }
  });
});
