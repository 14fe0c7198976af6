import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Channel, ChannelModel, ConsumeMessage, GetMessage, Message } from 'amqplib';
import {
  channelClosed,
  collect,
  connect,
  connectionClosed,
  expectChannelClose,
  expectConnectionClose,
  getOne,
  openChannel,
  openConfirmChannel,
  sleep,
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

// amqplib has no API for channel.flow or tx.*, but its channel exposes the raw RPC; ids are (class << 16) | method.
const method = (classId: number, methodId: number) => (classId << 16) | methodId;
const CHANNEL_FLOW = method(20, 20);
const CHANNEL_FLOW_OK = method(20, 21);
const TX_SELECT = method(90, 10);
const TX_SELECT_OK = method(90, 11);
const TX_COMMIT = method(90, 20);
const TX_COMMIT_OK = method(90, 21);
const TX_ROLLBACK = method(90, 30);
const TX_ROLLBACK_OK = method(90, 31);

interface RawRpc {
  rpc(method: number, fields: object, expect: number): Promise<Record<string, unknown>>;
}
const rpc = (ch: Channel, m: number, fields: object, expect: number) =>
  (ch as unknown as RawRpc).rpc(m, fields, expect);

/** After deliveries stop growing, how many arrived: waits for `atLeast`, then a short settle for extras. */
async function settledCount(count: () => number, atLeast: number): Promise<number> {
  await waitFor(() => count() >= atLeast, `${atLeast} deliveries`);
  // Extra deliveries beyond the prefetch window would arrive promptly; give them a moment to show.
  await sleep(150);
  return count();
}

async function freshQueue(ch: Channel): Promise<string> {
  return (await ch.assertQueue('', { exclusive: true })).queue;
}

async function fill(queue: string, n: number, prefix = 'm'): Promise<void> {
  const confirm = await openConfirmChannel(conn);
  for (let i = 0; i < n; i++) confirm.sendToQueue(queue, Buffer.from(`${prefix}${i}`));
  await confirm.waitForConfirms();
  await confirm.close();
}

const bodies = (msgs: Message[]) => msgs.map((m) => m.content.toString());

describe('publish and confirm', () => {
  test('mandatory unroutable: basic.return arrives before the confirm ack', async () => {
    const ch = await openConfirmChannel(conn);
    const events: string[] = [];
    let returned: Message | undefined;
    ch.on('return', (msg: Message) => {
      events.push('return');
      returned = msg;
    });
    const key = uniqueName('nowhere');
    await new Promise<void>((resolve, reject) => {
      ch.publish('amq.direct', key, Buffer.from('lost'), { mandatory: true, messageId: 'r1' }, (err) => {
        events.push(err ? 'nack' : 'ack');
        if (err) reject(err);
        else resolve();
      });
    });
    assert.deepEqual(events, ['return', 'ack']);
    assert.ok(returned);
    const fields = returned.fields as unknown as Record<string, unknown>;
    assert.equal(fields.replyCode, ReplyCode.NO_ROUTE);
    assert.equal(fields.replyText, 'NO_ROUTE');
    assert.equal(fields.exchange, 'amq.direct');
    assert.equal(fields.routingKey, key);
    assert.equal(returned.content.toString(), 'lost');
    assert.equal(returned.properties.messageId, 'r1');
    await ch.close();
  });

  test('confirms ack routed and unroutable (non-mandatory) messages', async () => {
    const ch = await openConfirmChannel(conn);
    const queue = await freshQueue(ch);
    const acked: number[] = [];
    let returns = 0;
    ch.on('return', () => returns++);
    const publishes: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) {
      const target = i % 2 === 0 ? queue : uniqueName('nowhere');
      publishes.push(
        new Promise<void>((resolve, reject) => {
          ch.sendToQueue(target, Buffer.from(String(i)), {}, (err) => {
            if (err) return reject(err);
            acked.push(i);
            resolve();
          });
        }),
      );
    }
    await Promise.all(publishes);
    // RabbitMQ confirms unroutable messages at once and routed ones after the queue accepts them, so the
    // acks may arrive out of publish order; every message must be acked exactly once.
    assert.deepEqual(
      [...acked].sort((x, y) => x - y),
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.equal(returns, 0, 'no return without mandatory');
    assert.equal((await ch.checkQueue(queue)).messageCount, 25);
    await ch.close();
  });

  test('mandatory routed message is not returned', async () => {
    const ch = await openConfirmChannel(conn);
    const queue = await freshQueue(ch);
    let returns = 0;
    ch.on('return', () => returns++);
    ch.sendToQueue(queue, Buffer.from('ok'), { mandatory: true });
    await ch.waitForConfirms();
    assert.equal(returns, 0);
    await ch.close();
  });

  test('a large message (1 MiB) spanning many frames round-trips intact', async () => {
    const ch = await openConfirmChannel(conn);
    const queue = await freshQueue(ch);
    const body = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < body.length; i += 4) body.writeUInt32BE(i, i);
    ch.sendToQueue(queue, body);
    ch.sendToQueue(queue, Buffer.alloc(0));
    await ch.waitForConfirms();
    const [big, empty] = await collect(ch, queue, 2);
    assert.equal(big.content.length, body.length);
    assert.ok(big.content.equals(body));
    assert.equal(empty.content.length, 0, 'an empty body is delivered as empty');
    await ch.close();
  });

  test('all 14 basic properties and rich headers round-trip', async () => {
    const ch = await openConfirmChannel(conn);
    const queue = await freshQueue(ch);
    const timestamp = 1_700_000_000;
    const headers = {
      str: 'text',
      int8: 7,
      int16: 3000,
      int32: 100_000,
      int64: 2 ** 40,
      negative: -5,
      double: 1.5,
      bool: true,
      boolFalse: false,
      nil: null,
      bytes: Buffer.from([0, 1, 2, 255]),
      nested: { inner: { deep: 'yes', n: 1 }, list: [1, 'two', { three: 3 }] },
      array: ['a', 2, true, [3, 4]],
      emptyTable: {},
      emptyArray: [],
      when: { '!': 'timestamp', value: timestamp },
      unicode: 'zażółć ✓',
    };
    ch.sendToQueue(queue, Buffer.from('props'), {
      contentType: 'application/json',
      contentEncoding: 'gzip',
      headers,
      deliveryMode: 2,
      priority: 5,
      correlationId: 'corr-1',
      replyTo: 'reply.queue',
      expiration: '60000',
      messageId: 'msg-1',
      timestamp,
      type: 'order.created',
      userId: 'guest',
      appId: 'tests',
    });
    // cluster-id, the 14th, is deprecated and amqplib never sends it, so 13 are checked here.
    await ch.waitForConfirms();
    const m = await getOne(ch, queue);
    const p = m.properties;
    assert.equal(p.contentType, 'application/json');
    assert.equal(p.contentEncoding, 'gzip');
    assert.equal(p.deliveryMode, 2);
    assert.equal(p.priority, 5);
    assert.equal(p.correlationId, 'corr-1');
    assert.equal(p.replyTo, 'reply.queue');
    assert.equal(p.expiration, '60000');
    assert.equal(p.messageId, 'msg-1');
    assert.equal(p.timestamp, timestamp);
    assert.equal(p.type, 'order.created');
    assert.equal(p.userId, 'guest');
    assert.equal(p.appId, 'tests');
    const h = p.headers as Record<string, unknown>;
    assert.equal(h.str, 'text');
    assert.equal(h.int8, 7);
    assert.equal(h.int16, 3000);
    assert.equal(h.int32, 100_000);
    assert.equal(h.int64, 2 ** 40);
    assert.equal(h.negative, -5);
    assert.equal(h.double, 1.5);
    assert.equal(h.bool, true);
    assert.equal(h.boolFalse, false);
    assert.equal(h.nil, null);
    assert.deepEqual(h.bytes, Buffer.from([0, 1, 2, 255]));
    assert.deepEqual(h.nested, { inner: { deep: 'yes', n: 1 }, list: [1, 'two', { three: 3 }] });
    assert.deepEqual(h.array, ['a', 2, true, [3, 4]]);
    assert.deepEqual(h.emptyTable, {});
    assert.deepEqual(h.emptyArray, []);
    assert.deepEqual(h.when, { '!': 'timestamp', value: timestamp });
    assert.equal(h.unicode, 'zażółć ✓');
    await ch.close();
  });

  test('a user-id other than the authenticated user is refused with 406', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    const ch2 = await openChannel(conn);
    const closed = channelClosed(ch2);
    ch2.sendToQueue(queue, Buffer.from('x'), { userId: 'someone-else' });
    await expectChannelClose(closed, ReplyCode.PRECONDITION_FAILED);
    await ch.close();
  });
});

