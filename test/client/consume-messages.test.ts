import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type LocalBroker, startLocalBroker } from '../../src/bench/local-broker.js';
import type { DeliveredMessage } from '../../src/client/channel.js';
import { AmqpClientError } from '../../src/client/client-error.js';
import { type Connection, connect } from '../../src/client/connection.js';
import { encodeBasicProperties } from '../../src/codec/basic-properties.js';

const external = process.env.EVENTTER_TEST_AMQP_URL;
let broker: LocalBroker | undefined;
let conn: Connection;
const unique = (s: string): string =>
  `consume-messages-${s}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

function nextMessages(n: number): {
  got: DeliveredMessage[];
  done: Promise<void>;
  push: (m: DeliveredMessage) => void;
} {
  const got: DeliveredMessage[] = [];
  let resolve = () => {};
  const done = new Promise<void>((r) => {
    resolve = r;
  });
  return {
    got,
    done,
    push: (m) => {
      got.push({ ...m, body: Buffer.from(m.body) });
      if (got.length === n) resolve();
    },
  };
}

describe('lean client: consumeMessages, consume arguments, onCancel', () => {
  before(async () => {
    broker = external === undefined ? await startLocalBroker() : undefined;
    conn = await connect({ url: external ?? broker?.url });
  });

  after(async () => {
    await conn?.close();
    await broker?.stop();
  });

  it('delivers exchange, routing key and decoded properties, and passes consume arguments', async () => {
    const ch = await conn.createChannel();
    const exchange = unique('ex');
    const stream = unique('stream');
    await ch.exchangeDeclare(exchange, 'topic');
    await ch.queueDeclare(stream, { durable: true, arguments: { 'x-queue-type': 'stream' } });
    await ch.queueBind(stream, exchange, '#');
    await ch.confirmSelect();
    const props = encodeBasicProperties({ messageId: 'm1', timestamp: 1_714_564_800, headers: { n: 7 } });
    for (let i = 0; i < 3; i++) ch.publish(exchange, `key.${i}`, Buffer.from(`body ${i}`), props);
    await ch.waitForConfirms();

    const reader = await conn.createChannel();
    await reader.qos(10);
    const { got, done, push } = nextMessages(2);
    await reader.consumeMessages(
      stream,
      (m) => {
        push(m);
        reader.ack(m.deliveryTag);
      },
      { arguments: { 'x-stream-offset': 1 } },
    );
    await done;
    assert.deepEqual(
      got.map((m) => [
        m.exchange,
        m.routingKey,
        m.body.toString(),
        Number(m.properties.headers?.['x-stream-offset']),
      ]),
      [
        [exchange, 'key.1', 'body 1', 1],
        [exchange, 'key.2', 'body 2', 2],
      ],
    );
    assert.equal(got[0].properties.messageId, 'm1');
    assert.equal(got[0].properties.timestamp, 1_714_564_800);
    assert.equal(got[0].properties.headers?.n, 7);
    assert.equal(got[0].redelivered, false);
    await reader.close();
    await ch.queueDelete(stream);
    await ch.exchangeDelete(exchange);
    await ch.close();
  });

  it('calls onCancel with null when the broker cancels, and with the error when the channel closes', async () => {
    const ch = await conn.createChannel();
    const queue = unique('q');
    await ch.queueDeclare(queue);
    const cancelled: (Error | null)[] = [];
    await ch.consume(queue, () => {}, { onCancel: (reason) => cancelled.push(reason) });
    const other = await conn.createChannel();
    await other.queueDelete(queue);
    for (let i = 0; i < 100 && cancelled.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(cancelled, [null]);

    await ch.queueDeclare(queue);
    const closedWith: (Error | null)[] = [];
    await ch.consumeMessages(queue, () => {}, { onCancel: (reason) => closedWith.push(reason) });
    await assert.rejects(ch.queueDeclare(unique('missing'), { passive: true }));
    assert.equal(closedWith.length, 1);
    assert.ok(closedWith[0] instanceof AmqpClientError && closedWith[0].replyCode === 404);
    await other.queueDelete(queue);
    await other.close();
  });
});
