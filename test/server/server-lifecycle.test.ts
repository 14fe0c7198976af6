import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import amqp from 'amqplib';
import { isExternalBroker, startBroker } from '../helpers/broker-under-test.js';

// Runs the real CLI (dist/src/cli/main.js server) on ephemeral ports with a fresh data directory.
describe('server process lifecycle', { skip: isExternalBroker() && 'tests an external broker' }, () => {
  it('reports its listeners, serves /health and exits 0 on SIGTERM', async () => {
    const broker = await startBroker();
    try {
      assert.ok(broker.amqpPort > 0, 'the AMQP port was logged');
      assert.ok(broker.httpPort > 0, 'the HTTP port was logged');
      const response = await fetch(`http://127.0.0.1:${broker.httpPort}/health`);
      assert.equal(response.status, 200);
      const body = (await response.json()) as { status?: unknown; uptimeSeconds?: unknown };
      assert.equal(body.status, 'ok');
      assert.equal(typeof body.uptimeSeconds, 'number');
    } catch (err) {
      await broker.kill9();
      throw err;
    }
    assert.equal(await broker.stop('SIGTERM'), 0);
  });

  it('closes client connections with 320 CONNECTION_FORCED on SIGTERM', async () => {
    const broker = await startBroker();
    const connection = await amqp.connect(broker.url);
    const closed = new Promise<unknown>((resolve) => connection.once('close', resolve));
    connection.on('error', () => {}); // the forced close is also reported as an error event
    const exitCode = broker.stop('SIGTERM');
    const reason = (await closed) as { code?: unknown; message?: string } | undefined;
    assert.equal(reason?.code, 320, `close reason: ${reason?.message}`);
    assert.equal(await exitCode, 0);
  });

  it('exits 0 on SIGINT too', async () => {
    const broker = await startBroker();
    assert.equal(await broker.stop('SIGINT'), 0);
  });
});
