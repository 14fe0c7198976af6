import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ChannelModel } from 'amqplib';
import {
  type AmqpError,
  channelClosed,
  collect,
  connect,
  connectionClosed,
  exchangeExists,
  expectChannelClose,
  expectConnectionClose,
  openChannel,
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

describe('exchanges', () => {
  test('the default and amq.* exchanges exist', async () => {
    const ch = await openChannel(conn);
    for (const name of ['amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']) {
      await ch.checkExchange(name);
    }
    await ch.close();
    // Surprise: RabbitMQ 3.10 refuses even a passive declare of the nameless default exchange with 403
    // "operation not permitted on the default exchange". Publishing through it works of course.
    const ch2 = await openChannel(conn);
    await expectChannelClose(ch2.checkExchange(''), ReplyCode.ACCESS_REFUSED);
  });

  test('declares each exchange type; redeclaring with identical arguments is a no-op', async () => {
    const ch = await openChannel(conn);
    for (const type of ['direct', 'fanout', 'topic', 'headers']) {
      const name = uniqueName(`ex-${type}`);
      const ok = await ch.assertExchange(name, type, { durable: false, autoDelete: false });
      assert.equal(ok.exchange, name);
      await ch.assertExchange(name, type, { durable: false, autoDelete: false });
      await ch.checkExchange(name);
      await ch.deleteExchange(name);
    }
    await ch.close();
  });

  test('redeclaring with a different type fails with 406', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('ex');
    await ch.assertExchange(name, 'direct', { durable: false });
    await expectChannelClose(
      ch.assertExchange(name, 'fanout', { durable: false }),
      ReplyCode.PRECONDITION_FAILED,
    );
    const ch2 = await openChannel(conn);
    await ch2.deleteExchange(name);
    await ch2.close();
  });

  test('redeclaring with a different durable flag fails with 406', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('ex');
    await ch.assertExchange(name, 'direct', { durable: false });
    await expectChannelClose(
      ch.assertExchange(name, 'direct', { durable: true }),
      ReplyCode.PRECONDITION_FAILED,
    );
    const ch2 = await openChannel(conn);
    await ch2.deleteExchange(name);
    await ch2.close();
  });

  test('passive declare of a missing exchange fails with 404', async () => {
    const ch = await openChannel(conn);
    await expectChannelClose(ch.checkExchange(uniqueName('missing')), ReplyCode.NOT_FOUND);
  });

  test("declaring an exchange named 'amq.*' fails with 403", async () => {
    const ch = await openChannel(conn);
    await expectChannelClose(ch.assertExchange(uniqueName('amq.custom'), 'direct'), ReplyCode.ACCESS_REFUSED);
  });

  test('unknown exchange type: connection close 503 COMMAND_INVALID (or channel close 406 on newer RabbitMQ)', async () => {
    // Surprise: RabbitMQ 3.10 closes the whole *connection* with 503 "unknown exchange type"; RabbitMQ 3.11+
    // closes only the channel with 406. Either is accepted, so this test uses its own connection.
    const own = await connect(broker.url);
    const closed = connectionClosed(own);
    closed.catch(() => {});
    try {
      const ch = await openChannel(own);
      const err = (await ch.assertExchange(uniqueName('ex'), 'no-such-type').then(
        () => assert.fail('declare of an unknown type succeeded'),
        (e: unknown) => e,
      )) as AmqpError;
      if (err.code !== ReplyCode.PRECONDITION_FAILED) {
        await expectConnectionClose(closed, ReplyCode.COMMAND_INVALID);
      }
    } finally {
      await own.close().catch(() => {});
    }
  });

  test('delete if-unused on an exchange with a binding fails with 406; without bindings succeeds', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('ex');
    await ch.assertExchange(name, 'fanout', { durable: false });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, name, '');
    await expectChannelClose(ch.deleteExchange(name, { ifUnused: true }), ReplyCode.PRECONDITION_FAILED);
    const ch2 = await openChannel(conn);
    await ch2.checkExchange(name);
    await ch2.unbindQueue(queue, name, '');
    await ch2.deleteExchange(name, { ifUnused: true });
    assert.equal(await exchangeExists(conn, name), false);
    await ch2.close();
  });

  test('deleting a missing exchange succeeds', async () => {
    // RabbitMQ 3.10 answers delete-ok for a missing exchange (not 404).
    const ch = await openChannel(conn);
    await ch.deleteExchange(uniqueName('missing'));
    await ch.close();
  });

  test('publishing to an internal exchange fails with 403', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('internal');
    await ch.assertExchange(name, 'fanout', { durable: false, internal: true });
    const closed = channelClosed(ch);
    ch.publish(name, '', Buffer.from('x'));
    await expectChannelClose(closed, ReplyCode.ACCESS_REFUSED);
    const ch2 = await openChannel(conn);
    await ch2.deleteExchange(name);
    await ch2.close();
  });

  test('an internal exchange still routes what is forwarded to it by an exchange-to-exchange binding', async () => {
    const ch = await openChannel(conn);
    const front = uniqueName('front');
    const inner = uniqueName('inner');
    await ch.assertExchange(front, 'fanout', { durable: false });
    await ch.assertExchange(inner, 'fanout', { durable: false, internal: true });
    await ch.bindExchange(inner, front, '');
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, inner, '');
    ch.publish(front, 'k', Buffer.from('via-inner'));
    const [msg] = await collect(ch, queue, 1);
    assert.equal(msg.content.toString(), 'via-inner');
    assert.equal(msg.fields.exchange, front, 'delivery names the exchange the message was published to');
    await ch.deleteExchange(front);
    await ch.deleteExchange(inner);
    await ch.close();
  });

  test('exchange-to-exchange bindings: fanout into topic', async () => {
    const ch = await openChannel(conn);
    const fan = uniqueName('fan');
    const top = uniqueName('top');
    await ch.assertExchange(fan, 'fanout', { durable: false });
    await ch.assertExchange(top, 'topic', { durable: false });
    await ch.bindExchange(top, fan, '');
    const a = (await ch.assertQueue('', { exclusive: true })).queue;
    const b = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(a, top, 'orders.*');
    await ch.bindQueue(b, top, '#.eu');
    await ch.bindQueue(b, fan, '');
    ch.publish(fan, 'orders.eu', Buffer.from('1'));
    ch.publish(fan, 'orders.us', Buffer.from('2'));
    ch.publish(fan, 'payments.eu', Buffer.from('3'));
    const gotA = await collect(ch, a, 2);
    assert.deepEqual(
      gotA.map((m) => m.content.toString()),
      ['1', '2'],
    );
    // b is reached directly via fan (all three) and via top ('#.eu': 1 and 3) — a queue reached by two paths
    // gets each message once.
    const gotB = await collect(ch, b, 3);
    assert.deepEqual(
      gotB.map((m) => m.content.toString()),
      ['1', '2', '3'],
    );
    await ch.unbindExchange(top, fan, '');
    ch.publish(fan, 'orders.eu', Buffer.from('4'));
    const [only] = await collect(ch, b, 1);
    assert.equal(only.content.toString(), '4');
    assert.equal((await ch.checkQueue(a)).messageCount, 0);
    await ch.deleteExchange(fan);
    await ch.deleteExchange(top);
    await ch.close();
  });

  test('an auto-delete exchange is removed when its last binding goes', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('autodel');
    await ch.assertExchange(name, 'direct', { durable: false, autoDelete: true });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, name, 'a');
    await ch.bindQueue(queue, name, 'b');
    await ch.unbindQueue(queue, name, 'a');
    assert.equal(await exchangeExists(conn, name), true, 'still has a binding');
    await ch.unbindQueue(queue, name, 'b');
    await waitFor(async () => !(await exchangeExists(conn, name)), 'auto-delete exchange to go');
    await ch.close();
  });

  test('an auto-delete exchange is removed when its last bound queue is deleted', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('autodel');
    await ch.assertExchange(name, 'fanout', { durable: false, autoDelete: true });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, name, '');
    await ch.deleteQueue(queue);
    await waitFor(async () => !(await exchangeExists(conn, name)), 'auto-delete exchange to go');
    await ch.close();
  });

  test('an auto-delete exchange that never had a binding stays', async () => {
    const ch = await openChannel(conn);
    const name = uniqueName('autodel');
    await ch.assertExchange(name, 'direct', { durable: false, autoDelete: true });
    assert.equal(await exchangeExists(conn, name), true);
    await ch.deleteExchange(name);
    await ch.close();
  });

  test('publishing to a missing exchange closes the channel with 404', async () => {
    const ch = await openChannel(conn);
    const closed = channelClosed(ch);
    ch.publish(uniqueName('missing'), 'k', Buffer.from('x'));
    await expectChannelClose(closed, ReplyCode.NOT_FOUND);
    // The connection itself is unharmed.
    const ch2 = await openChannel(conn);
    await ch2.checkExchange('amq.direct');
    await ch2.close();
  });

  test('the default exchange cannot be deleted or bound to', async () => {
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    // RabbitMQ 3.10: binding to or from the default exchange is 403 ACCESS_REFUSED.
    await expectChannelClose(ch.bindQueue(queue, '', 'x'), ReplyCode.ACCESS_REFUSED);
    const ch2 = await openChannel(conn);
    await expectChannelClose(ch2.deleteExchange('amq.direct'), ReplyCode.ACCESS_REFUSED);
  });
});
