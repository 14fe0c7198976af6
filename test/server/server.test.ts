import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AmqpServerHandle, BrokerHandle, ServerComponents } from '../../src/server/components.js';
import { type BrokerConfig, loadConfig } from '../../src/server/config.js';
import { createLogger } from '../../src/server/logger.js';
import { installProcessHandlers, type RunningServer, startServer } from '../../src/server/server.js';
import { StartupError } from '../../src/server/startup-error.js';

const logger = createLogger('silent');

function testConfig(overrides: Record<string, string | boolean> = {}): BrokerConfig {
  return loadConfig({ hosts: '127.0.0.1', amqpPort: '0', httpPort: '0', ...overrides }, {});
}

/** Stand-ins that record the order in which the server drives them. */
function fakeComponents(
  options: { failListen?: boolean; failBrokerClose?: boolean; connections?: number } = {},
) {
  const calls: string[] = [];
  const broker: BrokerHandle = {
    async close() {
      calls.push('broker.close');
      if (options.failBrokerClose) throw new Error('disk gone');
    },
    stats: () => ({ queues: 4, messages: 9 }),
  };
  const amqp: AmqpServerHandle = {
    connectionCount: options.connections,
    async listen() {
      calls.push('amqp.listen');
      if (options.failListen) throw Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' });
      return [{ host: '127.0.0.1', port: 5999 }];
    },
    async stopAccepting() {
      calls.push('amqp.stopAccepting');
    },
    async closeAllConnections(replyText: string) {
      calls.push(`amqp.closeAllConnections(${replyText})`);
    },
  };
  const components: ServerComponents = {
    async openBroker() {
      calls.push('broker.open');
      return broker;
    },
    createAmqpServer(given) {
      assert.equal(given, broker, 'the adapter gets the opened broker');
      return amqp;
    },
  };
  return { calls, components };
}

async function start(components: ServerComponents, config = testConfig()): Promise<RunningServer> {
  return startServer(config, logger, { components, handleProcessEvents: false });
}

describe('startServer', () => {
  it('starts the broker, then AMQP and HTTP, and reports the bound addresses', async () => {
    const { calls, components } = fakeComponents({ connections: 2 });
    const server = await start(components);
    try {
      assert.deepEqual(calls, ['broker.open', 'amqp.listen']);
      assert.deepEqual(server.amqpAddresses, [{ host: '127.0.0.1', port: 5999 }]);
      assert.equal(server.httpAddresses.length, 1);
      const response = await fetch(`http://127.0.0.1:${server.httpAddresses[0].port}/health`);
      assert.equal(response.status, 200);
      const body = (await response.json()) as Record<string, unknown>;
      assert.equal(body.status, 'ok');
      assert.equal(body.connections, 2);
      assert.equal(body.queues, 4);
      assert.equal(body.messages, 9);
      assert.equal(typeof body.uptimeSeconds, 'number');
    } finally {
      await server.stop();
    }
  });

  it('stops in order: stop accepting, close connections with the shutdown text, flush the broker', async () => {
    const { calls, components } = fakeComponents();
    const server = await start(components);
    const url = `http://127.0.0.1:${server.httpAddresses[0].port}/health`;
    await Promise.all([server.stop(), server.stop()]);
    assert.deepEqual(calls, [
      'broker.open',
      'amqp.listen',
      'amqp.stopAccepting',
      "amqp.closeAllConnections(broker forced connection closure with reason 'shutdown')",
      'broker.close',
    ]);
    await assert.rejects(fetch(url), 'HTTP is closed after stop');
  });

  it('runs every shutdown step even when one fails, then reports the failure', async () => {
    const { calls, components } = fakeComponents({ failBrokerClose: true });
    const server = await start(components);
    await assert.rejects(server.stop(), /disk gone/);
    assert.ok(calls.includes('broker.close'));
  });

  it('does not start HTTP when disabled', async () => {
    const { components } = fakeComponents();
    const server = await start(components, testConfig({ http: false }));
    assert.deepEqual(server.httpAddresses, []);
    await server.stop();
  });

  it('closes the broker when a listener cannot start, and rethrows the cause', async () => {
    const { calls, components } = fakeComponents({ failListen: true });
    await assert.rejects(start(components), (err: unknown) => {
      assert.ok(err instanceof StartupError, 'a set-up problem, reported as one line by the CLI');
      assert.equal(err.code, 'EADDRINUSE');
      assert.match(err.message, /cannot listen for AMQP: .*EADDRINUSE.*--amqp-port/);
      return true;
    });
    assert.ok(calls.includes('broker.close'), 'the opened broker is flushed and closed');
  });
});

describe('installProcessHandlers', () => {
  it('stops gracefully on SIGTERM and exits 0', async () => {
    let stops = 0;
    const exited = new Promise<number>((resolve) => {
      const remove = installProcessHandlers(
        async () => {
          stops++;
        },
        logger,
        (code) => {
          remove();
          resolve(code);
        },
      );
      process.emit('SIGTERM', 'SIGTERM');
    });
    assert.equal(await exited, 0);
    assert.equal(stops, 1);
  });

  it('exits 1 at once on a second signal while the stop is still running', async () => {
    const codes: number[] = [];
    const remove = installProcessHandlers(
      () => new Promise<void>(() => {}),
      logger,
      (code) => codes.push(code),
    );
    try {
      process.emit('SIGINT', 'SIGINT');
      process.emit('SIGTERM', 'SIGTERM');
      assert.deepEqual(codes, [1]);
    } finally {
      remove();
    }
  });

  it('takes the same signal repeated at once as one request (Ctrl-C under npm start delivers it twice)', async () => {
    const codes: number[] = [];
    const remove = installProcessHandlers(
      () => new Promise<void>(() => {}),
      logger,
      (code) => codes.push(code),
      200,
    );
    try {
      process.emit('SIGINT', 'SIGINT');
      process.emit('SIGINT', 'SIGINT');
      assert.deepEqual(codes, [], 'the duplicate does not cut the graceful stop short');
      await new Promise((resolve) => setTimeout(resolve, 250));
      process.emit('SIGINT', 'SIGINT');
      assert.deepEqual(codes, [1], 'a deliberate second Ctrl-C still exits at once');
    } finally {
      remove();
    }
  });

  it('exits 1 when the graceful stop fails', async () => {
    const exited = new Promise<number>((resolve) => {
      const remove = installProcessHandlers(
        async () => {
          throw new Error('flush failed');
        },
        logger,
        (code) => {
          remove();
          resolve(code);
        },
      );
      process.emit('SIGTERM', 'SIGTERM');
    });
    assert.equal(await exited, 1);
  });
});
