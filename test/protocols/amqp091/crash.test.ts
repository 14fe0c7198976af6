import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChannelModel } from 'amqplib';
import { collect, connect, openChannel, openConfirmChannel, sleep } from '../../helpers/amqp-client.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../../helpers/broker-under-test.js';

const SKIP_REASON = 'needs the EventterMQ process (EVENTTER_TEST_AMQP_URL points at an external broker)';
const CYCLES = 3;
const PUBLISH_FOR_MS = 1_500;
const BATCH = 50;
const EXCHANGE = 'crash.ex';
const QUEUE = 'crash.q';
const KEY = 'crash';

/**
 * Publishes persistent, confirmed messages as fast as confirms allow until the connection dies.
 * Records each id whose confirm (ack) arrived; a nack or a lost confirm leaves it unconfirmed.
 */
async function publishUntilKilled(conn: ChannelModel, nextId: { value: number }, confirmed: Set<number>) {
  const ch = await openConfirmChannel(conn);
  try {
    for (;;) {
      for (let i = 0; i < BATCH; i++) {
        const id = nextId.value++;
        ch.publish(
          EXCHANGE,
          KEY,
          Buffer.from(`msg-${id}`),
          { persistent: true, messageId: String(id) },
          (err) => {
            if (err === null || err === undefined) confirmed.add(id);
          },
        );
      }
      await ch.waitForConfirms();
    }
  } catch {
    // The broker was killed under us: expected.
  }
}

test('kill -9 mid-publish loses no confirmed message and duplicates none (3 cycles)', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  const confirmed = new Set<number>();
  const nextId = { value: 0 };
  let broker: BrokerUnderTest = await startBroker();
  const dataDir = broker.dataDir;
  try {
    const setup = await connect(broker.url);
    const ch = await openChannel(setup);
    await ch.assertExchange(EXCHANGE, 'direct', { durable: true });
    await ch.assertQueue(QUEUE, { durable: true });
    await ch.bindQueue(QUEUE, EXCHANGE, KEY);
    await setup.close();

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const conn = await connect(broker.url);
      const publishing = publishUntilKilled(conn, nextId, confirmed);
      await sleep(PUBLISH_FOR_MS);
      await broker.kill9();
      await publishing;
      await conn.close().catch(() => {});
      broker = await startBroker({ dataDir });
    }

    assert.ok(confirmed.size > 0, 'some messages were confirmed before the kills');
    const conn = await connect(broker.url);
    const consumer = await openChannel(conn);
    const { messageCount } = await consumer.checkQueue(QUEUE);
    assert.ok(
      messageCount >= confirmed.size,
      `queue holds ${messageCount} messages but ${confirmed.size} were confirmed`,
    );
    const msgs = await collect(consumer, QUEUE, messageCount, { timeoutMs: 30_000 });
    const seen = new Map<number, number>();
    for (const m of msgs) {
      const id = Number(m.properties.messageId);
      assert.equal(m.content.toString(), `msg-${id}`, 'body matches its id');
      assert.ok(id >= 0 && id < nextId.value, `unknown id ${id}`);
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    for (const [id, count] of seen) assert.equal(count, 1, `message ${id} delivered ${count} times`);
    const missing = [...confirmed].filter((id) => !seen.has(id));
    t.diagnostic(
      `${CYCLES} kill -9 cycles: ${confirmed.size} confirmed, ${seen.size} recovered, ${missing.length} lost`,
    );
    assert.deepEqual(missing.slice(0, 20), [], `${missing.length} confirmed messages lost`);

    // Definitions and the binding are back: a publish through the exchange still reaches the queue.
    const pub = await openConfirmChannel(conn);
    pub.publish(EXCHANGE, KEY, Buffer.from('after-crash'), { persistent: true });
    await pub.waitForConfirms();
    const [after] = await collect(pub, QUEUE, 1);
    assert.equal(after.content.toString(), 'after-crash');
    await conn.close();
  } finally {
    await broker.stop();
  }
});
