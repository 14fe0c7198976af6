import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  collect,
  connect,
  openChannel,
  openConfirmChannel,
  sleep,
  waitFor,
} from '../../helpers/amqp-client.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../../helpers/broker-under-test.js';

// Job-queue state that must survive a restart of the EventterMQ process (graceful and kill -9).
const SKIP_REASON = 'needs the EventterMQ process (EVENTTER_TEST_AMQP_URL points at an external broker)';

async function restart(broker: BrokerUnderTest, how: 'graceful' | 'kill'): Promise<BrokerUnderTest> {
  if (how === 'graceful') assert.equal(await broker.stop('SIGTERM'), 0);
  else await broker.kill9();
  return startBroker({ dataDir: broker.dataDir });
}

test('priority order, dead-lettered messages and delayed messages survive restarts', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  let broker = await startBroker();
  try {
    const conn = await connect(broker.url);
    const ch = await openConfirmChannel(conn);
    // A priority queue with mixed priorities.
    await ch.assertQueue('prio.q', { durable: true, arguments: { 'x-max-priority': 10 } });
    for (const [body, priority] of [
      ['low-1', 1],
      ['none', undefined],
      ['high-1', 9],
      ['mid', 5],
      ['high-2', 9],
      ['low-2', 1],
    ] as const) {
      ch.sendToQueue('prio.q', Buffer.from(body), { persistent: true, priority });
    }
    // A queue whose rejected messages dead-letter into a durable DLQ.
    await ch.assertExchange('dlx', 'direct', { durable: true });
    await ch.assertQueue('dead.q', { durable: true });
    await ch.bindQueue('dead.q', 'dlx', 'dead');
    await ch.assertQueue('work.q', {
      durable: true,
      arguments: { 'x-dead-letter-exchange': 'dlx', 'x-dead-letter-routing-key': 'dead' },
    });
    ch.sendToQueue('work.q', Buffer.from('poison'), { persistent: true });
    // Delayed messages: one due soon (fires while the broker is down), one due after the restart.
    await ch.assertExchange('later', 'x-delayed-message', {
      durable: true,
      arguments: { 'x-delayed-type': 'direct' },
    });
    await ch.assertQueue('later.q', { durable: true });
    await ch.bindQueue('later.q', 'later', 'job');
    ch.publish('later', 'job', Buffer.from('due-during-downtime'), {
      persistent: true,
      headers: { 'x-delay': 300 },
    });
    ch.publish('later', 'job', Buffer.from('due-after-restart'), {
      persistent: true,
      headers: { 'x-delay': 2500 },
    });
    await ch.waitForConfirms();
    const [poison] = await collect(ch, 'work.q', 1, { noAck: false });
    ch.nack(poison, false, false);
    await waitFor(
      async () => (await ch.checkQueue('dead.q')).messageCount === 1,
      'the rejected message reaches the DLQ',
    );
    assert.equal(
      (await ch.checkQueue('later.q')).messageCount,
      0,
      'delayed messages are held, not routed yet',
    );
    await conn.close();

    broker = await restart(broker, 'kill');
    await sleep(400); // the first delayed message is now overdue
    broker = await restart(broker, 'graceful');

    const conn2 = await connect(broker.url);
    const ch2 = await openChannel(conn2);
    const prio = await collect(ch2, 'prio.q', 6);
    assert.deepEqual(
      prio.map((m) => m.content.toString()),
      ['high-1', 'high-2', 'mid', 'low-1', 'low-2', 'none'],
      'higher priority first, FIFO within a priority, after two restarts',
    );
    const [dead] = await collect(ch2, 'dead.q', 1);
    assert.equal(dead.content.toString(), 'poison');
    const deaths = dead.properties.headers?.['x-death'] as unknown as
      | Array<Record<string, unknown>>
      | undefined;
    assert.ok(deaths, 'the dead-lettered copy carries x-death');
    const death = deaths[0];
    assert.equal(death.reason, 'rejected');
    assert.equal(death.queue, 'work.q');
    assert.equal(death.count, 1);
    const delayed = await collect(ch2, 'later.q', 2, { timeoutMs: 10_000 });
    assert.deepEqual(
      delayed.map((m) => m.content.toString()),
      ['due-during-downtime', 'due-after-restart'],
      'delayed messages come out once due, in due order, after restarts',
    );
    await conn2.close();
  } finally {
    await broker.stop();
  }
});
