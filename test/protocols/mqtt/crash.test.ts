import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { startBroker } from '../../helpers/broker-under-test.js';
import { connectMqtt, connectWithConnack, MQTT_SKIP } from '../../helpers/mqtt-client.js';

const PUBLISH_FOR_MS = 1_500;
const WINDOW = 100;
const CLIENT_ID = 'crash-subscriber';

/**
 * Publishes QoS 1 messages, WINDOW in flight, until the connection dies; records each id whose PUBACK came.
 */
async function publishUntilKilled(publisher: MqttClient, confirmed: Set<number>): Promise<number> {
  let next = 0;
  let inFlight = 0;
  let wake: () => void = () => {};
  const dead = new Promise<void>((resolve) => publisher.once('close', () => resolve()));
  let alive = true;
  void dead.then(() => {
    alive = false;
    wake();
  });
  while (alive) {
    while (alive && inFlight < WINDOW) {
      const id = next++;
      inFlight++;
      publisher.publish(`crash/${id % 4}`, `m-${id}`, { qos: 1 }, (err) => {
        inFlight--;
        if (!err) confirmed.add(id);
        wake();
      });
    }
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
  }
  return next;
}

test('a persistent session keeps every acknowledged QoS 1 message and its subscriptions across kill -9', {
  skip: MQTT_SKIP,
}, async () => {
  const first = await startBroker();
  const subscriber = await connectMqtt(first, { clientId: CLIENT_ID, clean: false });
  await subscriber.subscribeAsync('crash/#', { qos: 1 });
  await subscriber.endAsync();
  const retainer = await connectMqtt(first);
  await retainer.publishAsync('crash-retained/config', 'kept', { qos: 1, retain: true });
  await retainer.endAsync();

  const publisher = await connectMqtt(first);
  const confirmed = new Set<number>();
  const publishing = publishUntilKilled(publisher, confirmed);
  await new Promise((resolve) => setTimeout(resolve, PUBLISH_FOR_MS));
  await first.kill9();
  const sent = await publishing;
  publisher.end(true);
  assert.ok(confirmed.size > 0, 'some publishes were acknowledged before the kill');

  const second = await startBroker({ dataDir: first.dataDir });
  try {
    const { client, connack, inbox } = await connectWithConnack(second, {
      clientId: CLIENT_ID,
      clean: false,
    });
    assert.equal(connack.sessionPresent, true, 'the session survived');
    const received = new Set<number>();
    const missing = () => [...confirmed].filter((id) => !received.has(id));
    const deadline = Date.now() + 60_000;
    while (missing().length > 0 && Date.now() < deadline) {
      await inbox.waitForCount(inbox.messages.length + 1, 10_000).catch(() => undefined);
      for (const m of inbox.messages) received.add(Number(m.payload.toString().slice(2)));
    }
    assert.deepEqual(
      missing(),
      [],
      `every acknowledged message is delivered (sent ${sent}, acknowledged ${confirmed.size})`,
    );

    // The subscription itself survived too, and so did the retained message.
    const publisher2 = await connectMqtt(second);
    await publisher2.publishAsync('crash/after', 'after restart', { qos: 1 });
    await inbox.waitForTopic('crash/after');
    const late = await connectWithConnack(second);
    await late.client.subscribeAsync('crash-retained/#', { qos: 1 });
    const retained = await late.inbox.waitForTopic('crash-retained/config');
    assert.equal(retained.payload.toString(), 'kept');
    assert.equal(retained.packet.retain, true);
    await Promise.all([client.endAsync(), publisher2.endAsync(), late.client.endAsync()]);
  } finally {
    await second.stop();
  }
});
