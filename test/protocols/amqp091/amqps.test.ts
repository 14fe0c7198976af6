import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { connect, waitFor } from '../../helpers/amqp-client.js';
import type { BrokerUnderTest } from '../../helpers/broker-under-test.js';
import { runCli } from '../../helpers/cli-process.js';
import { PROTOCOL_HEADER } from '../../helpers/raw-amqp-client.js';
import { DEBIAN_PYTHON, missingSystemPackage, pikaAvailable } from '../../helpers/system-packages.js';
import { createTestPki, type TestPki } from '../../helpers/test-pki.js';
import {
  amqpsUrl,
  httpsGetJson,
  roundTrip,
  startTlsBroker,
  tlsBrokerSkip,
} from '../../helpers/tls-broker.js';
import { uniqueName } from '../../helpers/unique-name.js';

// Publishes one message over amqps with pika and consumes it back; prints its body.
const PIKA_ROUND_TRIP = `
import ssl, sys
import pika
port, cafile, queue = int(sys.argv[1]), sys.argv[2], sys.argv[3]
context = ssl.create_default_context(cafile=cafile)
parameters = pika.ConnectionParameters(
    host='localhost', port=port, ssl_options=pika.SSLOptions(context, 'localhost'),
    credentials=pika.PlainCredentials('guest', 'guest'), blocked_connection_timeout=30)
connection = pika.BlockingConnection(parameters)
channel = connection.channel()
channel.confirm_delivery()
channel.queue_declare(queue=queue, exclusive=True)
channel.basic_publish(exchange='', routing_key=queue, body=b'over TLS from pika')
for method, properties, body in channel.consume(queue, inactivity_timeout=20):
    if method is None:
        sys.exit('no message within 20 s')
    channel.basic_ack(method.delivery_tag)
    print(body.decode())
    break
channel.cancel()
connection.close()
`;

/** Sends bytes in clear and collects what comes back until the server closes the socket. */
function sendInClear(port: number, bytes: Buffer): Promise<{ received: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => finish(false), 15_000);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), closed });
    };
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('close', () => finish(true));
    socket.once('error', () => undefined);
    socket.connect(port, '127.0.0.1', () => socket.write(bytes));
  });
}

describe('amqps (AMQP 0-9-1 over TLS)', { skip: tlsBrokerSkip() }, () => {
  let pki: TestPki;
  let broker: BrokerUnderTest;
  let ca: string;
  const logs: string[] = [];

  before(async () => {
    pki = await createTestPki();
    ca = await readFile(pki.ca.certFile, 'utf8');
    broker = await startTlsBroker(pki, { extraArgs: ['--http-tls'], onLogLine: (line) => logs.push(line) });
  });
  after(async () => {
    await broker?.stop();
    await pki?.remove();
  });

  it('carries a publish and consume round trip for amqplib trusting the CA', async () => {
    const conn = await connect(amqpsUrl(broker), { ca: [ca] });
    try {
      assert.equal(await roundTrip(conn, 'over TLS from amqplib'), 'over TLS from amqplib');
    } finally {
      await conn.close();
    }
  });

  it('carries a round trip for pika (Debian python3-pika)', async (t) => {
    if (!pikaAvailable())
      return missingSystemPackage(t, `pika is not installed for ${DEBIAN_PYTHON} (python3-pika)`);
    const run = await runCli([String(broker.amqpsPort), pki.ca.certFile, uniqueName('pika')], {
      command: [DEBIAN_PYTHON, '-c', PIKA_ROUND_TRIP],
      timeoutMs: 60_000,
    });
    assert.equal(run.code, 0, `pika failed:\n${run.stderr}`);
    assert.equal(run.stdout.trim(), 'over TLS from pika');
  });

  it('fails the handshake of a client that trusts another CA', async () => {
    const other = await readFile(pki.otherCa.certFile, 'utf8');
    await assert.rejects(amqp.connect(amqpsUrl(broker), { ca: [other] }), (err: NodeJS.ErrnoException) => {
      assert.match(
        String(err.code),
        /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT_IN_CHAIN/,
      );
      return true;
    });
  });

  it('refuses TLS 1.2 clients when the minimum is TLS 1.3', async () => {
    const strict = await startTlsBroker(pki, { extraArgs: ['--tls-min-version', 'TLSv1.3'] });
    try {
      await assert.rejects(amqp.connect(amqpsUrl(strict), { ca: [ca], maxVersion: 'TLSv1.2' }), /version/i);
      const conn = await connect(amqpsUrl(strict), { ca: [ca] });
      assert.equal(await roundTrip(conn, 'TLS 1.3'), 'TLS 1.3');
      await conn.close();
    } finally {
      await strict.stop();
    }
  });

  it('closes a plain-TCP AMQP client on the TLS port, and keeps serving with the right connection count', async () => {
    const healthy = await connect(amqpsUrl(broker), { ca: [ca] });
    try {
      const connections = async () => {
        const { body } = await httpsGetJson(broker.httpPort, '/health', ca);
        return (body as { connections: number }).connections;
      };
      // Connections of earlier tests finish closing on the server shortly after their clients return.
      await waitFor(async () => (await connections()) === 1, 'only this test connection open');

      const { received, closed } = await sendInClear(broker.amqpsPort!, PROTOCOL_HEADER);
      assert.ok(closed, 'the broker closes the socket');
      assert.notDeepEqual(received.subarray(0, 4), Buffer.from('AMQP'), 'no AMQP header in clear');
      assert.ok(received.length === 0 || received[0] === 0x15, 'nothing but a TLS alert record comes back');

      assert.equal(await connections(), 1, 'the refused client never counted as a connection');
      assert.equal(await roundTrip(healthy, 'still here'), 'still here');
      const fresh = await connect(amqpsUrl(broker), { ca: [ca] });
      assert.equal(await roundTrip(fresh, 'new client'), 'new client');
      await fresh.close();
      const logged = logs.filter((line) => line.includes('"TLS handshake failed"'));
      assert.ok(logged.length >= 1, 'the failed handshake is logged');
      assert.match(logged[0], /"level":"(debug|info)"/);
    } finally {
      await healthy.close();
    }
  });

  it('still serves plain AMQP on its own port next to amqps', async () => {
    const conn = await connect(`amqp://guest:guest@127.0.0.1:${broker.amqpPort}`);
    try {
      assert.equal(await roundTrip(conn, 'in clear'), 'in clear');
    } finally {
      await conn.close();
    }
  });

  it('answers GET /health over HTTPS with the same certificate (--http-tls)', async () => {
    const { status, body } = await httpsGetJson(broker.httpPort, '/health', ca);
    assert.equal(status, 200);
    assert.equal((body as { status: string }).status, 'ok');
    await assert.rejects(fetch(`http://127.0.0.1:${broker.httpPort}/health`), 'no plain HTTP on the port');
  });
});
