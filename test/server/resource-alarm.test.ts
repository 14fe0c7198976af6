import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AmqpServerHandle, BrokerHandle, MqttServerHandle } from '../../src/server/components.js';
import { loadConfig } from '../../src/server/config.js';
import { createLogger } from '../../src/server/logger.js';
import { ResourceAlarm, type ResourceAlarmOptions } from '../../src/server/resource-alarm.js';
import { startServer } from '../../src/server/server.js';

const logger = createLogger('silent');
/** The largest limit the config accepts: more than any test machine has free. */
const HUGE_DISK_LIMIT = 1024 * 1024 * 1024 * 1024;

describe('ResourceAlarm', () => {
  it('requestCheck checks at once, and a burst of requests is throttled to one more check', async () => {
    const options: ResourceAlarmOptions = {
      dataDir: tmpdir(),
      memoryHighWatermark: 0.95,
      diskFreeLimitBytes: 0,
      minRequestIntervalMs: 200,
    };
    const changes: Array<{ reason: string | null; at: number }> = [];
    const alarm = new ResourceAlarm(options, (reason) => changes.push({ reason, at: Date.now() }), logger);
    await alarm.check();
    assert.equal(changes.length, 0);

    options.diskFreeLimitBytes = HUGE_DISK_LIMIT; // the disk "fills"
    const requested = Date.now();
    alarm.requestCheck();
    await alarm.check(); // queued behind the requested check
    assert.equal(changes.length, 1);
    assert.equal(changes[0].reason, 'disk');

    options.diskFreeLimitBytes = 0;
    const throttledFrom = Date.now();
    for (let i = 0; i < 10; i++) alarm.requestCheck();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(changes.length, 1, 'no second check inside the throttle window');
    while (changes.length < 2 && Date.now() - throttledFrom < 2000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(changes[1]?.reason, null, 'the burst is served at the end of the window');
    assert.ok(changes[1].at - requested >= 190, 'not before the window ends');
    alarm.stop();
  });
});

describe('startServer and the resource alarm', () => {
  it('checks disk before listening and re-checks when a store write fails', async () => {
    const calls: string[] = [];
    const writeErrorListeners: Array<(err: Error) => void> = [];
    const broker: BrokerHandle = {
      async close() {},
      onStoreWriteError(listener) {
        calls.push('broker.onStoreWriteError');
        writeErrorListeners.push(listener);
        return () => {};
      },
    };
    const amqp: AmqpServerHandle = {
      async listen() {
        calls.push('amqp.listen');
        return [{ host: '127.0.0.1', port: 5999 }];
      },
      async stopAccepting() {},
      async closeAllConnections() {},
      setBlocked(reason) {
        calls.push(`amqp.setBlocked(${reason})`);
      },
    };
    const dataDir = await mkdtemp(join(tmpdir(), 'alarm-test-'));
    const config = loadConfig(
      { hosts: '127.0.0.1', amqpPort: '0', http: false, dataDir, diskFreeLimit: String(HUGE_DISK_LIMIT) },
      {},
    );
    const server = await startServer(config, logger, {
      components: { openBroker: async () => broker, createAmqpServer: () => amqp },
      handleProcessEvents: false,
    });
    try {
      assert.deepEqual(calls, ['amqp.setBlocked(disk)', 'broker.onStoreWriteError', 'amqp.listen']);
      assert.equal(writeErrorListeners.length, 1);
      writeErrorListeners[0](Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' })); // must not throw
    } finally {
      await server.stop();
    }
  });

  it('blocks the publishers of every protocol, MQTT too, before either listens', async () => {
    const calls: string[] = [];
    const broker: BrokerHandle = { async close() {} };
    const adapter = (name: string): MqttServerHandle => ({
      async start() {
        calls.push(`${name}.start`);
      },
      async listen() {
        calls.push(`${name}.listen`);
        return [{ host: '127.0.0.1', port: 5999 }];
      },
      async stopAccepting() {},
      async closeAllConnections() {},
      setBlocked(reason) {
        calls.push(`${name}.setBlocked(${reason})`);
      },
    });
    const dataDir = await mkdtemp(join(tmpdir(), 'alarm-test-'));
    const config = loadConfig(
      {
        hosts: '127.0.0.1',
        amqpPort: '0',
        mqttPort: '0',
        http: false,
        dataDir,
        diskFreeLimit: String(HUGE_DISK_LIMIT),
      },
      {},
    );
    const server = await startServer(config, logger, {
      components: {
        openBroker: async () => broker,
        createAmqpServer: () => adapter('amqp'),
        createMqttServer: () => adapter('mqtt'),
      },
      handleProcessEvents: false,
    });
    try {
      assert.deepEqual(calls, [
        'amqp.setBlocked(disk)',
        'mqtt.setBlocked(disk)',
        'amqp.listen',
        'mqtt.start',
        'mqtt.listen',
      ]);
    } finally {
      await server.stop();
    }
  });
});
