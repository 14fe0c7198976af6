import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import type { Channel } from 'amqplib';
import { collect, connect, openChannel, openConfirmChannel } from '../../helpers/amqp-client.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../../helpers/broker-under-test.js';

// A durable classic queue spread over several sealed segments recovers (from the segments' entry tables) the
// same messages, counts, order and byte totals it had before a restart, graceful or kill -9.
const SKIP_REASON = 'needs the EventterMQ process (EVENTTER_TEST_AMQP_URL points at an external broker)';
const ARGS = ['--segment-max-bytes', '1048576'];
const ORDER_Q = 'recovery.order';
const BYTES_Q = 'recovery.bytes';
const MESSAGES = 5000;
const ACKED = 400;
const BYTES_LIMIT = 100_000;
const BYTES_BODY = 1000;

async function restart(broker: BrokerUnderTest, how: 'SIGTERM' | 'kill -9'): Promise<BrokerUnderTest> {
  if (how === 'SIGTERM') assert.equal(await broker.stop('SIGTERM'), 0);
  else await broker.kill9();
  return startBroker({ dataDir: broker.dataDir, extraArgs: ARGS });
}

/**
 * The queue's ready messages in delivery order (message ids), read without losing them: consumed unacked, then
 * all nacked with requeue, which puts every one back at its original place.
 */
async function snapshot(ch: Channel, queue: string): Promise<string[]> {
  const { messageCount } = await ch.checkQueue(queue);
  const got = await collect(ch, queue, messageCount, { noAck: false, timeoutMs: 30_000 });
  ch.nackAll(true);
  assert.equal((await ch.checkQueue(queue)).messageCount, messageCount, 'all back after the requeue');
  return got.map((m) => String(m.properties.messageId));
}

test('counts, delivery order and byte totals of a multi-segment queue are the same after SIGTERM and kill -9', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  let broker = await startBroker({ extraArgs: ARGS });
  try {
    let conn = await connect(broker.url);
    const setup = await openConfirmChannel(conn);
    // Priorities, per-message TTLs (far off: they must survive, with their expiry), bodies of many sizes, and
    // transient messages in the durable queue (gone after a restart).
    await setup.assertQueue(ORDER_Q, { durable: true, arguments: { 'x-max-priority': 5 } });
    for (let i = 0; i < MESSAGES; i++) {
      setup.sendToQueue(ORDER_Q, Buffer.alloc(100 + ((i * 37) % 800), i & 0xff), {
        messageId: String(i),
        persistent: i % 10 !== 7,
        priority: i % 7, // 6 counts as 5
        expiration: i % 4 === 0 ? '3600000' : undefined,
      });
    }
    // x-max-length-bytes with drop-head: after a restart the byte total must be right for the next publish.
    await setup.assertQueue(BYTES_Q, { durable: true, arguments: { 'x-max-length-bytes': BYTES_LIMIT } });
    for (let i = 0; i < 150; i++)
      setup.sendToQueue(BYTES_Q, Buffer.alloc(BYTES_BODY), { messageId: String(i), persistent: true });
    await setup.waitForConfirms();
    // Ack the first ACKED in delivery order (the highest priorities, from every segment).
    const acker = await openChannel(conn);
    await acker.prefetch(ACKED);
    const acked = await collect(acker, ORDER_Q, ACKED, { noAck: false, timeoutMs: 30_000 });
    for (const m of acked) acker.ack(m);
    let ch: Channel = await openChannel(conn);
    const before = await snapshot(ch, ORDER_Q);
    assert.equal(before.length, MESSAGES - ACKED);
    assert.equal((await ch.checkQueue(BYTES_Q)).messageCount, BYTES_LIMIT / BYTES_BODY);
    await conn.close();

    let expected = before.filter((id) => Number(id) % 10 !== 7);
    for (const how of ['SIGTERM', 'kill -9'] as const) {
      broker = await restart(broker, how);
      conn = await connect(broker.url);
      ch = await openChannel(conn);
      assert.equal(
        (await ch.checkQueue(ORDER_Q)).messageCount,
        expected.length,
        `${how}: queue.declare count`,
      );
      const after = await snapshot(ch, ORDER_Q);
      assert.deepEqual(after, expected, `${how}: the same messages in the same order`);
      expected = after;
      // Still exactly at the byte limit: one more message drops exactly one head.
      assert.equal((await ch.checkQueue(BYTES_Q)).messageCount, BYTES_LIMIT / BYTES_BODY);
      const pub = await openConfirmChannel(conn);
      pub.sendToQueue(BYTES_Q, Buffer.alloc(BYTES_BODY), { messageId: `after ${how}`, persistent: true });
      await pub.waitForConfirms();
      const heads = await snapshot(ch, BYTES_Q);
      assert.equal(heads.length, BYTES_LIMIT / BYTES_BODY, `${how}: the byte total was recovered`);
      assert.equal(heads[heads.length - 1], `after ${how}`);
      await conn.close();
    }
  } finally {
    await broker.kill9();
    fs.rmSync(broker.dataDir, { recursive: true, force: true });
  }
});
