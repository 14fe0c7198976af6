import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ChannelModel } from 'amqplib';
import {
  channelClosed,
  collect,
  connect,
  expectChannelClose,
  openChannel,
  queueExists,
  waitFor,
} from '../../helpers/amqp-client.js';
import { type BrokerUnderTest, startBroker } from '../../helpers/broker-under-test.js';
import { ReplyCode } from '../../helpers/reply-codes.js';
import { uniqueName } from '../../helpers/unique-name.js';

let broker: BrokerUnderTest;
let conn: ChannelModel;
before(async () => {
  broker = await startBroker();
  conn = await connect(broker.url);
});
after(async () => {
  await conn.close().catch(() => {});
  await broker.stop();
});

/** Polls with basic.get-free passive declares until the queue holds `n` ready messages. */
async function waitForReady(queue: string, n: number): Promise<void> {
  const ch = await openChannel(conn);
  await waitFor(
    async () => (await ch.checkQueue(queue)).messageCount === n,
    `${queue} to hold ${n} messages`,
  );
  await ch.close();
}

describe('queues', () => {
  test('redeclaring with identical properties returns the same queue', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('q');
    const args = { 'x-message-ttl': 60_000 };
    const first = await ch.assertQueue(name, { durable: false, arguments: args });
    assert.deepEqual(first, { queue: name, messageCount: 0, consumerCount: 0 });
    const second = await ch.assertQueue(name, { durable: false, arguments: args });
    assert.equal(second.queue, name);
    await ch.deleteQueue(name);
    await ch.close();
  });

  for (const [what, original, changed] of [
    ['durable', { durable: false }, { durable: true }],
    ['auto-delete', { durable: false, autoDelete: false }, { durable: false, autoDelete: true }],
    ['x-message-ttl', { durable: false, messageTtl: 1000 }, { durable: false, messageTtl: 2000 }],
    ['x-message-ttl added', { durable: false }, { durable: false, messageTtl: 2000 }],
    ['x-expires', { durable: false, expires: 60_000 }, { durable: false, expires: 70_000 }],
  ] as const) {
    test(`redeclaring with a different ${what} fails with 406`, async () => {
      const ch = await openChannel(conn);
      const name = uniqueName('q');
      await ch.assertQueue(name, original);
      await expectChannelClose(ch.assertQueue(name, changed), ReplyCode.PRECONDITION_FAILED);
      const ch2 = await openChannel(conn);
      await ch2.deleteQueue(name);
      await ch2.close();
    });
  }

  test('redeclaring an exclusive queue as non-exclusive on the owning connection fails with 405', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('q');
    await ch.assertQueue(name, { exclusive: true, durable: false });
    // Surprise: RabbitMQ 3.10 answers a mismatched exclusive flag with 405 RESOURCE_LOCKED, not 406.
    await expectChannelClose(
      ch.assertQueue(name, { exclusive: false, durable: false }),
      ReplyCode.RESOURCE_LOCKED,
    );
    const ch2 = await openChannel(conn);
    await ch2.deleteQueue(name);
    await ch2.close();
  });

  test('passive declare of a missing queue fails with 404', async () => {
    const ch = await openChannel(conn);
    await expectChannelClose(ch.checkQueue(uniqueName('missing')), ReplyCode.NOT_FOUND);
  });

  test('an empty name gets a server-generated amq.gen- name', async () => {
    const ch = await openChannel(conn);
    const a = await ch.assertQueue('', { exclusive: true });
    const b = await ch.assertQueue('', { exclusive: true });
    assert.match(a.queue, /^amq\.gen-[A-Za-z0-9_-]+$/);
    assert.notEqual(a.queue, b.queue);
    await ch.close();
  });

  test('declare-ok reports message and consumer counts', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('q');
    await ch.assertQueue(name, { durable: false });
    for (let i = 0; i < 3; i++) ch.sendToQueue(name, Buffer.from(`m${i}`));
    await waitForReady(name, 3);
    const consumerCh = await openChannel(conn);
    await consumerCh.prefetch(1);
    await consumerCh.consume(name, () => {}, { noAck: false });
    await consumerCh.consume(name, () => {}, { noAck: false });
    // Each consumer holds one unacked message (prefetch 1), so one stays ready.
    const counted = await waitFor(async () => {
      const ok = await ch.assertQueue(name, { durable: false });
      return ok.messageCount === 1 ? ok : false;
    }, 'two messages to go unacked');
    assert.equal(counted.consumerCount, 2);
    const passive = await ch.checkQueue(name);
    assert.deepEqual(passive, { queue: name, messageCount: 1, consumerCount: 2 });
    await consumerCh.close();
    // Closing the channel returns unacked messages to the queue.
    await waitForReady(name, 3);
    assert.equal((await ch.checkQueue(name)).consumerCount, 0);
    await ch.deleteQueue(name);
    await ch.close();
  });

  test('an exclusive queue used from another connection fails with 405 RESOURCE_LOCKED', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('excl');
    await ch.assertQueue(name, { exclusive: true });
    const other = await connect(broker.url);
    try {
      await expectChannelClose((await openChannel(other)).checkQueue(name), ReplyCode.RESOURCE_LOCKED);
      await expectChannelClose(
        (await openChannel(other)).assertQueue(name, { exclusive: true }),
        ReplyCode.RESOURCE_LOCKED,
      );
      await expectChannelClose(
        (await openChannel(other)).consume(name, () => {}),
        ReplyCode.RESOURCE_LOCKED,
      );
      await expectChannelClose((await openChannel(other)).get(name), ReplyCode.RESOURCE_LOCKED);
      await expectChannelClose((await openChannel(other)).purgeQueue(name), ReplyCode.RESOURCE_LOCKED);
      await expectChannelClose((await openChannel(other)).deleteQueue(name), ReplyCode.RESOURCE_LOCKED);
      await expectChannelClose(
        (await openChannel(other)).bindQueue(name, 'amq.direct', 'k'),
        ReplyCode.RESOURCE_LOCKED,
      );
    } finally {
      await other.close().catch(() => {});
    }
    // Publishing into it from elsewhere is allowed; only the owner may use it.
    await ch.deleteQueue(name);
    await ch.close();
  });

  test('an exclusive queue disappears when its connection closes', async () => {
    const owner = await connect(broker.url);
    const name = uniqueName('excl');
    try {
      await (await openChannel(owner)).assertQueue(name, { exclusive: true });
      assert.equal(await queueExists(conn, name), true);
    } finally {
      await owner.close();
    }
    await waitFor(async () => !(await queueExists(conn, name)), 'exclusive queue to be deleted');
  });

  test('an auto-delete queue disappears after its last consumer cancels', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('autodel');
    await ch.assertQueue(name, { autoDelete: true, durable: false });
    const a = await ch.consume(name, () => {});
    const b = await ch.consume(name, () => {});
    await ch.cancel(a.consumerTag);
    assert.equal(await queueExists(conn, name), true, 'one consumer left');
    await ch.cancel(b.consumerTag);
    await waitFor(async () => !(await queueExists(conn, name)), 'auto-delete queue to be deleted');
    await ch.close();
  });

  test('an auto-delete queue that never had a consumer stays', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('autodel');
    await ch.assertQueue(name, { autoDelete: true, durable: false });
    assert.equal(await queueExists(conn, name), true);
    await ch.deleteQueue(name);
    await ch.close();
  });

  test('purge returns the number of messages removed', async () => {
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (let i = 0; i < 5; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`));
    await waitForReady(queue, 5);
    assert.deepEqual(await ch.purgeQueue(queue), { messageCount: 5 });
    assert.deepEqual(await ch.purgeQueue(queue), { messageCount: 0 });
    assert.equal(await ch.get(queue), false);
    await ch.close();
  });

  test('purge leaves unacked messages alone', async () => {
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (let i = 0; i < 3; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`));
    await waitForReady(queue, 3);
    const held = await ch.get(queue, { noAck: false });
    assert.ok(held);
    assert.deepEqual(await ch.purgeQueue(queue), { messageCount: 2 });
    ch.nack(held, false, true);
    await waitForReady(queue, 1);
    await ch.close();
  });

  test('delete if-empty on a non-empty queue fails with 406', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('q');
    await ch.assertQueue(name, { durable: false });
    ch.sendToQueue(name, Buffer.from('x'));
    await waitForReady(name, 1);
    await expectChannelClose(ch.deleteQueue(name, { ifEmpty: true }), ReplyCode.PRECONDITION_FAILED);
    const ch2 = await openChannel(conn);
    assert.deepEqual(await ch2.deleteQueue(name), { messageCount: 1 });
    await ch2.close();
  });

  test('delete if-unused on a queue with a consumer fails with 406', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('q');
    await ch.assertQueue(name, { durable: false });
    const consumerCh = await openChannel(conn);
    await consumerCh.consume(name, () => {});
    await expectChannelClose(ch.deleteQueue(name, { ifUnused: true }), ReplyCode.PRECONDITION_FAILED);
    await consumerCh.close();
    const ch2 = await openChannel(conn);
    await ch2.deleteQueue(name, { ifUnused: true, ifEmpty: true });
    assert.equal(await queueExists(conn, name), false);
    await ch2.close();
  });

  test('delete returns the message count and deleting a missing queue succeeds', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('q');
    await ch.assertQueue(name, { durable: false });
    for (let i = 0; i < 4; i++) ch.sendToQueue(name, Buffer.from(`m${i}`));
    await waitForReady(name, 4);
    assert.deepEqual(await ch.deleteQueue(name), { messageCount: 4 });
    // RabbitMQ answers delete-ok with 0 for a queue that does not exist.
    assert.deepEqual(await ch.deleteQueue(name), { messageCount: 0 });
    await ch.close();
  });

  test('x-message-ttl expires messages', async () => {
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true, messageTtl: 200 });
    ch.sendToQueue(queue, Buffer.from('old'));
    await waitForReady(queue, 1);
    await waitFor(async () => (await ch.checkQueue(queue)).messageCount === 0, 'message to expire', 3_000);
    assert.equal(await ch.get(queue), false);
    ch.sendToQueue(queue, Buffer.from('fresh'));
    const fresh = await waitFor(() => ch.get(queue), 'fresh message');
    assert.equal(fresh.content.toString(), 'fresh');
    await ch.close();
  });

  test('x-message-ttl 0 drops a message no consumer can take at once', async () => {
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true, messageTtl: 0 });
    ch.sendToQueue(queue, Buffer.from('gone'));
    // A round trip on the same channel orders the publish before the check.
    await ch.checkQueue(queue);
    assert.equal((await ch.checkQueue(queue)).messageCount, 0);
    await ch.close();
  });

  test('per-message expiration expires only that message', async () => {
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('short'), { expiration: '200' });
    ch.sendToQueue(queue, Buffer.from('long'), { expiration: '60000' });
    ch.sendToQueue(queue, Buffer.from('forever'));
    await waitForReady(queue, 2);
    const msgs = await collect(ch, queue, 2);
    assert.deepEqual(
      msgs.map((m) => m.content.toString()),
      ['long', 'forever'],
    );
    assert.equal(msgs[0].properties.expiration, '60000', 'expiration property is delivered as sent');
    await ch.close();
  });

  test('the shorter of queue TTL and message expiration wins', async () => {
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true, messageTtl: 60_000 });
    ch.sendToQueue(queue, Buffer.from('short'), { expiration: '150' });
    ch.sendToQueue(queue, Buffer.from('stays'));
    await waitForReady(queue, 1);
    const [m] = await collect(ch, queue, 1);
    assert.equal(m.content.toString(), 'stays');
    await ch.close();
  });

  test('an invalid per-message expiration closes the channel with 406', async () => {
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const ch2 = await openChannel(conn);
    const closed = channelClosed(ch2);
    ch2.sendToQueue(queue, Buffer.from('x'), { expiration: 'soon' });
    await expectChannelClose(closed, ReplyCode.PRECONDITION_FAILED);
    await ch.close();
  });

  test('x-expires deletes an unused queue', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('expiring');
    await ch.assertQueue(name, { durable: false, expires: 200 });
    assert.equal(await queueExists(conn, name), true);
    // Surprise: in RabbitMQ even a passive declare counts as use and restarts the x-expires timer, so poll
    // less often than the expiry.
    await waitFor(async () => !(await queueExists(conn, name)), 'x-expires queue to go', 4_000, 450);
    await ch.close();
  });

  test('invalid argument types fail with 406', async () => {
    for (const args of [
      { 'x-message-ttl': 'soon' },
      { 'x-message-ttl': -1 },
      { 'x-expires': 0 },
      { 'x-max-length': 'lots' },
    ]) {
      const ch = await openChannel(conn);
      await expectChannelClose(
        ch.assertQueue(uniqueName('bad'), { arguments: args }),
        ReplyCode.PRECONDITION_FAILED,
      );
    }
  });

  test("a queue name starting with 'amq.' fails with 403", async () => {
    const ch = await openChannel(conn);
    await expectChannelClose(ch.assertQueue(uniqueName('amq.mine')), ReplyCode.ACCESS_REFUSED);
  });

  test('a 255-byte name is accepted; queues are per name, names are case-sensitive', async () => {
    const ch = await openChannel(conn);
    const long = uniqueName('q').padEnd(255, 'x');
    await ch.assertQueue(long, { exclusive: true });
    const lower = uniqueName('case');
    await ch.assertQueue(lower, { exclusive: true });
    await ch.assertQueue(lower.toUpperCase(), { exclusive: true });
    ch.sendToQueue(lower, Buffer.from('l'));
    await waitForReady(lower, 1);
    assert.equal((await ch.checkQueue(lower.toUpperCase())).messageCount, 0);
    await ch.close();
  });

  test('x-max-length drops from the head by default', async () => {
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true, maxLength: 2 });
    for (const body of ['a', 'b', 'c']) ch.sendToQueue(queue, Buffer.from(body));
    await waitForReady(queue, 2);
    const msgs = await collect(ch, queue, 2);
    assert.deepEqual(
      msgs.map((m) => m.content.toString()),
      ['b', 'c'],
    );
    await ch.close();
  });
});
