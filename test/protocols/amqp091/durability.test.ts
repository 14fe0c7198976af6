import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  collect,
  connect,
  connectionClosed,
  expectChannelClose,
  expectConnectionClose,
  openChannel,
  openConfirmChannel,
} from '../../helpers/amqp-client.js';
import { isExternalBroker, startBroker } from '../../helpers/broker-under-test.js';
import { ReplyCode } from '../../helpers/reply-codes.js';

// These tests restart the broker process, so they only run against EventterMQ itself.
const SKIP_REASON = 'needs the EventterMQ process (EVENTTER_TEST_AMQP_URL points at an external broker)';

describe('durability across a graceful restart', () => {
  test('durable definitions and persistent messages survive; transient ones do not', async (t) => {
    if (isExternalBroker()) return t.skip(SKIP_REASON);
    const first = await startBroker();
    try {
      const conn = await connect(first.url);
      const ch = await openConfirmChannel(conn);
      await ch.assertExchange('orders', 'direct', { durable: true });
      await ch.assertExchange('audit', 'fanout', { durable: true });
      await ch.assertQueue('orders.q', { durable: true, arguments: { 'x-max-length': 1000 } });
      await ch.assertQueue('transient.q', { durable: false });
      await ch.bindQueue('orders.q', 'orders', 'new');
      await ch.bindExchange('audit', 'orders', 'new');
      for (let i = 0; i < 5; i++) {
        ch.publish('orders', 'new', Buffer.from(`p${i}`), { persistent: true, messageId: `p${i}` });
      }
      ch.publish('orders', 'new', Buffer.from('transient-message'), { persistent: false });
      ch.sendToQueue('transient.q', Buffer.from('t'), { persistent: true });
      await ch.waitForConfirms();
      // A message that is delivered and acked before the restart must stay gone.
      const first5 = await ch.get('orders.q', { noAck: false });
      assert.ok(first5);
      assert.equal(first5.content.toString(), 'p0');
      ch.ack(first5);
      await ch.checkQueue('orders.q'); // round trip so the ack is processed before we close
      await conn.close();
    } finally {
      assert.equal(await first.stop('SIGTERM'), 0, 'graceful stop exits 0');
    }

    const second = await startBroker({ dataDir: first.dataDir });
    try {
      const conn = await connect(second.url);
      const ch = await openChannel(conn);
      const q = await ch.checkQueue('orders.q');
      assert.equal(q.messageCount, 4, 'persistent, unacked messages survive; the transient one does not');
      const msgs = await collect(ch, 'orders.q', 4);
      assert.deepEqual(
        msgs.map((m) => m.content.toString()),
        ['p1', 'p2', 'p3', 'p4'],
      );
      assert.equal(msgs[0].properties.messageId, 'p1');
      assert.equal(msgs[0].properties.deliveryMode, 2);
      await ch.checkExchange('orders');
      await ch.checkExchange('audit');
      await expectChannelClose(ch.checkQueue('transient.q'), ReplyCode.NOT_FOUND);
      // The queue binding and the exchange-to-exchange binding are back.
      const ch2 = await openConfirmChannel(conn);
      const { queue: auditQ } = await ch2.assertQueue('', { exclusive: true });
      await ch2.bindQueue(auditQ, 'audit', '');
      ch2.publish('orders', 'new', Buffer.from('after-restart'), { persistent: true });
      await ch2.waitForConfirms();
      const [viaBinding] = await collect(ch2, 'orders.q', 1);
      assert.equal(viaBinding.content.toString(), 'after-restart');
      const [viaE2E] = await collect(ch2, auditQ, 1);
      assert.equal(viaE2E.content.toString(), 'after-restart');
      await conn.close();
    } finally {
      await second.stop();
    }
  });

  test('SIGTERM closes client connections with 320 CONNECTION_FORCED and exits 0', async (t) => {
    if (isExternalBroker()) return t.skip(SKIP_REASON);
    const broker = await startBroker();
    try {
      const conn = await connect(broker.url);
      const closed = connectionClosed(conn);
      await openChannel(conn);
      const exit = broker.stop('SIGTERM');
      await expectConnectionClose(closed, ReplyCode.CONNECTION_FORCED);
      assert.equal(await exit, 0);
    } finally {
      await broker.kill9();
    }
  });
});
