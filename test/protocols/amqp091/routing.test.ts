import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Channel, ChannelModel } from 'amqplib';
import { connect, expectChannelClose, openChannel } from '../../helpers/amqp-client.js';
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

/**
 * Publishes each routing key (body = the key) on a confirm channel, waits for the confirms so routing is
 * settled, then drains the queue with basic.get and returns the bodies.
 */
async function routedKeys(
  ch: Channel,
  exchange: string,
  queue: string,
  keys: string[],
  headers?: Record<string, unknown>[],
): Promise<string[]> {
  const confirm = await conn.createConfirmChannel();
  keys.forEach((key, i) => {
    confirm.publish(exchange, key, Buffer.from(key), headers ? { headers: headers[i] } : {});
  });
  await confirm.waitForConfirms();
  await confirm.close();
  const out: string[] = [];
  for (;;) {
    const m = await ch.get(queue, { noAck: true });
    if (!m) return out;
    out.push(m.content.toString());
  }
}

async function queueBoundTo(ch: Channel, exchange: string, ...patterns: string[]): Promise<string> {
  const { queue } = await ch.assertQueue('', { exclusive: true });
  for (const p of patterns) await ch.bindQueue(queue, exchange, p);
  return queue;
}

describe('routing', () => {
  test('direct: exact key match only, one copy per queue even with duplicate bindings', async () => {
    const ch = await openChannel(conn);
    const ex = uniqueName('direct');
    await ch.assertExchange(ex, 'direct', { autoDelete: true, durable: false });
    const q = await queueBoundTo(ch, ex, 'red', 'blue', 'red');
    const keys = await routedKeys(ch, ex, q, ['red', 'green', 'blue', 'Red', 'red.x', '']);
    assert.deepEqual(keys, ['red', 'blue']);
    await ch.close();
  });

  test('default exchange routes by queue name', async () => {
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    assert.deepEqual(await routedKeys(ch, '', queue, [queue, `${queue}x`]), [queue]);
    await ch.close();
  });

  test('fanout: ignores the key and reaches every bound queue', async () => {
    const ch = await openChannel(conn);
    const ex = uniqueName('fanout');
    await ch.assertExchange(ex, 'fanout', { durable: false });
    const a = await queueBoundTo(ch, ex, '');
    const b = await queueBoundTo(ch, ex, 'whatever');
    const confirm = await conn.createConfirmChannel();
    confirm.publish(ex, 'k1', Buffer.from('1'));
    confirm.publish(ex, 'k2', Buffer.from('2'));
    await confirm.waitForConfirms();
    await confirm.close();
    for (const q of [a, b]) {
      assert.equal((await ch.checkQueue(q)).messageCount, 2);
    }
    await ch.deleteExchange(ex);
    await ch.close();
  });

  const topicCases: { pattern: string; match: string[]; miss: string[] }[] = [
    { pattern: 'a.*', match: ['a.b', 'a.'], miss: ['a', 'a.b.c', 'b.a', ''] },
    { pattern: '*.b', match: ['a.b', '.b'], miss: ['b', 'a.a.b'] },
    { pattern: 'a.#', match: ['a', 'a.b', 'a.b.c', 'a.'], miss: ['b.a', 'ab'] },
    { pattern: '#.c', match: ['c', 'a.c', 'a.b.c'], miss: ['a.c.d', 'ac'] },
    { pattern: 'a.#.b', match: ['a.b', 'a.x.b', 'a.x.y.b'], miss: ['a.b.c', 'b', 'a'] },
    { pattern: '#', match: ['', 'a', 'a.b.c', '..'], miss: [] },
    // Surprise: '*' does not match the empty key (RabbitMQ treats '' as zero words), though '*.b' matches '.b'
    // (an empty word between dots is a word).
    { pattern: '*', match: ['a'], miss: ['', 'a.b', '.'] },
    { pattern: '*.*', match: ['a.b', '.', 'a.'], miss: ['a', 'a.b.c'] },
    { pattern: '#.#', match: ['', 'a', 'a.b.c'], miss: [] },
    { pattern: 'a.*.#', match: ['a.b', 'a.b.c'], miss: ['a'] },
    { pattern: '', match: [''], miss: ['a', '.'] },
    { pattern: 'a..b', match: ['a..b'], miss: ['a.b', 'a.x.b'] },
    { pattern: 'a.b', match: ['a.b'], miss: ['a.bc', 'a.b.c', 'A.b'] },
  ];
  for (const { pattern, match, miss } of topicCases) {
    test(`topic: '${pattern}' matches ${JSON.stringify(match)} but not ${JSON.stringify(miss)}`, async () => {
      const ch = await openChannel(conn);
      // A private exchange per pattern: the keys are exactly as listed, so a shared one would cross-talk.
      const ex = uniqueName('topic');
      await ch.assertExchange(ex, 'topic', { durable: false });
      const q = await queueBoundTo(ch, ex, pattern);
      const got = await routedKeys(ch, ex, q, [...match, ...miss]);
      assert.deepEqual(got, match);
      await ch.deleteExchange(ex);
      await ch.close();
    });
  }

  test('topic: overlapping patterns deliver one copy', async () => {
    const ch = await openChannel(conn);
    const ex = uniqueName('topic');
    await ch.assertExchange(ex, 'topic', { durable: false });
    const q = await queueBoundTo(ch, ex, 'a.*', 'a.#', '#', '*.b');
    assert.deepEqual(await routedKeys(ch, ex, q, ['a.b']), ['a.b']);
    await ch.deleteExchange(ex);
    await ch.close();
  });

  test('headers x-match=all requires every listed header, ignoring x- keys', async () => {
    const ch = await openChannel(conn);
    const ex = uniqueName('headers');
    await ch.assertExchange(ex, 'headers', { durable: false });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, ex, '', {
      'x-match': 'all',
      format: 'pdf',
      type: 'report',
      'x-extra': 'ignored',
    });
    const headers = [
      { format: 'pdf', type: 'report' },
      { format: 'pdf', type: 'report', more: 1 },
      { format: 'pdf' },
      { format: 'zip', type: 'report' },
      {},
    ];
    const got = await routedKeys(ch, ex, queue, ['both', 'both+extra', 'one', 'wrong', 'none'], headers);
    assert.deepEqual(got, ['both', 'both+extra']);
    await ch.deleteExchange(ex);
    await ch.close();
  });

  test('headers x-match=any needs one listed header', async () => {
    const ch = await openChannel(conn);
    const ex = uniqueName('headers');
    await ch.assertExchange(ex, 'headers', { durable: false });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, ex, '', { 'x-match': 'any', format: 'pdf', type: 'report' });
    const headers = [
      { format: 'pdf' },
      { type: 'report', format: 'zip' },
      { format: 'zip' },
      {},
      { 'x-match': 'any' },
    ];
    const got = await routedKeys(ch, ex, queue, ['format', 'type', 'wrong', 'none', 'only-x'], headers);
    assert.deepEqual(got, ['format', 'type']);
    await ch.deleteExchange(ex);
    await ch.close();
  });

  test('headers: x-match defaults to all; numeric values compare by value', async () => {
    const ch = await openChannel(conn);
    const ex = uniqueName('headers');
    await ch.assertExchange(ex, 'headers', { durable: false });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, ex, '', { level: 3, zone: 'eu' });
    const headers = [{ level: 3, zone: 'eu' }, { level: 3 }, { level: 4, zone: 'eu' }];
    const got = await routedKeys(ch, ex, queue, ['both', 'one', 'wrong-level'], headers);
    assert.deepEqual(got, ['both']);
    await ch.deleteExchange(ex);
    await ch.close();
  });

  test('headers: a binding with no headers but x-match=all matches every message', async () => {
    const ch = await openChannel(conn);
    const ex = uniqueName('headers');
    await ch.assertExchange(ex, 'headers', { durable: false });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, ex, '', { 'x-match': 'all' });
    const got = await routedKeys(ch, ex, queue, ['a', 'b'], [{}, { any: 'thing' }]);
    assert.deepEqual(got, ['a', 'b']);
    await ch.deleteExchange(ex);
    await ch.close();
  });

  test('unbind stops delivery; unbinding a missing binding is ok', async () => {
    const ch = await openChannel(conn);
    const ex = uniqueName('direct');
    await ch.assertExchange(ex, 'direct', { durable: false });
    const q = await queueBoundTo(ch, ex, 'k');
    assert.deepEqual(await routedKeys(ch, ex, q, ['k']), ['k']);
    await ch.unbindQueue(q, ex, 'k');
    assert.deepEqual(await routedKeys(ch, ex, q, ['k']), []);
    await ch.unbindQueue(q, ex, 'k');
    await ch.deleteExchange(ex);
    await ch.close();
  });

  test('headers unbind must match the binding arguments', async () => {
    const ch = await openChannel(conn);
    const ex = uniqueName('headers');
    await ch.assertExchange(ex, 'headers', { durable: false });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, ex, '', { 'x-match': 'any', a: 1 });
    await ch.unbindQueue(queue, ex, '', { 'x-match': 'any', a: 2 });
    assert.deepEqual(
      await routedKeys(ch, ex, queue, ['m'], [{ a: 1 }]),
      ['m'],
      'different arguments: still bound',
    );
    await ch.unbindQueue(queue, ex, '', { 'x-match': 'any', a: 1 });
    assert.deepEqual(await routedKeys(ch, ex, queue, ['m'], [{ a: 1 }]), []);
    await ch.deleteExchange(ex);
    await ch.close();
  });

  test('binding a missing queue fails with 404', async () => {
    const ch = await openChannel(conn);
    await expectChannelClose(ch.bindQueue(uniqueName('missing'), 'amq.direct', 'k'), ReplyCode.NOT_FOUND);
  });

  test('binding to a missing exchange fails with 404', async () => {
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await expectChannelClose(ch.bindQueue(queue, uniqueName('missing'), 'k'), ReplyCode.NOT_FOUND);
  });

  test('exchange-to-exchange binding with a missing source fails with 404', async () => {
    const ch = await openChannel(conn);
    await expectChannelClose(ch.bindExchange('amq.fanout', uniqueName('missing'), ''), ReplyCode.NOT_FOUND);
  });

  test('CC and BCC headers route to extra keys; BCC is stripped from the delivery', async () => {
    const ch = await openChannel(conn);
    const ex = uniqueName('direct');
    await ch.assertExchange(ex, 'direct', { durable: false });
    const a = await queueBoundTo(ch, ex, 'a');
    const b = await queueBoundTo(ch, ex, 'b');
    const c = await queueBoundTo(ch, ex, 'c');
    const confirm = await conn.createConfirmChannel();
    confirm.publish(ex, 'a', Buffer.from('m'), { CC: 'b', BCC: ['c'] });
    await confirm.waitForConfirms();
    await confirm.close();
    const gotB = await ch.get(b, { noAck: true });
    const gotC = await ch.get(c, { noAck: true });
    const gotA = await ch.get(a, { noAck: true });
    assert.ok(gotA && gotB && gotC);
    assert.equal(gotA.fields.routingKey, 'a');
    assert.deepEqual(gotA.properties.headers?.CC, ['b']);
    assert.equal(gotA.properties.headers?.BCC, undefined);
    await ch.deleteExchange(ex);
    await ch.close();
  });
});
