import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChannelModel } from 'amqplib';
import {
  collect,
  connect as connectAmqp,
  openChannel,
  openConfirmChannel,
} from '../../helpers/amqp-client.js';
import { type BrokerUnderTest, startBroker } from '../../helpers/broker-under-test.js';
import { connectMqtt, Inbox, MQTT_SKIP } from '../../helpers/mqtt-client.js';
import { uniqueName } from '../../helpers/unique-name.js';

let broker: BrokerUnderTest;
let amqp: ChannelModel;

before(async () => {
  broker = await startBroker();
  amqp = await connectAmqp(broker.url);
});

after(async () => {
  await amqp?.close();
  await broker.stop();
});

const PAYLOAD = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 31) % 256));

describe('MQTT and AMQP 0-9-1 on one exchange', { skip: MQTT_SKIP }, () => {
  it('routes an MQTT publish to an AMQP queue bound to amq.topic, bytes unchanged', async () => {
    const base = uniqueName('m2a');
    const ch = await openChannel(amqp);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.topic', `${base}.*.temp`);
    const mqtt = await connectMqtt(broker);
    try {
      await mqtt.publishAsync(`${base}/kitchen/temp`, PAYLOAD, { qos: 1 });
      await mqtt.publishAsync(`${base}/hall/temp`, 'transient', { qos: 0 });
      await mqtt.publishAsync(`${base}/hall/humidity`, 'not bound', { qos: 1 });
      const [first, second] = await collect(ch, queue, 2);
      assert.equal(first.fields.exchange, 'amq.topic');
      assert.equal(first.fields.routingKey, `${base}.kitchen.temp`);
      assert.ok(first.content.equals(PAYLOAD));
      assert.equal(first.properties.deliveryMode, 2, 'QoS 1 is persistent');
      assert.equal(second.fields.routingKey, `${base}.hall.temp`);
      assert.equal(second.properties.deliveryMode, 1, 'QoS 0 is transient');
    } finally {
      await mqtt.endAsync();
      await ch.close();
    }
  });

  it('delivers an AMQP publish to amq.topic to MQTT subscribers, persistent at QoS 1', async () => {
    const base = uniqueName('a2m');
    const subscriber = await connectMqtt(broker);
    const ch = await openConfirmChannel(amqp);
    try {
      const inbox = new Inbox(subscriber);
      await subscriber.subscribeAsync(`${base}/+`, { qos: 1 });
      ch.publish('amq.topic', `${base}.eu`, PAYLOAD, { persistent: true });
      ch.publish('amq.topic', `${base}.us`, Buffer.from('fast'), { persistent: false });
      await ch.waitForConfirms();
      const [eu, us] = await inbox.waitForCount(2);
      assert.deepEqual(
        [eu.topic, eu.packet.qos, us.topic, us.packet.qos],
        [`${base}/eu`, 1, `${base}/us`, 0],
      );
      assert.ok(eu.payload.equals(PAYLOAD));
    } finally {
      await subscriber.endAsync();
      await ch.close();
    }
  });

  it('maps MQTT 5 properties to AMQP properties and headers, and back', async () => {
    const base = uniqueName('props');
    const ch = await openConfirmChannel(amqp);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.topic', `${base}.request`);
    const mqtt = await connectMqtt(broker, { protocolVersion: 5 });
    try {
      await mqtt.publishAsync(`${base}/request`, 'ping', {
        qos: 1,
        properties: {
          contentType: 'text/plain',
          responseTopic: `${base}/reply/1`,
          correlationData: Buffer.from('corr-42'),
          userProperties: { tenant: 'acme', tag: ['a', 'b'] },
          messageExpiryInterval: 60,
        },
      });
      const [request] = await collect(ch, queue, 1);
      assert.equal(request.properties.contentType, 'text/plain');
      assert.equal(request.properties.replyTo, `${base}.reply.1`);
      assert.equal(request.properties.correlationId, 'corr-42');
      assert.equal(request.properties.expiration, '60000');
      assert.equal(request.properties.headers?.tenant, 'acme');
      assert.deepEqual(request.properties.headers?.tag, ['a', 'b']);

      // The AMQP side answers the request: its reply reaches the MQTT requester with MQTT 5 properties.
      const inbox = new Inbox(mqtt);
      await mqtt.subscribeAsync(`${base}/reply/+`, { qos: 1 });
      ch.publish('amq.topic', request.properties.replyTo, Buffer.from('pong'), {
        persistent: true,
        contentType: 'application/json',
        correlationId: request.properties.correlationId,
        replyTo: `${base}.more`,
        headers: { server: 'amqp', attempt: 2 },
        expiration: '30000',
      });
      await ch.waitForConfirms();
      const [reply] = await inbox.waitForCount(1);
      const props = reply.packet.properties ?? {};
      assert.equal(reply.topic, `${base}/reply/1`);
      assert.equal(props.contentType, 'application/json');
      assert.equal(props.correlationData?.toString(), 'corr-42');
      assert.equal(props.responseTopic, `${base}/more`);
      assert.deepEqual({ ...props.userProperties }, { server: 'amqp', attempt: '2' });
      assert.ok(
        props.messageExpiryInterval !== undefined &&
          props.messageExpiryInterval <= 30 &&
          props.messageExpiryInterval > 0,
        `remaining expiry ${props.messageExpiryInterval}`,
      );
    } finally {
      await mqtt.endAsync();
      await ch.close();
    }
  });

  it('keeps a persistent session in a queue AMQP tools recognise: mqtt-subscription-<client id>qos1', async () => {
    const clientId = uniqueName('visible');
    const topic = uniqueName('visible-topic');
    const mqtt = await connectMqtt(broker, { clientId, clean: false });
    await mqtt.subscribeAsync(topic, { qos: 1 });
    await mqtt.endAsync();
    const ch = await openChannel(amqp);
    try {
      const publisher = await connectMqtt(broker);
      await publisher.publishAsync(topic, 'waiting', { qos: 1 });
      await publisher.endAsync();
      const { messageCount } = await ch.checkQueue(`mqtt-subscription-${clientId}qos1`);
      assert.equal(messageCount, 1);
    } finally {
      await ch.close();
      const cleanup = await connectMqtt(broker, { clientId, clean: true });
      await cleanup.endAsync();
    }
  });
});
