import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ErrorWithReasonCode, IClientOptions } from 'mqtt';
import { Broker, defaultBrokerOptions } from '../../../src/core/broker.js';
import { MqttServer } from '../../../src/protocols/mqtt/mqtt-server.js';
import { mqttServerOptions } from '../../../src/server/components.js';
import { loadConfig } from '../../../src/server/config.js';
import { createLogger } from '../../../src/server/logger.js';
import {
  closed,
  connectMqtt,
  Inbox,
  MQTT_VERSIONS,
  subackCodes,
  versionName,
} from '../../helpers/mqtt-client.js';
import { uniqueName } from '../../helpers/unique-name.js';

/**
 * Logins and permissions need users and permissions set up, which only the core's API offers so far: this
 * file runs the broker core and the MQTT server in-process, and drives them over real sockets with mqtt.js.
 */

const logger = createLogger('silent');
let dataDir: string;
let broker: Broker;
let server: MqttServer;
let anonymousServer: MqttServer;
let port: number;
let anonymousPort: number;

async function startMqtt(flags: Record<string, string>): Promise<{ server: MqttServer; port: number }> {
  const config = loadConfig({ hosts: '127.0.0.1', mqttPort: '0', ...flags }, {});
  const mqtt = new MqttServer(broker, mqttServerOptions(config), logger);
  await mqtt.start();
  const [address] = await mqtt.listen();
  return { server: mqtt, port: address.port };
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'eventter-mqtt-auth-'));
  broker = await Broker.open({ ...defaultBrokerOptions, dataDir, fsync: false }, logger);
  await broker.putVhost('iot');
  const users = broker.users;
  await users.putUser('device', { password: 'device-pw' });
  await users.setPermissions('device', 'iot', { configure: '.*', write: '.*', read: '.*' });
  await users.putUser('sensor', { password: 'sensor-pw' });
  await users.setPermissions('sensor', '/', { configure: '.*', write: '.*', read: '.*' });
  await users.setTopicPermissions('sensor', '/', 'amq.topic', {
    write: '^sensors\\.own\\.',
    read: '^sensors\\.',
  });
  await users.putUser('reader', { password: 'reader-pw' });
  await users.setPermissions('reader', '/', { configure: '.*', write: '^mqtt-subscription-', read: '.*' });
  await users.putUser('noconfig', { password: 'noconfig-pw' });
  await users.setPermissions('noconfig', '/', { configure: '^$', write: '.*', read: '.*' });
  ({ server, port } = await startMqtt({}));
  ({ server: anonymousServer, port: anonymousPort } = await startMqtt({
    mqttAnonymousUser: 'device',
    mqttVhost: 'iot',
  }));
});

after(async () => {
  for (const s of [server, anonymousServer]) {
    await s?.stopAccepting();
    await s?.closeAllConnections('test over');
  }
  await broker?.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** The CONNACK code of a refused login (3.1.1 return code or 5.0 reason code). */
async function refusal(options: IClientOptions, to = port): Promise<number | undefined> {
  try {
    const client = await connectMqtt(to, options);
    await client.endAsync();
    return undefined;
  } catch (err) {
    return (err as ErrorWithReasonCode).code as number;
  }
}

for (const protocolVersion of MQTT_VERSIONS) {
  const v5 = protocolVersion === 5;
  describe(`logins and permissions over ${versionName(protocolVersion)}`, () => {
    it('refuses a wrong password (bad user name or password)', async () => {
      assert.equal(await refusal({ protocolVersion, username: 'device', password: 'wrong' }), v5 ? 0x86 : 4);
    });

    it('chooses the vhost from a vhost:user name, else the listener default', async () => {
      const client = await connectMqtt(port, {
        protocolVersion,
        username: 'iot:device',
        password: 'device-pw',
      });
      await client.endAsync();
      // "device" has no permissions in the default vhost "/".
      assert.equal(
        await refusal({ protocolVersion, username: 'device', password: 'device-pw' }),
        v5 ? 0x87 : 5,
      );
      assert.equal(
        await refusal({ protocolVersion, username: 'nohost:guest', password: 'guest' }),
        v5 ? 0x87 : 5,
      );
    });

    it('refuses a CONNECT without user name unless an anonymous user is configured', async () => {
      assert.equal(
        await refusal({ protocolVersion, username: undefined, password: undefined }),
        v5 ? 0x87 : 5,
      );
      const anonymous = await connectMqtt(anonymousPort, {
        protocolVersion,
        username: undefined,
        password: undefined,
      });
      const topic = uniqueName('anonymous');
      const inbox = new Inbox(anonymous);
      await anonymous.subscribeAsync(topic, { qos: 1 });
      await anonymous.publishAsync(topic, 'as device in iot', { qos: 1 });
      await inbox.waitForCount(1);
      await anonymous.endAsync();
    });

    it('applies topic permissions to publishes (write) and subscriptions (read)', async () => {
      const login = { protocolVersion, username: 'sensor', password: 'sensor-pw' };
      const client = await connectMqtt(port, login);
      const inbox = new Inbox(client);
      assert.deepEqual(
        await subackCodes(client, ['sensors/#', 'alerts/#']),
        [1, v5 ? 0x87 : 0x80],
        'alerts/# is outside the read pattern',
      );
      await client.publishAsync('sensors/own/t', 'allowed', { qos: 1 });
      await inbox.waitForCount(1);
      if (v5) {
        await assert.rejects(
          client.publishAsync('sensors/other/t', 'refused', { qos: 1 }),
          (err: ErrorWithReasonCode) => {
            assert.equal(err.code, 0x87);
            return true;
          },
        );
        await client.endAsync();
      } else {
        // MQTT 3.1.1 cannot refuse one publish: the connection is closed, as RabbitMQ does.
        const gone = closed(client);
        client.publish('sensors/other/t', 'refused', { qos: 1 });
        await gone;
        client.end(true);
      }
      assert.equal(inbox.messages.length, 1, 'the refused message was not routed');
    });

    it('refuses subscriptions without configure permission on the session queue', async () => {
      const client = await connectMqtt(port, {
        protocolVersion,
        username: 'noconfig',
        password: 'noconfig-pw',
      });
      try {
        assert.deepEqual(await subackCodes(client, ['anything/#']), [v5 ? 0x87 : 0x80]);
      } finally {
        await client.endAsync();
      }
    });

    it('refuses publishes without write permission on the exchange', async () => {
      const client = await connectMqtt(port, { protocolVersion, username: 'reader', password: 'reader-pw' });
      if (v5) {
        await assert.rejects(client.publishAsync('x/y', 'no', { qos: 1 }), (err: ErrorWithReasonCode) => {
          assert.equal(err.code, 0x87);
          return true;
        });
        await client.endAsync();
      } else {
        const gone = closed(client);
        client.publish('x/y', 'no', { qos: 1 });
        await gone;
        client.end(true);
      }
    });
  });
}
