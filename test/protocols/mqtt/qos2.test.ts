import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IPublishPacket, IPubrelPacket } from 'mqtt-packet';
import { type BrokerUnderTest, startBroker } from '../../helpers/broker-under-test.js';
import {
  connectMqtt,
  Inbox,
  MQTT_SKIP,
  MQTT_VERSIONS,
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

for (const protocolVersion of MQTT_VERSIONS) {
  describe(`QoS 2 over ${versionName(protocolVersion)}`, { skip: MQTT_SKIP }, () => {
    const persistentFields =
      protocolVersion === 5 ? { clean: false, properties: { sessionExpiryInterval: 300 } } : { clean: false };

    it('delivers a QoS 2 publish exactly once at QoS 2, through PUBREC, PUBREL and PUBCOMP', async () => {
      const topic = uniqueName('qos2');
      const subscriber = await connectMqtt(broker, { protocolVersion });
      const publisher = await connectMqtt(broker, { protocolVersion });
      try {
        const inbox = new Inbox(subscriber);
        const [granted] = await subscriber.subscribeAsync(topic, { qos: 2 });
        assert.equal(granted.qos, 2);
        await publisher.publishAsync(topic, 'exactly once', { qos: 2 });
        await publisher.publishAsync(topic, 'end', { qos: 2 });
        const received = await inbox.waitForCount(2);
        assert.deepEqual(
          received.map((m) => [m.payload.toString(), m.packet.qos]),
          [
            ['exactly once', 2],
            ['end', 2],
          ],
        );
      } finally {
        await Promise.all([subscriber.endAsync(), publisher.endAsync()]);
      }
    });

    it('routes a resent QoS 2 publish only once, also after the publisher reconnects', async () => {
      const topic = uniqueName('qos2-dup');
      const subscriber = await connectMqtt(broker, { protocolVersion });
      const clientId = uniqueName('qos2-publisher');
      try {
        const inbox = new Inbox(subscriber);
        await subscriber.subscribeAsync(topic, { qos: 2 });
        const publish = (dup: boolean): IPublishPacket => ({
          cmd: 'publish',
          topic,
          payload: Buffer.from('once'),
          qos: 2,
          messageId: 41,
          retain: false,
          dup,
        });
        const first = await RawMqtt.open(broker.mqttPort!, protocolVersion);
        await first.connect({ clientId, ...persistentFields });
        first.send(publish(false));
        await first.next('pubrec');
        first.send(publish(true)); // the PUBREC was "lost": same identifier again
        await first.next('pubrec');
        first.close();
        await first.ended;

        const second = await RawMqtt.open(broker.mqttPort!, protocolVersion);
        await second.connect({ clientId, ...persistentFields });
        second.send(publish(true));
        await second.next('pubrec');
        second.send({ cmd: 'pubrel', messageId: 41 });
        await second.next('pubcomp');
        // The identifier is free again: a new message with it is a new message.
        second.send({ ...publish(false), payload: Buffer.from('new') });
        await second.next('pubrec');
        second.send({ cmd: 'pubrel', messageId: 41 });
        await second.next('pubcomp');
        second.send({ cmd: 'disconnect' });
        const received = await inbox.waitForCount(2);
        assert.deepEqual(
          received.map((m) => m.payload.toString()),
          ['once', 'new'],
        );
        await connectMqtt(broker, { protocolVersion, clientId, clean: true }).then((c) => c.endAsync());
      } finally {
        await subscriber.endAsync();
      }
    });

    it('resends an unacknowledged QoS 2 message with its first packet identifier and DUP', async () => {
      const topic = uniqueName('qos2-same-id');
      const clientId = uniqueName('qos2-same-id-subscriber');
      const first = await RawMqtt.open(broker.mqttPort!, protocolVersion);
      await first.connect({ clientId, ...persistentFields });
      first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] });
      await first.next('suback');
      const publisher = await connectMqtt(broker, { protocolVersion });
      for (const text of ['one', 'two']) await publisher.publishAsync(topic, text, { qos: 2 });
      const sent = [
        (await first.next('publish')) as IPublishPacket,
        (await first.next('publish')) as IPublishPacket,
      ];
      first.close(); // no PUBREC: the client may or may not have them
      await first.ended;

      const second = await RawMqtt.open(broker.mqttPort!, protocolVersion);
      await second.connect({ clientId, ...persistentFields });
      for (const original of sent) {
        const again = (await second.next('publish')) as IPublishPacket;
        assert.equal(again.payload.toString(), original.payload.toString());
        assert.equal(again.messageId, original.messageId, 'same packet identifier');
        assert.equal(again.dup, true);
        second.send({ cmd: 'pubrec', messageId: again.messageId });
        await second.next('pubrel');
        second.send({ cmd: 'pubcomp', messageId: again.messageId });
      }
      second.close();
      await publisher.endAsync();
      await connectMqtt(broker, { protocolVersion, clientId, clean: true }).then((c) => c.endAsync());
    });

    it('resends PUBREL, never the message, to a subscriber that reconnects before PUBCOMP', async () => {
      const topic = uniqueName('qos2-out');
      const clientId = uniqueName('qos2-subscriber');
      const first = await RawMqtt.open(broker.mqttPort!, protocolVersion);
      await first.connect({ clientId, ...persistentFields });
      first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] });
      await first.next('suback');
      const publisher = await connectMqtt(broker, { protocolVersion });
      await publisher.publishAsync(topic, 'exactly once', { qos: 2 });
      const delivered = (await first.next('publish')) as IPublishPacket;
      assert.equal(delivered.qos, 2);
      first.send({ cmd: 'pubrec', messageId: delivered.messageId });
      const pubrel = (await first.next('pubrel')) as IPubrelPacket;
      assert.equal(pubrel.messageId, delivered.messageId);
      first.close();
      await first.ended;

      const second = await RawMqtt.open(broker.mqttPort!, protocolVersion);
      await second.connect({ clientId, ...persistentFields });
      const again = (await second.next('pubrel')) as IPubrelPacket;
      assert.equal(again.messageId, delivered.messageId);
      second.send({ cmd: 'pubcomp', messageId: delivered.messageId });
      await publisher.publishAsync(topic, 'next', { qos: 2 });
      const next = (await second.next('publish')) as IPublishPacket;
      assert.equal(next.payload.toString(), 'next', 'the first message was not sent again');
      second.send({ cmd: 'pubrec', messageId: next.messageId });
      await second.next('pubrel');
      second.send({ cmd: 'pubcomp', messageId: next.messageId });
      second.close();
      await publisher.endAsync();
      await connectMqtt(broker, { protocolVersion, clientId, clean: true }).then((c) => c.endAsync());
    });
  });
}
