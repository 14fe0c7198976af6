import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IClientOptions } from 'mqtt';
import type { IDisconnectPacket, IPublishPacket, ISubackPacket } from 'mqtt-packet';
import { type BrokerUnderTest, startBroker } from '../../helpers/broker-under-test.js';
import { connectMqtt, connectWithConnack, Inbox, MQTT_SKIP, RawMqtt } from '../../helpers/mqtt-client.js';
import { uniqueName } from '../../helpers/unique-name.js';

let broker: BrokerUnderTest;

before(async () => {
  broker = await startBroker({
    extraArgs: ['--mqtt-max-inflight', '100', '--mqtt-topic-alias-maximum', '10'],
  });
});

after(async () => {
  await broker.stop();
});

const v5 = (options: IClientOptions = {}) => connectMqtt(broker, { protocolVersion: 5, ...options });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('MQTT 5', { skip: MQTT_SKIP }, () => {
  it('announces its limits in CONNACK and assigns a client id when the client sends none', async () => {
    const { client, connack } = await connectWithConnack(broker, { protocolVersion: 5, clientId: '' });
    try {
      const props = connack.properties ?? {};
      assert.equal(props.receiveMaximum, 100);
      assert.equal(props.topicAliasMaximum, 10);
      assert.equal(props.maximumPacketSize, 16 * 1024 * 1024);
      assert.match(props.assignedClientIdentifier ?? '', /^eventter-/);
    } finally {
      await client.endAsync();
    }
  });

  it('resolves topic aliases and refuses one past the maximum (0x94)', async () => {
    const topic = uniqueName('alias');
    const client = await v5();
    const inbox = new Inbox(client);
    await client.subscribeAsync(topic, { qos: 1 });
    await client.publishAsync(topic, 'named', { qos: 1, properties: { topicAlias: 3 } });
    await client.publishAsync('', 'by alias', { qos: 1, properties: { topicAlias: 3 } });
    const received = await inbox.waitForCount(2);
    assert.deepEqual(
      received.map((m) => [m.topic, m.payload.toString()]),
      [
        [topic, 'named'],
        [topic, 'by alias'],
      ],
    );
    await client.endAsync();

    const raw = await RawMqtt.open(broker.mqttPort!, 5);
    await raw.connect();
    raw.send({
      cmd: 'publish',
      topic,
      payload: Buffer.from('x'),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 11 },
    });
    await raw.expectClosed();
    assert.equal(((await raw.next('disconnect')) as IDisconnectPacket).reasonCode, 0x94);
  });

  it('sends the identifiers of every matching subscription', async () => {
    const base = uniqueName('subid');
    const client = await v5();
    const inbox = new Inbox(client);
    await client.subscribeAsync(`${base}/#`, { qos: 1, properties: { subscriptionIdentifier: 7 } });
    await client.subscribeAsync(`${base}/x`, { qos: 1, properties: { subscriptionIdentifier: 8 } });
    await client.subscribeAsync(`${base}/y`, { qos: 1 });
    await client.publishAsync(`${base}/x`, 'both', { qos: 1 });
    await client.publishAsync(`${base}/y`, 'one', { qos: 1 });
    const [x, y] = await inbox.waitForCount(2);
    const ids = x.packet.properties?.subscriptionIdentifier;
    assert.deepEqual(Array.isArray(ids) ? [...ids].sort() : [ids], [7, 8]);
    assert.equal(y.packet.properties?.subscriptionIdentifier, 7);
    await client.endAsync();
  });

  it('does not send a client its own messages on a no-local subscription', async () => {
    const topic = uniqueName('nolocal');
    const client = await v5();
    const other = await v5();
    const inbox = new Inbox(client);
    await client.subscribeAsync(topic, { qos: 1, nl: true });
    await client.publishAsync(topic, 'mine', { qos: 1 });
    await other.publishAsync(topic, 'theirs', { qos: 1 });
    await inbox.waitForCount(1);
    await client.subscribeAsync(`${topic}-end`, { qos: 1 });
    await client.publishAsync(`${topic}-end`, 'end', { qos: 1 });
    await inbox.waitForTopic(`${topic}-end`);
    assert.deepEqual(
      inbox.messages.map((m) => m.payload.toString()),
      ['theirs', 'end'],
    );
    await Promise.all([client.endAsync(), other.endAsync()]);
  });

  it('keeps RETAIN on forwarded messages for retain-as-published subscriptions', async () => {
    const base = uniqueName('rap');
    const client = await v5();
    const inbox = new Inbox(client);
    await client.subscribeAsync(`${base}/kept`, { qos: 1, rap: true });
    await client.subscribeAsync(`${base}/cleared`, { qos: 1, rap: false });
    await client.publishAsync(`${base}/kept`, 'a', { qos: 1, retain: true });
    await client.publishAsync(`${base}/cleared`, 'b', { qos: 1, retain: true });
    const [kept, cleared] = await inbox.waitForCount(2);
    assert.equal(kept.packet.retain, true);
    assert.equal(cleared.packet.retain, false);
    await client.endAsync();
  });

  it('follows retain handling: 0 always, 1 only for a new subscription, 2 never', async () => {
    const topic = uniqueName('rh');
    const publisher = await v5();
    await publisher.publishAsync(topic, 'retained', { qos: 1, retain: true });
    const client = await v5();
    const inbox = new Inbox(client);
    await client.subscribeAsync(topic, { qos: 1, rh: 2 });
    await client.subscribeAsync(topic, { qos: 1, rh: 1 }); // replaces an existing subscription: nothing sent
    await client.subscribeAsync(`${topic}/other`, { qos: 1, rh: 1 });
    await client.subscribeAsync(topic, { qos: 0, rh: 0 });
    await publisher.publishAsync(`${topic}/end`, 'end', { qos: 1 });
    await client.subscribeAsync(`${topic}/end`, { qos: 1 });
    await publisher.publishAsync(`${topic}/end`, 'end', { qos: 1 });
    await inbox.waitForTopic(`${topic}/end`);
    assert.deepEqual(inbox.topics(), [topic, `${topic}/end`], 'one retained copy, from the rh 0 subscribe');
    await Promise.all([client.endAsync(), publisher.endAsync()]);
  });

  it('ends a session after its expiry interval, and at once when DISCONNECT sets it to 0', async () => {
    const clientId = uniqueName('expiry');
    const short = await v5({ clientId, clean: false, properties: { sessionExpiryInterval: 1 } });
    await short.subscribeAsync(uniqueName('expiry-topic'), { qos: 1 });
    await short.endAsync();
    const resumedQuickly = await connectWithConnack(broker, {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    assert.equal(resumedQuickly.connack.sessionPresent, true, 'within the interval');
    await resumedQuickly.client.endAsync();
    await sleep(2500);
    const expired = await connectWithConnack(broker, {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    assert.equal(expired.connack.sessionPresent, false, 'gone after the interval');
    await expired.client.subscribeAsync('x', { qos: 1 });
    await expired.client.endAsync(false, { properties: { sessionExpiryInterval: 0 } });
    const after0 = await connectWithConnack(broker, { protocolVersion: 5, clientId, clean: false });
    assert.equal(after0.connack.sessionPresent, false, 'DISCONNECT with expiry 0 ended it');
    await after0.client.endAsync();
  });

  it('never sends more unacknowledged QoS 1 messages than the client receive maximum', async () => {
    const topic = uniqueName('receive-max');
    const raw = await RawMqtt.open(broker.mqttPort!, 5);
    await raw.connect({ properties: { receiveMaximum: 2 } });
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
    await raw.next('suback');
    const publisher = await v5();
    for (let i = 0; i < 5; i++) await publisher.publishAsync(topic, `m${i}`, { qos: 1 });
    const first = (await raw.next('publish')) as IPublishPacket;
    await raw.next('publish');
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp'); // a round trip: a third PUBLISH would have come before this
    assert.equal(raw.packets.filter((p) => p.cmd === 'publish').length, 0, 'only two in flight');
    raw.send({ cmd: 'puback', messageId: first.messageId });
    const third = (await raw.next('publish')) as IPublishPacket;
    assert.equal(third.payload.toString(), 'm2');
    raw.close();
    await publisher.endAsync();
  });

  it('drops a message larger than the client maximum packet size, delivers the rest', async () => {
    const topic = uniqueName('max-packet');
    const client = await v5({ properties: { maximumPacketSize: 200 } });
    const inbox = new Inbox(client);
    await client.subscribeAsync(topic, { qos: 1 });
    const publisher = await v5();
    await publisher.publishAsync(topic, Buffer.alloc(1000, 1), { qos: 1 });
    await publisher.publishAsync(topic, 'small', { qos: 1 });
    const [message] = await inbox.waitForCount(1);
    assert.equal(message.payload.toString(), 'small');
    await Promise.all([client.endAsync(), publisher.endAsync()]);
  });

  it('does not deliver a message past its expiry to a session that was away', async () => {
    const clientId = uniqueName('msg-expiry');
    const topic = uniqueName('msg-expiry-topic');
    const away = await v5({ clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
    await away.subscribeAsync(topic, { qos: 1 });
    await away.endAsync();
    const publisher = await v5();
    await publisher.publishAsync(topic, 'short-lived', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await publisher.publishAsync(topic, 'long-lived', { qos: 1, properties: { messageExpiryInterval: 600 } });
    await sleep(1500);
    const back = await connectWithConnack(broker, {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 0 },
    });
    const [message] = await back.inbox.waitForCount(1);
    assert.equal(message.payload.toString(), 'long-lived');
    const remaining = message.packet.properties?.messageExpiryInterval ?? 0;
    assert.ok(remaining > 0 && remaining <= 600, `remaining expiry ${remaining}`);
    await Promise.all([back.client.endAsync(), publisher.endAsync()]);
  });

  it('publishes a will after its delay, and not at all when the client is back in time', async () => {
    const base = uniqueName('will-delay');
    const watcher = await v5();
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync(`${base}/#`, { qos: 1 });
    const will = (name: string) => ({
      topic: `${base}/${name}`,
      payload: Buffer.from(name),
      qos: 1 as const,
      retain: false,
      properties: { willDelayInterval: 1 },
    });
    const sessionFields = { clean: false, properties: { sessionExpiryInterval: 60 } };
    const late = await v5({ clientId: `${base}-late`, will: will('late'), ...sessionFields });
    const back = await v5({ clientId: `${base}-back`, will: will('back'), ...sessionFields });
    late.stream.destroy();
    back.stream.destroy();
    const returned = await v5({ clientId: `${base}-back`, ...sessionFields });
    const published = await inbox.waitForTopic(`${base}/late`, 10_000);
    assert.equal(published.payload.toString(), 'late');
    await sleep(500);
    await watcher.publishAsync(`${base}/end`, 'end', { qos: 1 });
    await inbox.waitForTopic(`${base}/end`);
    assert.deepEqual(
      inbox.topics(),
      [`${base}/late`, `${base}/end`],
      'no will for the client that came back',
    );
    await returned.endAsync(false, { properties: { sessionExpiryInterval: 0 } });
    await watcher.endAsync();
  });

  it('shares a $share/<group>/<filter> subscription among its members, each message to one of them', async () => {
    const base = uniqueName('shared');
    const members = [await v5(), await v5()];
    const watcher = await v5();
    const publisher = await v5();
    const inboxes = members.map((m) => new Inbox(m));
    const watched = new Inbox(watcher);
    for (const member of members) await member.subscribeAsync(`$share/workers/${base}/+`, { qos: 1 });
    await watcher.subscribeAsync(`${base}/+`, { qos: 1 });
    const count = 20;
    for (let i = 0; i < count; i++) await publisher.publishAsync(`${base}/job`, String(i), { qos: 1 });
    await watched.waitForCount(count);
    const deadline = Date.now() + 10_000;
    while (inboxes[0].messages.length + inboxes[1].messages.length < count && Date.now() < deadline)
      await sleep(20);
    const got = inboxes.flatMap((inbox) => inbox.messages.map((m) => Number(m.payload.toString())));
    assert.deepEqual(
      [...got].sort((a, b) => a - b),
      Array.from({ length: count }, (_, i) => i),
      'every message once across the group',
    );
    assert.ok(
      inboxes.every((inbox) => inbox.messages.length > 0),
      'both members got work',
    );
    assert.equal(inboxes[0].messages[0].topic, `${base}/job`);
    assert.equal(
      inboxes[0].messages[0].packet.properties?.subscriptionIdentifier,
      undefined,
      'no identifier was given',
    );
    // A member leaving hands the group's messages to the one left.
    await members[0].unsubscribeAsync(`$share/workers/${base}/+`);
    const before = inboxes[1].messages.length;
    await publisher.publishAsync(`${base}/job`, 'after', { qos: 1 });
    const last = await inboxes[1].waitForCount(before + 1);
    assert.equal(last[last.length - 1].payload.toString(), 'after');
    await Promise.all([...members, watcher, publisher].map((c) => c.endAsync()));
  });

  it('refuses no-local on a shared subscription (protocol error) and a malformed share name', async () => {
    const malformed = await RawMqtt.open(broker.mqttPort!, 5);
    await malformed.connect();
    malformed.send({
      cmd: 'subscribe',
      messageId: 2,
      subscriptions: [
        { topic: '$share/a+b/x', qos: 1, nl: false, rap: false, rh: 0 },
        { topic: '$share/nofilter', qos: 1, nl: false, rap: false, rh: 0 },
      ],
    });
    assert.deepEqual(((await malformed.next('suback')) as ISubackPacket).granted, [0x8f, 0x8f]);
    malformed.close();
    const raw = await RawMqtt.open(broker.mqttPort!, 5);
    await raw.connect();
    raw.send({
      cmd: 'subscribe',
      messageId: 3,
      subscriptions: [{ topic: '$share/g/x', qos: 1, nl: true, rap: false, rh: 0 }],
    });
    await raw.expectClosed();
    assert.equal(((await raw.next('disconnect')) as IDisconnectPacket).reasonCode, 0x82);
  });
});
