import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { connect, waitFor } from '../../helpers/amqp-client.js';
import type { BrokerUnderTest } from '../../helpers/broker-under-test.js';
import { runCli } from '../../helpers/cli-process.js';
import { methods, PROTOCOL_HEADER, RawAmqpClient } from '../../helpers/raw-amqp-client.js';
import { ReplyCode } from '../../helpers/reply-codes.js';
import { DEBIAN_PYTHON, missingSystemPackage, pikaAvailable } from '../../helpers/system-packages.js';
import { type CertificateFiles, createTestPki, type Pem, type TestPki } from '../../helpers/test-pki.js';
import { amqpsUrl, roundTrip, startTlsBroker, tlsBrokerSkip } from '../../helpers/tls-broker.js';

const USERS = {
  users: [
    { name: 'guest', password: 'guest', loopbackOnly: true },
    { name: 'alice', password: 'not-used-with-external' },
  ],
};

// Logs in with EXTERNAL (a client certificate, no password) over amqps with pika; prints the queue it declared.
const PIKA_EXTERNAL = `
import ssl, sys
import pika
port, cafile, certfile, keyfile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
context = ssl.create_default_context(cafile=cafile)
context.load_cert_chain(certfile, keyfile)
connection = pika.BlockingConnection(pika.ConnectionParameters(
    host='localhost', port=port, ssl_options=pika.SSLOptions(context, 'localhost'),
    credentials=pika.credentials.ExternalCredentials()))
channel = connection.channel()
print(channel.queue_declare(queue='', exclusive=True).method.queue.startswith('amq.gen-'))
connection.close()
`;

/** The mechanisms a server lists in connection.start, read with the raw client. */
async function offeredMechanisms(client: RawAmqpClient): Promise<string[]> {
  await client.write(PROTOCOL_HEADER);
  const args = await client.expectMethod(10, 10);
  const propertiesLength = args.readUInt32BE(2);
  const at = 2 + 4 + propertiesLength;
  const length = args.readUInt32BE(at);
  return args
    .subarray(at + 4, at + 4 + length)
    .toString()
    .split(' ');
}

