import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBasicProperties } from '../../src/codec/basic-properties.js';
import type { FieldTable } from '../../src/codec/field-table.js';
import { ClassicQueue, type QueuedMessage } from '../../src/core/classic-queue.js';
import { Message } from '../../src/core/message.js';
import { MessageLog } from '../../src/core/message-log.js';
import { parseQueueArguments } from '../../src/core/queue-arguments.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { tempDir } from '../store/helpers.js';
import { TestConsumer } from './test-consumer.js';

/**
 * Reading a classic queue in place (what the HTTP API's listings, fetches by id and deletes by id use):
 * nothing moves, held messages show with their holder, and a delete by id takes a message from anywhere.
 */

const commit = new GroupCommit({ fsync: false });

async function openQueue(args: FieldTable = {}, dir = tempDir('reads-in-place-')) {
  const store = await QueueStore.open({ dir, commit, fsync: false, durable: true });
  const queue = new ClassicQueue(
    {
      id: 'q-id',
      name: 'q',
      vhost: '/',
      durable: true,
      autoDelete: false,
      arguments: args,
      exclusiveOwner: null,
    },
    parseQueueArguments(args, "queue 'q'"),
    new MessageLog(store, { cacheBytes: 1 << 20, readAheadBytes: 64 * 1024 }),
    {
      requestDelete: () => {},
      deadLetter: () => {},
      onStoreError: (_q, err) => {
        throw err;
      },
    },
  );
  await queue.recover();
  return { queue, dir };
}

function message(text: string, options: { priority?: number; ttlMs?: number } = {}): Message {
  const properties = encodeBasicProperties({
    deliveryMode: 2,
    ...(options.priority === undefined ? {} : { priority: options.priority }),
  });
  return new Message(
    '',
    'q',
    properties,
    Buffer.from(text),
    true,
    options.priority ?? 0,
    options.ttlMs ?? -1,
    Date.now(),
  );
}

