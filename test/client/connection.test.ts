import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type LocalBroker, startLocalBroker } from '../../src/bench/local-broker.js';
import { AmqpClientError } from '../../src/client/client-error.js';
import { type Connection, connect } from '../../src/client/connection.js';
import { EMPTY_RAW_PROPERTIES, encodeBasicProperties } from '../../src/codec/basic-properties.js';

// EVENTTER_TEST_AMQP_URL points the suite at another broker (e.g. RabbitMQ) instead of a spawned EventterMQ.
const external = process.env.EVENTTER_TEST_AMQP_URL;
let broker: LocalBroker | undefined;
let url: string;
let conn: Connection;
const unique = (s: string): string =>
  `client-test-${s}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** Collects `count` deliveries (copied) from a queue, then cancels. */
async function receive(c: Connection, queue: string, count: number, noAck: boolean): Promise<Buffer[]> {
  const ch = await c.createChannel();
  await ch.qos(50);
  const got: Buffer[] = [];
  let lastTag = 0;
  let ackedTag = 0;
  const done = new Promise<void>((resolve) => {
    void ch.consume(
      queue,
      (body, tag) => {
        got.push(Buffer.from(body));
        lastTag = tag;
        if (!noAck && got.length % 10 === 0) {
          ch.ack(tag, true);
          ackedTag = tag;
        }
        if (got.length === count) resolve();
      },
      { noAck },
    );
  });
  await done;
  // Acking a tag twice is a channel error (406), so only ack what the batches above did not.
  if (!noAck && lastTag !== ackedTag) ch.ack(lastTag, true);
  await ch.close();
  return got;
}

describe('lean AMQP client against a real broker', () => {
  before(async () => {
    if (external === undefined) {
      broker = await startLocalBroker();
      url = broker.url;
    } else {
      url = external;
    }
    conn = await connect({ url, heartbeat: 5 });
  });

  after(async () => {
    await conn?.close();
    await broker?.stop();
  });

  it('negotiates the connection and reads the server properties', () => {
    assert.ok(conn.isOpen);
    assert.ok(conn.frameMax >= 4096);
    assert.ok(conn.heartbeat > 0 && conn.heartbeat <= 5);
    assert.ok(conn.channelMax > 0);
    assert.ok(conn.serverProperties.product !== undefined);
  });

  it('publishes with confirms, then consumes with manual multiple-acks in order', async () => {
    const ch = await conn.createChannel();
    const queue = unique('confirm');
    await ch.queueDeclare(queue, { durable: true });
    await ch.confirmSelect();
    const props = encodeBasicProperties({ deliveryMode: 2 });
    for (let i = 0; i < 500; i++) ch.publish('', queue, Buffer.from(`message ${i}`), props);
    assert.equal(ch.published, 500);
    await ch.waitForConfirms();
    assert.equal(ch.unconfirmed, 0);
    assert.equal(ch.nacked, 0);
    const declared = await ch.queueDeclare(queue, { durable: true, passive: true });
    assert.equal(declared.messageCount, 500);

    const bodies = await receive(conn, queue, 500, false);
    assert.deepEqual(
      bodies.map((b) => b.toString()),
      Array.from({ length: 500 }, (_, i) => `message ${i}`),
    );
    // Everything was acked: nothing comes back after the consuming channel closed.
    const after = await ch.queueDeclare(queue, { durable: true, passive: true });
    assert.equal(after.messageCount, 0);
    assert.equal(await ch.queueDelete(queue), 0);
    await ch.close();
  });

  it('carries bodies larger than frame-max (split into several body frames) intact', async () => {
    const ch = await conn.createChannel();
    const queue = unique('large');
    await ch.queueDeclare(queue);
    const big = Buffer.alloc(conn.frameMax * 2 + 123);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    ch.publish('', queue, big, EMPTY_RAW_PROPERTIES);
    ch.publish('', queue, Buffer.alloc(0), EMPTY_RAW_PROPERTIES);
    const [got, empty] = await receive(conn, queue, 2, true);
    assert.ok(got.equals(big));
    assert.equal(empty.length, 0);
    await ch.queueDelete(queue);
    await ch.close();
  });

  it('routes through a declared exchange and binding, and purges', async () => {
    const ch = await conn.createChannel();
    const exchange = unique('ex');
    const queue = unique('bound');
    await ch.exchangeDeclare(exchange, 'direct');
    await ch.queueDeclare(queue);
    await ch.queueBind(queue, exchange, 'key');
    await ch.confirmSelect();
    ch.publish(exchange, 'key', Buffer.from('a'), EMPTY_RAW_PROPERTIES);
    ch.publish(exchange, 'other', Buffer.from('b'), EMPTY_RAW_PROPERTIES);
    ch.publish(exchange, 'key', Buffer.from('c'), EMPTY_RAW_PROPERTIES);
    await ch.waitForConfirms();
    assert.equal(await ch.queuePurge(queue), 2);
    await ch.queueDelete(queue);
    await ch.exchangeDelete(exchange);
    await ch.close();
  });

  it('turns a channel error into a typed rejection and keeps the connection usable', async () => {
    const ch = await conn.createChannel();
    await assert.rejects(
      ch.queueDeclare(unique('missing'), { passive: true }),
      (err) => err instanceof AmqpClientError && err.kind === 'channel' && err.replyCode === 404,
    );
    assert.equal(ch.isOpen, false);
    assert.throws(() => ch.publish('', 'x', Buffer.alloc(1), EMPTY_RAW_PROPERTIES), AmqpClientError);
    const again = await conn.createChannel();
    await again.queueDeclare(unique('after-error'), { exclusive: true });
    await again.close();
  });

  it('rejects bad credentials with a typed error', async () => {
    const bad = new URL(url);
    bad.password = 'wrong-password';
    await assert.rejects(connect({ url: bad.toString(), connectTimeoutMs: 5000 }), AmqpClientError);
  });
});