describe('TLS client certificates and SASL EXTERNAL', { skip: tlsBrokerSkip() }, () => {
  let pki: TestPki;
  let ca: string;
  let aliceFiles: CertificateFiles;
  let alice: Pem;
  let unknown: Pem;
  let expired: Pem;
  let foreign: Pem;
  let broker: BrokerUnderTest;
  const logs: string[] = [];

  const loggedRefusal = (reason: RegExp) =>
    waitFor(
      () => logs.some((line) => line.includes('"client certificate refused"') && reason.test(line)),
      `a logged refusal matching ${reason}`,
    );

  before(async () => {
    pki = await createTestPki();
    ca = await readFile(pki.ca.certFile, 'utf8');
    aliceFiles = await pki.issue('alice', 'alice');
    [alice, unknown, expired, foreign] = await Promise.all([
      pki.read(aliceFiles),
      pki.issue('mallory', 'mallory').then((files) => pki.read(files)),
      pki.issue('alice-expired', 'alice', { expired: true }).then((files) => pki.read(files)),
      pki.issue('alice-foreign', 'alice', { byOtherCa: true }).then((files) => pki.read(files)),
    ]);
    broker = await startTlsBroker(pki, {
      extraArgs: ['--tls-verify-peer'],
      configFile: USERS,
      onLogLine: (line) => logs.push(line),
    });
  });
  after(async () => {
    await broker?.stop();
    await pki?.remove();
  });

  it('logs in with EXTERNAL as the user named by the certificate CN (amqplib)', async () => {
    const conn = await connect(amqpsUrl(broker, ''), {
      ca: [ca],
      ...alice,
      credentials: amqp.credentials.external(),
    });
    try {
      assert.equal(await roundTrip(conn, 'as alice'), 'as alice');
      await waitFor(
        () => logs.some((line) => line.includes('"connection opened"') && line.includes('"user":"alice"')),
        'the connection logged as alice',
      );
    } finally {
      await conn.close();
    }
  });

  it('logs in with EXTERNAL from pika (Debian python3-pika)', async (t) => {
    if (!pikaAvailable())
      return missingSystemPackage(t, `pika is not installed for ${DEBIAN_PYTHON} (python3-pika)`);
    const args = [String(broker.amqpsPort), pki.ca.certFile, aliceFiles.certFile, aliceFiles.keyFile];
    const run = await runCli(args, { command: [DEBIAN_PYTHON, '-c', PIKA_EXTERNAL], timeoutMs: 60_000 });
    assert.equal(run.code, 0, `pika failed:\n${run.stderr}`);
    assert.equal(run.stdout.trim(), 'True');
  });

  it('offers EXTERNAL only to a client with a verified certificate', async () => {
    const withCertificate = await RawAmqpClient.connectTls({
      port: broker.amqpsPort,
      servername: 'localhost',
      ca,
      ...alice,
    });
    const withoutCertificate = await RawAmqpClient.connectTls({
      port: broker.amqpsPort,
      servername: 'localhost',
      ca,
    });
    try {
      assert.deepEqual(await offeredMechanisms(withCertificate), ['PLAIN', 'AMQPLAIN', 'EXTERNAL']);
      assert.deepEqual(await offeredMechanisms(withoutCertificate), ['PLAIN', 'AMQPLAIN']);
    } finally {
      withCertificate.destroy();
      withoutCertificate.destroy();
    }
  });

  it('refuses EXTERNAL for a certificate naming an unknown user, as a bad login', async () => {
    await assert.rejects(
      amqp.connect(amqpsUrl(broker, ''), { ca: [ca], ...unknown, credentials: amqp.credentials.external() }),
      /ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL/,
    );
  });

  it('refuses EXTERNAL without a client certificate with 403, as a bad login', async () => {
    const client = await RawAmqpClient.connectTls({ port: broker.amqpsPort, servername: 'localhost', ca });
    try {
      await offeredMechanisms(client);
      await client.write(methods.startOkWith('EXTERNAL', ''));
      const close = await client.readConnectionClose();
      assert.equal(close?.replyCode, ReplyCode.ACCESS_REFUSED);
      assert.match(close?.replyText ?? '', /Login was refused using authentication mechanism EXTERNAL/);
    } finally {
      client.destroy();
    }
  });

  it('accepts a client without a certificate (PLAIN) when fail-if-no-peer-cert is off', async () => {
    const conn = await connect(amqpsUrl(broker), { ca: [ca] });
    try {
      assert.equal(await roundTrip(conn, 'no certificate'), 'no certificate');
    } finally {
      await conn.close();
    }
  });

  it('refuses an expired client certificate, and logs why', async () => {
    await assert.rejects(amqp.connect(amqpsUrl(broker), { ca: [ca], ...expired }));
    await loggedRefusal(/CERT_HAS_EXPIRED/);
  });

  it('refuses a client certificate issued by an untrusted CA', async () => {
    await assert.rejects(amqp.connect(amqpsUrl(broker), { ca: [ca], ...foreign }));
    await loggedRefusal(/UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED/);
  });

  describe('with fail-if-no-peer-cert', () => {
    let strict: BrokerUnderTest;
    const strictLogs: string[] = [];

    before(async () => {
      strict = await startTlsBroker(pki, {
        extraArgs: ['--tls-verify-peer', '--tls-fail-if-no-peer-cert'],
        configFile: USERS,
        onLogLine: (line) => strictLogs.push(line),
      });
    });
    after(async () => {
      await strict?.stop();
    });

    it('refuses a client without a certificate', async () => {
      await assert.rejects(amqp.connect(amqpsUrl(strict), { ca: [ca] }));
      await waitFor(
        () =>
          strictLogs.some(
            (line) => line.includes('"client certificate refused"') && line.includes('no client'),
          ),
        'the refusal logged',
      );
    });

    it('accepts a client with a valid certificate, with either PLAIN or EXTERNAL', async () => {
      const plain = await connect(amqpsUrl(strict), { ca: [ca], ...alice });
      const external = await connect(amqpsUrl(strict, ''), {
        ca: [ca],
        ...alice,
        credentials: amqp.credentials.external(),
      });
      try {
        assert.equal(await roundTrip(plain, 'plain'), 'plain');
        assert.equal(await roundTrip(external, 'external'), 'external');
      } finally {
        await plain.close();
        await external.close();
      }
    });
  });
});