function queued(queue: ClassicQueue, after = -1, includeHeld = true): QueuedMessage[] {
  const out: QueuedMessage[] = [];
  queue.forEachQueued(after, includeHeld, (m) => {
    out.push(m);
    return true;
  });
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('append returns offsets; locate and forEachQueued see ready and held messages without moving them', async () => {
  const { queue } = await openQueue();
  const offsets = ['a', 'b', 'c', 'd'].map((t) => queue.append(message(t)));
  assert.deepEqual(offsets, [0, 1, 2, 3]);
  const owner = {};
  const taken = await queue.get(false, owner);
  assert.equal(taken?.offset, 0);
  assert.deepEqual(
    queued(queue).map((m) => [m.offset, m.held, m.owner === owner]),
    [
      [0, true, true],
      [1, false, false],
      [2, false, false],
      [3, false, false],
    ],
  );
  assert.deepEqual(
    queued(queue, -1, false).map((m) => m.offset),
    [1, 2, 3],
  );
  assert.deepEqual(
    queued(queue, 1).map((m) => m.offset),
    [2, 3],
    'after a marker',
  );
  assert.equal(queue.messageCount, 3, 'reading moved nothing');
  assert.equal(queue.locate(0)?.held, true);
  assert.equal(queue.locate(2)?.held, false);
  assert.equal(queue.locate(9), undefined);
  assert.equal((await queue.read(2))?.body.toString(), 'c');
  assert.deepEqual(queue.offsetRange(), { lowest: 0, highest: 3 });
  let visits = 0;
  queue.forEachQueued(-1, true, () => ++visits < 2);
  assert.equal(visits, 2, 'stops when asked');
});

test('forEachQueued merges priority levels and held messages in offset order, skipping expired ones', async () => {
  const { queue } = await openQueue({ 'x-max-priority': 5 });
  queue.append(message('low-0', { priority: 0 }));
  queue.append(message('high-1', { priority: 5 }));
  queue.append(message('low-2', { priority: 0 }));
  queue.append(message('gone-3', { priority: 0, ttlMs: 1 }));
  queue.append(message('mid-4', { priority: 3 }));
  const held = await queue.get(false, {}); // the head: the highest priority
  assert.equal(held?.offset, 1);
  await sleep(5);
  assert.deepEqual(
    queued(queue).map((m) => m.offset),
    [0, 1, 2, 4],
  );
  assert.equal(queue.locate(3), undefined, 'expired is gone even before it reaches the head');
});

test('removeUnheld deletes a message from the middle; it stays deleted after a restart', async () => {
  const { queue, dir } = await openQueue();
  for (const t of ['a', 'b', 'c']) queue.append(message(t));
  const bytesBefore = queue.readyBytes;
  assert.equal(queue.removeUnheld(1), true);
  assert.equal(queue.removeUnheld(1), false, 'once');
  assert.equal(queue.messageCount, 2);
  assert.equal(queue.readyBytes, bytesBefore - 1);
  const held = await queue.get(false, {});
  assert.equal(queue.removeUnheld(held?.offset ?? -1), false, 'a held message is not ready');
  await queue.close();
  const reopened = await openQueue({}, dir);
  assert.deepEqual(
    queued(reopened.queue).map((m) => m.offset),
    [0, 2],
  );
  await reopened.queue.close();
});

test('a no-ack consumer still gets appended messages, from the ready queue rather than the fast path', async () => {
  const { queue } = await openQueue();
  const consumer = new TestConsumer('c', {}, Number.POSITIVE_INFINITY, true);
  queue.addConsumer(consumer);
  const offset = queue.append(message('x'));
  assert.equal(offset, 0, 'an offset even though a consumer was waiting');
  await sleep(1);
  assert.deepEqual(
    consumer.received.map((r) => r.text),
    ['x'],
  );
  assert.equal(queue.messageCount, 0);
});

test('setHeldExpiry moves the expiry of a held message, for its owner only; the message keeps it when released', async () => {
  const { queue } = await openQueue();
  queue.append(message('a', { ttlMs: 60_000 }));
  const owner = {};
  const taken = await queue.get(false, owner);
  assert.ok(taken !== null && taken.expiresAt > 0);
  const later = taken.expiresAt + 100_000;
  assert.equal(queue.setHeldExpiry(0, {}, later), false);
  assert.equal(queue.setHeldExpiry(0, owner, later), true);
  assert.equal(queue.locate(0)?.expiresAt, later);
  queue.releaseOwner(owner);
  assert.equal(queue.locate(0)?.held, false);
  assert.equal(queue.locate(0)?.expiresAt, later);
});

test('a delayed message is stored with its offset but delivered only once due, in its offset place', async () => {
  const { queue } = await openQueue();
  const later = queue.append(message('later'), undefined, Date.now() + 40);
  const now = queue.append(message('now'));
  assert.deepEqual([later, now], [0, 1]);
  assert.equal(queue.messageCount, 1);
  assert.equal(queue.delayedCount, 1);
  assert.ok((queue.locate(later)?.delayedUntil ?? 0) > 0);
  assert.deepEqual(
    queued(queue).map((m) => m.offset),
    [1],
    'listed only when asked',
  );
  const all: number[] = [];
  queue.forEachQueued(-1, true, (m) => all.push(m.offset) > 0, true);
  assert.deepEqual(all, [0, 1]);
  const consumer = new TestConsumer('c', {}, Number.POSITIVE_INFINITY, true);
  queue.addConsumer(consumer);
  await sleep(1);
  assert.deepEqual(
    consumer.received.map((r) => r.text),
    ['now'],
  );
  const deadline = Date.now() + 5_000;
  while (consumer.received.length < 2 && Date.now() < deadline) await sleep(10);
  assert.deepEqual(
    consumer.received.map((r) => r.text),
    ['now', 'later'],
  );
  assert.equal(queue.delayedCount, 0);
});

test('a delayed message can be deleted by id before it is due, and one that expires while delayed is gone', async () => {
  const { queue } = await openQueue();
  const deleted = queue.append(message('deleted'), undefined, Date.now() + 60_000);
  const expiring = queue.append(message('expiring', { ttlMs: 5 }), undefined, Date.now() + 20);
  assert.equal(queue.removeUnheld(deleted), true);
  assert.equal(queue.locate(deleted), undefined);
  const deadline = Date.now() + 5_000;
  while (queue.delayedCount > 0 && Date.now() < deadline) await sleep(10);
  assert.equal(queue.locate(expiring), undefined);
  assert.equal(queue.messageCount, 0);
  assert.equal(await queue.get(true), null);
});
