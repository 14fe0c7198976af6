import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IClientOptions, IDisconnectPacket } from 'mqtt';
import { type BrokerUnderTest, startBroker } from '../../helpers/broker-under-test.js';
import {
  closed,
  connectMqtt,
  connectWithConnack,
  Inbox,
  MQTT_SKIP,
  MQTT_VERSIONS,
  type MqttVersion,
  RawMqtt,
  versionName,
} from '../../helpers/mqtt-client.js';
import { uniqueName } from '../../helpers/unique-name.js';

let broker: BrokerUnderTest;

before(async () => {
  broker = await startBroker();
});

after(async () => {
  await broker.stop();
});

/** Options for a session that outlives its connection, in each version's terms. */
function persistent(version: MqttVersion, clientId: string): IClientOptions {
  return version === 5
    ? { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 300 } }
    : { protocolVersion: 4, clientId, clean: false };
}

for (const protocolVersion of MQTT_VERSIONS) {
  describe(`sessions over ${versionName(protocolVersion)}`, { skip: MQTT_SKIP }, () => {
    const connect = (options: IClientOptions = {}) => connectMqtt(broker, { protocolVersion, ...options });

    it('keeps a persistent session: subscriptions and QoS 1 messages wait for the client to come back', async () => {
      const clientId = uniqueName('persist');
      const topic = uniqueName('persist-topic');
      const first = await connect(persistent(protocolVersion, clientId));
      assert.equal(first.connected, true);
      await first.subscribeAsync(topic, { qos: 1 });
      await first.endAsync();

      const publisher = await connect();
      for (let i = 0; i < 5; i++) await publisher.publishAsync(topic, `m${i}`, { qos: 1 });
      await publisher.endAsync();

      const {
        client: resumed,
        connack,
        inbox,
      } = await connectWithConnack(broker, persistent(protocolVersion, clientId));
      assert.equal(connack.sessionPresent, true, 'session present');
      const messages = await inbox.waitForCount(5);
      assert.deepEqual(
        messages.map((m) => [m.payload.toString(), m.packet.qos]),
        [0, 1, 2, 3, 4].map((i) => [`m${i}`, 1]),
      );
      await resumed.endAsync();

      // A clean start drops the session: nothing waits any more, and the broker says no session was present.
      const {
        client: clean,
        connack: cleanConnack,
        inbox: cleanInbox,
      } = await connectWithConnack(broker, {
        protocolVersion,
        clientId,
        clean: true,
      });
      assert.equal(cleanConnack.sessionPresent, false);
      await clean.subscribeAsync(`${topic}-sentinel`, { qos: 1 });
      await clean.publishAsync(topic, 'after clean start', { qos: 1 });
      await clean.publishAsync(`${topic}-sentinel`, 'sentinel', { qos: 1 });
      await cleanInbox.waitForTopic(`${topic}-sentinel`);
      assert.deepEqual(cleanInbox.topics(), [`${topic}-sentinel`], 'the old subscription is gone');
      await clean.endAsync();
    });

    it('redelivers unacknowledged QoS 1 messages to the next connection of the session, with DUP set', async () => {
      const clientId = uniqueName('redeliver');
      const topic = uniqueName('redeliver-topic');
      const first = await connect(persistent(protocolVersion, clientId));
      await first.subscribeAsync(topic, { qos: 1 });
      // Receive without acknowledging: mqtt.js sends PUBACK only once handleMessage calls back (and reads
      // nothing more meanwhile, so the publish comes from another client).
      const received = new Promise<void>((resolve) => {
        first.handleMessage = (_packet, _callback) => resolve();
      });
      const publisher = await connect();
      await publisher.publishAsync(topic, 'unacked', { qos: 1 });
      await publisher.endAsync();
      await received;
      first.stream.destroy();
      await closed(first);

      const { client: second, inbox } = await connectWithConnack(
        broker,
        persistent(protocolVersion, clientId),
      );
      const [message] = await inbox.waitForCount(1);
      assert.equal(message.payload.toString(), 'unacked');
      assert.equal(message.packet.dup, true);
      await second.endAsync();
      const cleanup = await connect({ clientId, clean: true });
      await cleanup.endAsync();
    });

    it('ends a session with its connection when it is not persistent', async () => {
      const clientId = uniqueName('transient');
      const topic = uniqueName('transient-topic');
      const first = await connect({ clientId, clean: true });
      await first.subscribeAsync(topic, { qos: 1 });
      await first.endAsync();
      const publisher = await connect();
      await publisher.publishAsync(topic, 'lost', { qos: 1 });
      await publisher.endAsync();
      const { client: again, connack } = await connectWithConnack(
        broker,
        persistent(protocolVersion, clientId),
      );
      assert.equal(connack.sessionPresent, false);
      await again.endAsync();
      const cleanup = await connect({ clientId, clean: true });
      await cleanup.endAsync();
    });

    it('publishes the will when the connection drops, not after a normal DISCONNECT', async () => {
      const topic = uniqueName('will');
      const watcher = await connect();
      try {
        const inbox = new Inbox(watcher);
        await watcher.subscribeAsync(`${topic}/#`, { qos: 1 });
        const polite = await connect({
          will: { topic: `${topic}/polite`, payload: Buffer.from('x'), qos: 1, retain: false },
        });
        await polite.endAsync();
        const rude = await connect({
          will: { topic: `${topic}/rude`, payload: Buffer.from('gone'), qos: 1, retain: false },
        });
        rude.stream.destroy();
        const will = await inbox.waitForTopic(`${topic}/rude`);
        assert.equal(will.payload.toString(), 'gone');
        assert.equal(will.packet.qos, 1);
        await watcher.publishAsync(`${topic}/end`, 'end', { qos: 1 });
        await inbox.waitForTopic(`${topic}/end`);
        assert.deepEqual(inbox.topics(), [`${topic}/rude`, `${topic}/end`], 'no will after DISCONNECT');
      } finally {
        await watcher.endAsync();
      }
    });

    it('takes the session over when a second connection uses the same client id', async () => {
      const clientId = uniqueName('takeover');
      const topic = uniqueName('takeover-topic');
      const first = await connect({ clientId });
      const disconnect = new Promise<IDisconnectPacket>((resolve) => first.once('disconnect', resolve));
      const firstClosed = closed(first);
      const second = await connect({ clientId });
      await firstClosed;
      if (protocolVersion === 5) assert.equal((await disconnect).reasonCode, 0x8e, 'session taken over');
      const inbox = new Inbox(second);
      await second.subscribeAsync(topic, { qos: 1 });
      await second.publishAsync(topic, 'still works', { qos: 1 });
      await inbox.waitForCount(1);
      await second.endAsync();
    });

    it('closes a connection that stays silent for 1.5 times its keep-alive, and keeps one that pings', async () => {
      const port = broker.mqttPort!;
      const silent = await RawMqtt.open(port, protocolVersion);
      const pinging = await RawMqtt.open(port, protocolVersion);
      try {
        await silent.connect({ keepalive: 1 });
        await pinging.connect({ keepalive: 1 });
        const pings = setInterval(() => pinging.send({ cmd: 'pingreq' }), 300);
        try {
          const connectedAt = Date.now();
          await silent.expectClosed(10_000);
          assert.ok(silent.closedAt! - connectedAt >= 1000, 'not before the keep-alive interval');
          await pinging.next('pingresp');
          assert.equal(pinging.closedAt, undefined, 'the pinging client is still connected');
          if (protocolVersion === 5) {
            const disconnect = (await silent.next('disconnect').catch(() => undefined)) as
              | IDisconnectPacket
              | undefined;
            assert.equal(disconnect?.reasonCode, 0x8d, 'keep-alive timeout');
          }
        } finally {
          clearInterval(pings);
        }
      } finally {
        silent.close();
        pinging.close();
      }
    });
  });
}
