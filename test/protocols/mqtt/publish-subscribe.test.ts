import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type BrokerUnderTest, startBroker } from '../../helpers/broker-under-test.js';
import { connectMqtt, Inbox, MQTT_SKIP, MQTT_VERSIONS, versionName } from '../../helpers/mqtt-client.js';
import { uniqueName } from '../../helpers/unique-name.js';

let broker: BrokerUnderTest;

before(async () => {
  broker = await startBroker();
});

after(async () => {
  await broker.stop();
});

/** Every byte value, so a payload that is not text must arrive exactly as sent. */
const BINARY_PAYLOAD = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7) % 256));

for (const protocolVersion of MQTT_VERSIONS) {
  describe(`publish and subscribe over ${versionName(protocolVersion)}`, { skip: MQTT_SKIP }, () => {
    const connect = (options = {}) => connectMqtt(broker, { protocolVersion, ...options });

    it('delivers QoS 0 and QoS 1 messages with their topic, QoS and payload bytes unchanged', async () => {
      const base = uniqueName('pubsub');
      const subscriber = await connect();
      const publisher = await connect();
      try {
        const inbox = new Inbox(subscriber);
        const granted = await subscriber.subscribeAsync(`${base}/#`, { qos: 1 });
        assert.equal(granted[0].qos, 1);
        await publisher.publishAsync(`${base}/zero`, BINARY_PAYLOAD, { qos: 0 });
        await publisher.publishAsync(`${base}/one`, BINARY_PAYLOAD, { qos: 1 });
        const [first, second] = await inbox.waitForCount(2);
        assert.deepEqual(
          [first.topic, first.packet.qos, second.topic, second.packet.qos],
          [`${base}/zero`, 0, `${base}/one`, 1],
        );
        assert.ok(first.payload.equals(BINARY_PAYLOAD));
        assert.ok(second.payload.equals(BINARY_PAYLOAD));
        assert.equal(second.packet.retain, false);
        assert.equal(second.packet.dup, false);
      } finally {
        await Promise.all([subscriber.endAsync(), publisher.endAsync()]);
      }
    });

    it('delivers at the lower of the published and the granted QoS', async () => {
      const topic = uniqueName('downgrade');
      const subscriber = await connect();
      try {
        const inbox = new Inbox(subscriber);
        await subscriber.subscribeAsync(topic, { qos: 0 });
        await subscriber.publishAsync(topic, 'x', { qos: 1 });
        const [message] = await inbox.waitForCount(1);
        assert.equal(message.packet.qos, 0);
      } finally {
        await subscriber.endAsync();
      }
    });

    it('matches + and # as MQTT does, keeps a "." inside a level, and stops after UNSUBSCRIBE', async () => {
      const base = uniqueName('wild');
      const subscriber = await connect();
      const publisher = await connect();
      try {
        const inbox = new Inbox(subscriber);
        await subscriber.subscribeAsync([`${base}/+/temp`, `${base}/all/#`, `${base}/v1.2/+`], { qos: 1 });
        for (const topic of [
          `${base}/kitchen/temp`, // + matches one level
          `${base}/kitchen/sub/temp`, // not two
          `${base}/all`, // # matches the parent level
          `${base}/all/a/b/c`,
          `${base}/v1.2/x`, // a dot is not a level separator
          `${base}/v1/2/x`,
          `${base}/end`,
        ]) {
          await publisher.publishAsync(topic, topic, { qos: 1 });
        }
        await subscriber.subscribeAsync(`${base}/end`, { qos: 1 });
        await publisher.publishAsync(`${base}/end`, 'end', { qos: 1 });
        await inbox.waitForTopic(`${base}/end`);
        assert.deepEqual(inbox.topics(), [
          `${base}/kitchen/temp`,
          `${base}/all`,
          `${base}/all/a/b/c`,
          `${base}/v1.2/x`,
          `${base}/end`,
        ]);
        for (const m of inbox.messages)
          assert.equal(m.payload.toString(), m.topic === `${base}/end` ? 'end' : m.topic);

        await subscriber.unsubscribeAsync(`${base}/+/temp`);
        await publisher.publishAsync(`${base}/kitchen/temp`, 'after', { qos: 1 });
        await publisher.publishAsync(`${base}/end`, 'end-2', { qos: 1 });
        await inbox.waitForCount(6);
        assert.equal(inbox.messages[5].payload.toString(), 'end-2', 'nothing after UNSUBSCRIBE');
      } finally {
        await Promise.all([subscriber.endAsync(), publisher.endAsync()]);
      }
    });

    it('does not match topics starting with $ by a wildcard in the first level', async () => {
      const level = uniqueName('dollar');
      const subscriber = await connect();
      try {
        const inbox = new Inbox(subscriber);
        await subscriber.subscribeAsync(['#', `+/${level}`, `$SYS/${level}/+`], { qos: 1 });
        await subscriber.publishAsync(`$SYS/${level}`, 'hidden', { qos: 1 });
        await subscriber.publishAsync(`$SYS/${level}/x`, 'explicit', { qos: 1 });
        await subscriber.publishAsync(`dev/${level}`, 'plain', { qos: 1 });
        await inbox.waitForTopic(`dev/${level}`);
        const mine = inbox.messages.filter((m) => m.topic.includes(level)).map((m) => m.topic);
        assert.deepEqual(mine, [`$SYS/${level}/x`, `dev/${level}`]);
      } finally {
        await subscriber.endAsync();
      }
    });

    it('keeps the order of messages per topic', async () => {
      const base = uniqueName('order');
      const subscriber = await connect();
      const publisher = await connect();
      try {
        const inbox = new Inbox(subscriber);
        await subscriber.subscribeAsync(`${base}/#`, { qos: 1 });
        const count = 300;
        const sends: Array<Promise<unknown>> = [];
        for (let i = 0; i < count; i++) {
          sends.push(publisher.publishAsync(`${base}/${i % 3}`, String(i), { qos: (i % 2) as 0 | 1 }));
        }
        await Promise.all(sends);
        await inbox.waitForCount(count);
        for (const topic of [0, 1, 2].map((n) => `${base}/${n}`)) {
          const sequence = inbox.messages
            .filter((m) => m.topic === topic)
            .map((m) => Number(m.payload.toString()));
          assert.deepEqual(
            sequence,
            [...sequence].sort((a, b) => a - b),
            `${topic} in publish order`,
          );
          assert.equal(sequence.length, count / 3);
        }
      } finally {
        await Promise.all([subscriber.endAsync(), publisher.endAsync()]);
      }
    });

    it('keeps retained messages for later subscribers and clears them with an empty retained publish', async () => {
      const base = uniqueName('retained');
      const publisher = await connect();
      const live = await connect();
      try {
        const liveInbox = new Inbox(live);
        await live.subscribeAsync(`${base}/#`, { qos: 1 });
        await publisher.publishAsync(`${base}/a`, 'A', { qos: 1, retain: true });
        await publisher.publishAsync(`${base}/b`, 'B', { qos: 0, retain: true });
        await publisher.publishAsync(`${base}/c`, 'C', { qos: 1, retain: true });
        await publisher.publishAsync(`${base}/c`, '', { qos: 1, retain: true });
        const forwarded = await liveInbox.waitForTopic(`${base}/a`);
        assert.equal(forwarded.packet.retain, false, 'a live subscriber gets RETAIN cleared');

        const late = await connect();
        try {
          const lateInbox = new Inbox(late);
          await late.subscribeAsync(`${base}/+`, { qos: 1 });
          await publisher.publishAsync(`${base}/end`, 'end', { qos: 1 });
          await lateInbox.waitForTopic(`${base}/end`);
          const retained = lateInbox.messages.filter((m) => m.topic !== `${base}/end`);
          assert.deepEqual(
            retained.map((m) => [m.topic, m.payload.toString(), m.packet.qos, m.packet.retain]),
            [
              [`${base}/a`, 'A', 1, true],
              [`${base}/b`, 'B', 0, true],
            ],
          );
        } finally {
          await late.endAsync();
        }
      } finally {
        await Promise.all([publisher.endAsync(), live.endAsync()]);
      }
    });
  });
}

describe('MQTT 3.1 (protocol name MQIsdp, level 3)', { skip: MQTT_SKIP }, () => {
  it('connects, subscribes and publishes', async () => {
    const topic = uniqueName('v31');
    const client = await connectMqtt(broker, {
      protocolVersion: 3,
      protocolId: 'MQIsdp',
      clientId: uniqueName('v31'),
    });
    try {
      const inbox = new Inbox(client);
      await client.subscribeAsync(topic, { qos: 1 });
      await client.publishAsync(topic, 'old but fine', { qos: 1 });
      const [message] = await inbox.waitForCount(1);
      assert.equal(message.payload.toString(), 'old but fine');
    } finally {
      await client.endAsync();
    }
  });
});