describe('consume', () => {
  test('consume delivers in order with consumer tag, then cancel stops delivery', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 3);
    const got: ConsumeMessage[] = [];
    const { consumerTag } = await ch.consume(queue, (m) => m && got.push(m), { noAck: true });
    assert.match(consumerTag, /^amq\.ctag-/);
    await waitFor(() => got.length === 3, '3 deliveries');
    assert.deepEqual(bodies(got), ['m0', 'm1', 'm2']);
    assert.equal(got[0].fields.consumerTag, consumerTag);
    assert.equal(got[0].fields.redelivered, false);
    assert.equal(got[0].fields.exchange, '');
    assert.equal(got[0].fields.routingKey, queue);
    assert.deepEqual(
      got.map((m) => m.fields.deliveryTag),
      [1, 2, 3],
    );
    assert.deepEqual(await ch.cancel(consumerTag), { consumerTag });
    await fill(queue, 1, 'after');
    assert.equal((await ch.checkQueue(queue)).messageCount, 1);
    assert.equal(got.length, 3);
    await ch.close();
  });

  test('a client-chosen consumer tag is used; round-robin between two consumers', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    const byTag = new Map<string, number>();
    const onMsg = (m: ConsumeMessage | null) => {
      if (m) byTag.set(m.fields.consumerTag, (byTag.get(m.fields.consumerTag) ?? 0) + 1);
    };
    await ch.consume(queue, onMsg, { noAck: true, consumerTag: 'alpha' });
    await ch.consume(queue, onMsg, { noAck: true, consumerTag: 'beta' });
    await fill(queue, 10);
    await waitFor(() => (byTag.get('alpha') ?? 0) + (byTag.get('beta') ?? 0) === 10, '10 deliveries');
    assert.equal(byTag.get('alpha'), 5);
    assert.equal(byTag.get('beta'), 5);
    await ch.close();
  });

  test('an exclusive consumer blocks other consumers with 403, and cannot join an existing one', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await ch.consume(queue, () => {}, { exclusive: true });
    await expectChannelClose(
      (await openChannel(conn)).consume(queue, () => {}),
      ReplyCode.ACCESS_REFUSED,
    );
    const other = await freshQueue(ch);
    await ch.consume(other, () => {});
    await expectChannelClose(
      (await openChannel(conn)).consume(other, () => {}, { exclusive: true }),
      ReplyCode.ACCESS_REFUSED,
    );
    await ch.close();
  });

  test('a duplicate consumer tag on one channel closes the connection with 530', async () => {
    const own = await connect(broker.url);
    try {
      const closed = connectionClosed(own);
      closed.catch(() => {});
      const ch = await openChannel(own);
      const queue = await freshQueue(ch);
      await ch.consume(queue, () => {}, { consumerTag: 'dup' });
      const second = ch.consume(queue, () => {}, { consumerTag: 'dup' });
      second.catch(() => {});
      await expectConnectionClose(closed, ReplyCode.NOT_ALLOWED);
    } finally {
      await own.close().catch(() => {});
    }
  });

  test('deleting the queue sends the consumer a basic.cancel', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    let cancelled = false;
    await ch.consume(queue, (m) => {
      if (m === null) cancelled = true;
    });
    const other = await openChannel(conn);
    await other.deleteQueue(queue);
    await waitFor(() => cancelled, 'server-sent basic.cancel');
    // The channel stays usable.
    await ch.assertQueue('', { exclusive: true });
    await ch.close();
    await other.close();
  });

  test('consuming from a missing queue fails with 404', async () => {
    const ch = await openChannel(conn);
    await expectChannelClose(
      ch.consume(uniqueName('missing'), () => {}),
      ReplyCode.NOT_FOUND,
    );
  });

  test('cancelling an unknown consumer tag is ok', async () => {
    const ch = await openChannel(conn);
    assert.deepEqual(await ch.cancel('never-was'), { consumerTag: 'never-was' });
    await ch.close();
  });
});

