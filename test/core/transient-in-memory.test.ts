import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { encodeBasicProperties } from '../../src/codec/basic-properties.js';
import { ClassicQueue } from '../../src/core/classic-queue.js';
import { Message } from '../../src/core/message.js';
import { MessageLog } from '../../src/core/message-log.js';
import { parseQueueArguments } from '../../src/core/queue-arguments.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { tempDir } from '../store/helpers.js';
import { TestConsumer } from './test-consumer.js';

/**
 * Transient messages stay in memory while the queue's cache budget has room: not encoded, not written. Past the
 * budget they go to the log as before; order, requeue and restarts behave exactly as for written ones.
 */

const EMPTY = encodeBasicProperties({});
const message = (text: string, persistent: boolean) =>
  new Message('', 'q', EMPTY, Buffer.from(text), persistent, 0, -1, Date.now());

async function openDurableQueue(dir: string, cacheBytes: number) {
  const store = await QueueStore.open({
    dir,
    commit: new GroupCommit({ fsync: false }),
    fsync: false,
    durable: true,
  });
  const log = new MessageLog(store, { cacheBytes, readAheadBytes: 4096 });
  const queue = new ClassicQueue(
    {
      id: 'id',
      name: 'q',
      vhost: '/',
      durable: true,
      autoDelete: false,
      arguments: {},
      exclusiveOwner: null,
    },
    parseQueueArguments({}, "queue 'q'"),
    log,
    { requestDelete: () => {}, deadLetter: () => {}, onStoreError: (_q, err) => assert.fail(err) },
  );
  return { queue, log, store };
}

const settle = () => new Promise((r) => setTimeout(r, 20));
const segmentBytes = (dir: string) =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((n) => n.endsWith('.seg'))
        .reduce((sum, n) => sum + fs.statSync(path.join(dir, n)).size, 0)
    : 0;

test('a transient backlog within the cache budget is never written', async () => {
  const dir = tempDir('transient-');
  const { queue, log } = await openDurableQueue(dir, 1 << 20);
  for (let i = 0; i < 1000; i++) queue.enqueue(message(`t${i}`, false));
  await settle();
  assert.equal(queue.messageCount, 1000);
  assert.ok(log.memoryOnlyByteCount > 0);
  assert.ok(segmentBytes(dir) <= 64, `nothing but a header written, found ${segmentBytes(dir)} bytes`);
  const c = new TestConsumer('c', {}, Number.POSITIVE_INFINITY);
  queue.addConsumer(c);
  await settle();
  assert.deepEqual(
    c.received.map((r) => r.text),
    Array.from({ length: 1000 }, (_, i) => `t${i}`),
  );
  for (const r of c.received) queue.ack(r.offset);
  assert.equal(log.memoryOnlyByteCount, 0, 'acks free the memory');
  await queue.close();
});

test('past the budget transient messages go to the log; order holds across memory and disk, and requeue', async () => {
  const dir = tempDir('transient-');
  // Room for about 20 of these bodies: the rest is written and read back.
  const { queue, log } = await openDurableQueue(dir, 20 * 120);
  const texts = Array.from({ length: 300 }, (_, i) => `${String(i).padStart(3, '0')}-${'x'.repeat(100)}`);
  texts.forEach((t, i) => {
    queue.enqueue(message(t, i % 3 === 0));
  });
  await settle();
  assert.ok(segmentBytes(dir) > 0);
  const holder = {};
  const first = new TestConsumer('a', holder, 50);
  queue.addConsumer(first);
  await settle();
  assert.equal(first.received.length, 50);
  queue.removeConsumer(first);
  queue.releaseOwner(holder); // all 50 back, in their places
  const second = new TestConsumer('b', {}, Number.POSITIVE_INFINITY);
  queue.addConsumer(second);
  for (let i = 0; i < 100 && second.received.length < 300; i++) await settle();
  assert.deepEqual(
    second.received.map((r) => r.text),
    texts,
  );
  assert.ok(second.received.slice(0, 50).every((r) => r.redelivered));
  for (const r of second.received) queue.ack(r.offset);
  assert.equal(log.memoryOnlyByteCount, 0);
  await queue.close();
});

test('after a restart the persistent messages are back and the transient ones gone, with fresh offsets after them', async () => {
  const dir = tempDir('transient-');
  let { queue } = await openDurableQueue(dir, 1 << 20);
  for (let i = 0; i < 100; i++) queue.enqueue(message(`m${i}`, i % 10 === 0), () => {});
  await settle();
  await queue.close();
  ({ queue } = await openDurableQueue(dir, 1 << 20));
  await queue.recover();
  assert.equal(queue.messageCount, 10);
  queue.enqueue(message('after', true));
  const c = new TestConsumer('c', {}, Number.POSITIVE_INFINITY);
  queue.addConsumer(c);
  await settle();
  assert.deepEqual(
    c.received.map((r) => r.text),
    [...Array.from({ length: 10 }, (_, i) => `m${i * 10}`), 'after'],
  );
  const offsets = c.received.map((r) => r.offset);
  assert.deepEqual(
    [...offsets].sort((a, b) => a - b),
    offsets,
    'offsets ascend',
  );
  await queue.close();
});
