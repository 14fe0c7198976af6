import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { GroupCommit } from '../../src/store/group-commit.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { SettleLog } from '../../src/store/settle-log.js';
import { durable, record, recoverEntries, tempDir } from './helpers.js';

const commit = new GroupCommit({ fsync: false });

async function openStore(dir: string, durableStore = true, segmentMaxBytes = 4096): Promise<QueueStore> {
  return QueueStore.open({ dir, commit, fsync: true, durable: durableStore, segmentMaxBytes });
}

async function recovered(store: QueueStore): Promise<number[]> {
  const live: number[] = [];
  for (const { offset, size, expiresAt, priority } of await recoverEntries(store)) {
    assert.ok(size > 0);
    assert.equal(expiresAt, 0);
    assert.equal(priority, offset % 10);
    live.push(offset);
  }
  return live;
}

function segFileCount(dir: string): number {
  return fs.readdirSync(dir).filter((n) => n.endsWith('.seg')).length;
}

test('recover yields exactly the unsettled persistent records', async () => {
  const dir = tempDir();
  let store = await openStore(dir);
  assert.deepEqual(await recovered(store), []);
  for (let i = 0; i < 30; i++) store.append(record(i, i % 3 !== 0));
  for (const o of [1, 2, 4, 3, 29]) store.settle(o);
  store.settle(2); // a repeated settle is ignored
  store.settle(12345); // unknown offsets too
  await durable(store, 29);
  await store.close();
  store = await openStore(dir);
  const expected = Array.from({ length: 30 }, (_, i) => i).filter(
    (i) => i % 3 !== 0 && ![1, 2, 4, 29].includes(i),
  );
  assert.deepEqual(await recovered(store), expected);
  assert.equal(store.nextOffset, 30);
  assert.equal((await store.read(5))!.routingKey, 'rk.5');
  await store.destroy();
});

test('fully settled segments are deleted, at settle time and at recovery', async () => {
  const dir = tempDir();
  let store = await openStore(dir);
  const n = 200;
  for (let i = 0; i < n; i++) store.append(record(i, true, 100));
  await durable(store, n - 1);
  const segments = store.segmentCount;
  assert.ok(segments > 5);
  // Settle everything but the last 10 messages: all sealed segments but the ones holding those go away.
  for (let i = 0; i < n - 10; i++) store.settle(i);
  assert.ok(store.segmentCount <= 2, `segments left: ${store.segmentCount}`);
  assert.equal(await store.read(0), undefined);
  await store.flush();
  await store.close();
  assert.ok(segFileCount(dir) <= 2);
  store = await openStore(dir);
  assert.deepEqual(
    await recovered(store),
    Array.from({ length: 10 }, (_, k) => n - 10 + k),
  );
  // Messages of a sealed segment settled before reopening: the segment is deleted during recover().
  for (let i = n; i < n + 100; i++) store.append(record(i, true, 100));
  for (let i = n - 10; i < n + 90; i++) store.settle(i);
  await store.close();
  store = await openStore(dir);
  assert.deepEqual(
    await recovered(store),
    Array.from({ length: 10 }, (_, k) => n + 90 + k),
  );
  assert.ok(store.segmentCount <= 2);
  await store.destroy();
});

test('a segment fully settled while active is deleted once it rolls', async () => {
  const dir = tempDir();
  const store = await openStore(dir);
  // Every message is settled while its segment is still the active one.
  let last = -1;
  for (let i = 0; i < 1000 && store.firstOffset === 0; i++) {
    last = store.append(record(i, true, 100));
    if (store.firstOffset === 0) store.settle(last);
  }
  assert.ok(last > 10 && store.firstOffset === last, 'the old segment went away at the roll');
  await durable(store, last);
  assert.equal(await store.read(0), undefined);
  assert.equal(store.segmentCount, 1);
  await store.destroy();
});

test('a transient store ignores what its directory holds at open and keeps nothing across restarts', async () => {
  const dir = tempDir();
  let store = await openStore(dir, false);
  for (let i = 0; i < 20; i++) store.append(record(i, true));
  await durable(store, 19);
  assert.equal((await store.read(3))!.offset, 3);
  await store.close();
  assert.ok(segFileCount(dir) >= 1);
  store = await openStore(dir, false);
  assert.equal(store.nextOffset, 0);
  assert.deepEqual(await recovered(store), []);
  assert.equal(fs.readdirSync(dir).includes('settled.log'), false);
  await store.destroy();
});