describe('prefetch', () => {
  test('per-consumer prefetch limits each consumer separately', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 10);
    await ch.prefetch(2, false);
    let a = 0;
    let b = 0;
    await ch.consume(queue, () => a++, { noAck: false });
    await ch.consume(queue, () => b++, { noAck: false });
    assert.equal(await settledCount(() => a + b, 4), 4);
    assert.equal(a, 2);
    assert.equal(b, 2);
    await ch.close();
  });

  test('global prefetch limits the whole channel', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 10);
    await ch.prefetch(3, true);
    let n = 0;
    await ch.consume(queue, () => n++, { noAck: false });
    await ch.consume(queue, () => n++, { noAck: false });
    assert.equal(await settledCount(() => n, 3), 3);
    await ch.close();
  });

  test('acking frees prefetch credit', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 5);
    await ch.prefetch(1);
    const got: ConsumeMessage[] = [];
    await ch.consume(queue, (m) => m && got.push(m), { noAck: false });
    assert.equal(await settledCount(() => got.length, 1), 1);
    ch.ack(got[0]);
    assert.equal(await settledCount(() => got.length, 2), 2);
    ch.ack(got[1], true);
    await waitFor(() => got.length === 3, 'third delivery');
    assert.deepEqual(bodies(got), ['m0', 'm1', 'm2']);
    await ch.close();
  });

  test('prefetch does not limit no-ack consumers', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 6);
    await ch.prefetch(1);
    const got = await collect(ch, queue, 6, { noAck: true });
    assert.equal(got.length, 6);
    await ch.close();
  });
});

