import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBasicProperties } from '../../src/codec/basic-properties.js';
import type { FieldTable } from '../../src/codec/field-table.js';
import { ClassicQueue, type GetResult } from '../../src/core/classic-queue.js';
import type { DeadLetterReason } from '../../src/core/dead-letter.js';
import { Message } from '../../src/core/message.js';
import { MessageLog } from '../../src/core/message-log.js';
import { parseQueueArguments } from '../../src/core/queue-arguments.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { tempDir } from '../store/helpers.js';
import { TestConsumer } from './test-consumer.js';

const EMPTY = encodeBasicProperties({});

function message(text: string): Message {
  return new Message('', 'q', EMPTY, Buffer.from(text), true, 0, -1, Date.now());
}

interface Harness {
  queue: ClassicQueue;
  deadLettered: Array<{ text: string; reason: DeadLetterReason }>;
}

async function openQueue(args: FieldTable = {}, cacheBytes = 1 << 20): Promise<Harness> {
  const store = await QueueStore.open({
    dir: tempDir('classic-queue-'),
    commit: new GroupCommit({ fsync: false }),
    fsync: false,
    durable: false,
  });
  const deadLettered: Harness['deadLettered'] = [];
  const queue = new ClassicQueue(
    {
      id: 'id',
      name: 'q',
      vhost: '/',
      durable: false,
      autoDelete: false,
      arguments: args,
      exclusiveOwner: null,
    },
    parseQueueArguments(args, "queue 'q'"),
    new MessageLog(store, { cacheBytes, readAheadBytes: 64 * 1024 }),
    {
      requestDelete: () => {},
      deadLetter: (_q, m, reason) => deadLettered.push({ text: m.body.toString(), reason }),
      onStoreError: (_q, err) => {
        throw err;
      },
    },
  );
  return { queue, deadLettered };
}

const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getText(queue: ClassicQueue, owner: object | null, leaseMs = 0): Promise<GetResult | null> {
  return await queue.get(false, owner, leaseMs);
}

test('competing consumers share the queue round robin; acks settle, nothing is delivered twice', async () => {
  const { queue } = await openQueue();
  const a = new TestConsumer('a', {});
  const b = new TestConsumer('b', {});
  queue.addConsumer(a);
  queue.addConsumer(b);
  for (let i = 0; i < 10; i++) queue.enqueue(message(`m${i}`));
  await tick();
  assert.deepEqual(
    a.received.map((r) => r.text),
    ['m0', 'm2', 'm4', 'm6', 'm8'],
  );
  assert.deepEqual(
    b.received.map((r) => r.text),
    ['m1', 'm3', 'm5', 'm7', 'm9'],
  );
  assert.equal(queue.unackedCount, 10);
  for (const r of [...a.received, ...b.received]) assert.ok(queue.ack(r.offset));
  assert.equal(queue.ack(a.received[0].offset), false, 'a second ack of the same message is refused');
  assert.equal(queue.unackedCount, 0);
  assert.equal(queue.messageCount, 0);
  await queue.delete();
});

test('releasing an owner puts back exactly what it holds, in order and flagged redelivered', async () => {
  const { queue } = await openQueue();
  const channelA = {};
  const channelB = {};
  const a = new TestConsumer('a', channelA, 3);
  const b = new TestConsumer('b', channelB, 3);
  queue.addConsumer(a);
  queue.addConsumer(b);
  for (let i = 0; i < 8; i++) queue.enqueue(message(`m${i}`));
  await tick();
  assert.equal(queue.messageCount, 2);
  assert.deepEqual(
    queue.heldBy(channelA),
    a.received.map((r) => r.offset),
  );
  queue.ack(a.received[0].offset);
  // Channel A goes away: its consumer first, then its held messages.
  queue.removeConsumer(a);
  queue.releaseOwner(channelA);
  assert.deepEqual(queue.heldBy(channelA), []);
  assert.equal(queue.messageCount, 4, 'the two unacked of A are ready again, before the two never delivered');
  b.credit = 10;
  queue.resumeDelivery();
  await tick();
  const redelivered = b.received.slice(3);
  assert.deepEqual(
    redelivered.map((r) => [r.text, r.redelivered]),
    [
      ['m2', true],
      ['m4', true],
      ['m6', false],
      ['m7', false],
    ],
  );
  await queue.delete();
});

test('a lease that runs out returns the message by itself; a renewed lease keeps it', async () => {
  const { queue } = await openQueue();
  const claimA = {};
  const claimB = {};
  for (let i = 0; i < 3; i++) queue.enqueue(message(`m${i}`));
  const first = await getText(queue, claimA, 60);
  const second = await getText(queue, claimB, 60);
  assert.ok(first && second);
  assert.equal(queue.messageCount, 1);
  assert.equal(queue.renewLease(second.offset, 400, claimA), false, 'only the holder renews');
  assert.equal(queue.renewLease(second.offset, 400, claimB), true);
  await sleep(150);
  assert.equal(queue.messageCount, 2, 'the first lease expired');
  assert.equal(queue.unackedCount, 1, 'the renewed one is still held');
  const again = await getText(queue, null);
  assert.equal(again?.message.body.toString(), 'm0');
  assert.equal(again?.redelivered, true);
  assert.ok(queue.ack(second.offset), 'the renewed lease can still be acked');
  await queue.delete();
});

test('x-delivery-limit dead-letters a message released too often', async () => {
  const { queue, deadLettered } = await openQueue({
    'x-delivery-limit': 1,
    'x-dead-letter-exchange': 'dlx',
  });
  queue.enqueue(message('poison'));
  for (let round = 0; round < 2; round++) {
    const owner = {};
    const got = await getText(queue, owner);
    assert.equal(got?.message.body.toString(), 'poison');
    queue.releaseOwner(owner);
  }
  await tick();
  assert.equal(queue.messageCount, 0);
  assert.deepEqual(deadLettered, [{ text: 'poison', reason: 'delivery_limit' }]);
  await queue.delete();
});

test('bodies beyond the cache budget are read back from the log in order', async () => {
  const { queue } = await openQueue({}, 2048);
  for (let i = 0; i < 200; i++) queue.enqueue(message(`body-${i}-${'x'.repeat(100)}`));
  const c = new TestConsumer('c', {});
  queue.addConsumer(c);
  for (let i = 0; i < 100 && c.received.length < 200; i++) await sleep(5);
  assert.deepEqual(
    c.received.map((r) => r.text.split('-')[1]),
    Array.from({ length: 200 }, (_, i) => String(i)),
  );
  await queue.delete();
});

test('priorities: higher first, FIFO within a level', async () => {
  const { queue } = await openQueue({ 'x-max-priority': 5 });
  const send = (text: string, priority: number) =>
    queue.enqueue(new Message('', 'q', EMPTY, Buffer.from(text), true, priority, -1, Date.now()));
  send('low-1', 0);
  send('high-1', 5);
  send('low-2', 0);
  send('mid', 3);
  send('high-2', 9); // above the maximum: counts as the maximum
  const order: string[] = [];
  for (;;) {
    const got = await queue.get(true);
    if (!got) break;
    order.push(got.message.body.toString());
  }
  assert.deepEqual(order, ['high-1', 'high-2', 'mid', 'low-1', 'low-2']);
  await queue.delete();
});