test('settle-log compaction after heavy churn keeps recovery exact', async () => {
  const dir = tempDir();
  let store = await QueueStore.open({ dir, commit, fsync: false, durable: true, segmentMaxBytes: 64 * 1024 });
  // Keep message 0 alive forever so its segment stays; churn enough to grow the settle log past 1 MiB.
  store.append(record(0, true));
  const total = 120_000;
  for (let i = 1; i < total; i++) {
    store.append(record(i, true));
    if (i > 1) store.settle(i - 1);
    if (i % 5000 === 0) await durable(store, i);
  }
  await durable(store, total - 1);
  await store.flush();
  await store.close();
  const settleBytes = fs.statSync(`${dir}/settled.log`).size;
  assert.ok(settleBytes < (total * 12) / 2, `settle log was compacted (${settleBytes} bytes)`);
  store = await openStore(dir);
  assert.deepEqual(await recovered(store), [0, total - 1]);
  await store.destroy();
});

test('property: random append/settle/reopen sequences keep recover() equal to the model', async () => {
  type Op =
    | { kind: 'append'; persistent: boolean; size: number }
    | { kind: 'settle'; pick: number }
    | { kind: 'reopen' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('append' as const),
        persistent: fc.boolean(),
        size: fc.integer({ min: 0, max: 700 }),
      }),
    },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('settle' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 120 }), async (ops) => {
      const dir = tempDir('store-prop-');
      let store = await openStore(dir, true, 4096);
      const live = new Map<number, boolean>(); // offset -> persistent, messages the queue still holds
      let next = 0;
      for (const o of ops) {
        if (o.kind === 'append') {
          const offset = store.append(record(next, o.persistent, o.size));
          assert.equal(offset, next++);
          live.set(offset, o.persistent);
        } else if (o.kind === 'settle') {
          const keys = [...live.keys()];
          if (keys.length === 0) continue;
          const offset = keys[o.pick % keys.length];
          store.settle(offset);
          live.delete(offset);
        } else {
          await store.close();
          store = await openStore(dir, true, 4096);
          const got = await recovered(store);
          for (const [k, p] of live) if (!p) live.delete(k); // transient messages are gone
          assert.deepEqual(
            got,
            [...live.keys()].sort((a, b) => a - b),
          );
          assert.equal(store.nextOffset, next);
          for (const k of got) assert.equal((await store.read(k))!.routingKey, `rk.${k}`);
        }
      }
      await store.destroy();
    }),
    { numRuns: 60 },
  );
});

test('settles that reached the disk before their records never swallow later messages (kill -9 race)', async () => {
  const dir = tempDir();
  let store = await openStore(dir, true, 2048);
  for (let i = 0; i < 100; i++) store.append(record(i));
  await durable(store, 99);
  for (let i = 0; i < 40; i++) store.settle(i);
  await store.close();
  // The crash left acks for offsets 100..139 in the settle log, but their records never reached the segment.
  const settles = await SettleLog.open(path.join(dir, 'settled.log'), { commit, fsync: false });
  for (let o = 100; o < 140; o++) settles.settle(o);
  await settles.close();

  store = await openStore(dir, true, 2048);
  assert.deepEqual(
    await recovered(store),
    Array.from({ length: 60 }, (_, i) => 40 + i),
  );
  assert.ok(
    store.nextOffset >= 140,
    `offsets named by the settle log are not handed out again (${store.nextOffset})`,
  );
  const fresh: number[] = [];
  for (let i = 0; i < 50; i++) fresh.push(store.append(record(i)));
  await durable(store, fresh[fresh.length - 1]);
  await store.close();

  // Two restarts later every new message is still there.
  for (let round = 0; round < 2; round++) {
    store = await openStore(dir, true, 2048);
    const live = await recovered(store);
    assert.deepEqual(live.slice(60), fresh, `round ${round}: the 50 new messages survive`);
    assert.equal(live.length, 110);
    await store.close();
  }
  store = await openStore(dir, true, 2048);
  await store.destroy();
});