describe('ack, nack, reject', () => {
  async function deliveries(ch: Channel, queue: string, n: number): Promise<ConsumeMessage[]> {
    const got: ConsumeMessage[] = [];
    await ch.consume(queue, (m) => m && got.push(m), { noAck: false });
    await waitFor(() => got.length >= n, `${n} deliveries`);
    return got;
  }

  test('ack multiple settles everything up to the tag', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 4);
    const got = await deliveries(ch, queue, 4);
    ch.ack(got[2], true); // settles m0..m2
    await ch.close(); // m3 returns to the queue
    const ch2 = await openChannel(conn);
    const left = await getOne(ch2, queue);
    assert.equal(left.content.toString(), 'm3');
    assert.equal(left.fields.redelivered, true);
    assert.equal(await ch2.get(queue), false);
    await ch2.close();
  });

  test('reject with requeue redelivers with the redelivered flag; without requeue drops', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 2);
    const a = await getOne(ch, queue, false);
    const b = await getOne(ch, queue, false);
    assert.equal(a.fields.redelivered, false);
    ch.reject(a, true);
    ch.reject(b, false);
    const again = await waitFor(() => ch.get(queue, { noAck: true }), 'requeued message');
    assert.equal(again.content.toString(), 'm0');
    assert.equal(again.fields.redelivered, true);
    assert.equal(await ch.get(queue), false);
    await ch.close();
  });

  test('nack multiple with requeue puts messages back in their original order', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 3);
    const got: GetMessage[] = [];
    for (let i = 0; i < 3; i++) got.push(await getOne(ch, queue, false));
    ch.nack(got[2], true, true);
    const back = await collect(ch, queue, 3);
    assert.deepEqual(bodies(back), ['m0', 'm1', 'm2']);
    assert.ok(back.every((m) => m.fields.redelivered));
    await ch.close();
  });

  test('nack without requeue discards', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 2);
    const a = await getOne(ch, queue, false);
    await getOne(ch, queue, false);
    ch.nack(a, true, false);
    assert.equal(await ch.get(queue), false);
    assert.equal((await ch.checkQueue(queue)).messageCount, 0);
    await ch.close();
  });

  test('acking an unknown delivery tag closes the channel with 406', async () => {
    const ch = await openChannel(conn);
    const closed = channelClosed(ch);
    const fake = { fields: { deliveryTag: 999 } } as unknown as Message;
    ch.ack(fake);
    await expectChannelClose(closed, ReplyCode.PRECONDITION_FAILED);
  });

  test('acking the same delivery twice closes the channel with 406', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 1);
    const m = await getOne(ch, queue, false);
    const closed = channelClosed(ch);
    ch.ack(m);
    ch.ack(m);
    await expectChannelClose(closed, ReplyCode.PRECONDITION_FAILED);
  });

  test('acking a no-ack delivery closes the channel with 406', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 1);
    const m = await getOne(ch, queue, true);
    const closed = channelClosed(ch);
    ch.ack(m);
    await expectChannelClose(closed, ReplyCode.PRECONDITION_FAILED);
  });

  test('unacked messages return to the queue, redelivered, when the channel closes', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 2);
    await deliveries(ch, queue, 2);
    await ch.close();
    const ch2 = await openChannel(conn);
    const back = await collect(ch2, queue, 2);
    assert.deepEqual(bodies(back), ['m0', 'm1']);
    assert.ok(back.every((m) => m.fields.redelivered));
    await ch2.close();
  });
});

describe('basic.get and basic.recover', () => {
  test('get returns the remaining message count, then get-empty', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 3);
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await getOne(ch, queue);
      counts.push(m.fields.messageCount);
      assert.equal(m.content.toString(), `m${i}`);
      assert.equal(m.fields.exchange, '');
      assert.equal(m.fields.routingKey, queue);
    }
    assert.deepEqual(counts, [2, 1, 0]);
    assert.equal(await ch.get(queue), false);
    await ch.close();
  });

  test('get from a missing queue fails with 404', async () => {
    const ch = await openChannel(conn);
    await expectChannelClose(ch.get(uniqueName('missing')), ReplyCode.NOT_FOUND);
  });

  test('recover requeues unacked deliveries with the redelivered flag', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 2);
    const got: ConsumeMessage[] = [];
    await ch.consume(queue, (m) => m && got.push(m), { noAck: false });
    await waitFor(() => got.length === 2, 'first deliveries');
    await ch.recover();
    await waitFor(() => got.length === 4, 'redeliveries');
    assert.deepEqual(bodies(got.slice(2)), ['m0', 'm1']);
    assert.ok(got.slice(2).every((m) => m.fields.redelivered));
    ch.ack(got[3], true);
    await ch.close();
  });
});

describe('channel.flow', () => {
  test('flow active=true is acknowledged', async () => {
    const ch = await openChannel(conn);
    const ok = await rpc(ch, CHANNEL_FLOW, { active: true }, CHANNEL_FLOW_OK);
    assert.equal(ok.active, true);
    await ch.close();
  });

  test('flow active=false is refused with 540 NOT_IMPLEMENTED on the connection (as RabbitMQ does)', async () => {
    // RabbitMQ 3.x does not support pausing deliveries with channel.flow: it closes the connection with
    // 540 "active=false".
    const own = await connect(broker.url);
    try {
      const closed = connectionClosed(own);
      closed.catch(() => {});
      const ch = await openChannel(own);
      rpc(ch, CHANNEL_FLOW, { active: false }, CHANNEL_FLOW_OK).catch(() => {});
      await expectConnectionClose(closed, ReplyCode.NOT_IMPLEMENTED);
    } finally {
      await own.close().catch(() => {});
    }
  });
});

describe('transactions', () => {
  test('published messages are invisible until commit; rollback discards them', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await rpc(ch, TX_SELECT, {}, TX_SELECT_OK);
    ch.sendToQueue(queue, Buffer.from('t1'));
    ch.sendToQueue(queue, Buffer.from('t2'));
    const observer = await openChannel(conn);
    assert.equal((await observer.checkQueue(queue)).messageCount, 0);
    await rpc(ch, TX_COMMIT, {}, TX_COMMIT_OK);
    assert.equal((await observer.checkQueue(queue)).messageCount, 2);
    ch.sendToQueue(queue, Buffer.from('t3'));
    await rpc(ch, TX_ROLLBACK, {}, TX_ROLLBACK_OK);
    await rpc(ch, TX_COMMIT, {}, TX_COMMIT_OK);
    assert.equal((await observer.checkQueue(queue)).messageCount, 2);
    await observer.close();
    await ch.close();
  });

  test('acks inside a transaction take effect on commit, and are undone by rollback', async () => {
    const ch = await openChannel(conn);
    const queue = await freshQueue(ch);
    await fill(queue, 2);
    await rpc(ch, TX_SELECT, {}, TX_SELECT_OK);
    const a = await getOne(ch, queue, false);
    const b = await getOne(ch, queue, false);
    ch.ack(a);
    await rpc(ch, TX_ROLLBACK, {}, TX_ROLLBACK_OK);
    // The rolled-back ack is forgotten: a is still unacked and can be acked again.
    ch.ack(a);
    ch.ack(b);
    await rpc(ch, TX_COMMIT, {}, TX_COMMIT_OK);
    await ch.close();
    const ch2 = await openChannel(conn);
    assert.equal(await ch2.get(queue), false, 'both acks committed: nothing returns on close');
    await ch2.close();
  });

  test('commit without select fails with 406', async () => {
    const ch = await openChannel(conn);
    await expectChannelClose(rpc(ch, TX_COMMIT, {}, TX_COMMIT_OK), ReplyCode.PRECONDITION_FAILED);
  });
});
