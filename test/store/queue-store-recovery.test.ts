/**
 * QueueStore recovery from entry tables: what it yields across sealed and active segments (settled and unsettled,
 * persistent or not, priorities, TTLs), against a model and against a recovery that scans every segment.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { GroupCommit } from '../../src/store/group-commit.js';
import type { QueueStore } from '../../src/store/queue-store.js';
import type { NewRecord } from '../../src/store/record-format.js';
import type { StorageDamage } from '../../src/store/storage-damage.js';
import { filesEndingWith, type LiveEntry, openDurableQueue, recoverEntries, withTempDir } from './helpers.js';

const commit = new GroupCommit({ fsync: false });
const SEGMENT_BYTES = 2048;

interface Fields {
  persistent: boolean;
  priority: number;
  expiresAt: number;
  size: number;
}

function rec(i: number, f: Fields): NewRecord {
  return {
    timestamp: 1000 + i,
    persistent: f.persistent,
    expiresAt: f.expiresAt,
    priority: f.priority,
    exchange: 'ex',
    routingKey: `rk.${i}`,
    properties: Buffer.alloc(0),
    body: Buffer.alloc(f.size, i & 0xff),
  };
}

function open(dir: string, report: { damage?: StorageDamage[] } = {}): Promise<QueueStore> {
  return openDurableQueue(dir, commit, SEGMENT_BYTES, report);
}

function dropIndexes(dir: string): void {
  for (const f of filesEndingWith(dir, '.idx')) fs.unlinkSync(f);
}

test('property: recovery from entry tables equals the model, and a recovery by scan, across segments', async () => {
  const fields: fc.Arbitrary<Fields> = fc.record({
    persistent: fc.oneof(
      { weight: 4, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
    priority: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 9 })),
    expiresAt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 45 })),
    size: fc.oneof(fc.constant(64), fc.integer({ min: 0, max: 600 })),
  });
  type Op =
    | { kind: 'append'; n: number; f: Fields }
    | { kind: 'settle'; pick: number; n: number }
    | { kind: 'reopen'; scan: boolean };
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('append' as const),
        n: fc.integer({ min: 1, max: 12 }),
        f: fields,
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('settle' as const),
        pick: fc.nat(),
        n: fc.integer({ min: 1, max: 8 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const), scan: fc.boolean() }) },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 80 }), (ops) =>
      withTempDir('store-rec-prop-', async (dir) => {
        let store = await open(dir);
        await store.recover(() => {});
        const model = new Map<number, LiveEntry & { persistent: boolean }>();
        for (const o of [...ops, { kind: 'reopen', scan: false } as const]) {
          if (o.kind === 'append') {
            for (let k = 0; k < o.n; k++) {
              const offset = store.append(rec(store.nextOffset, o.f));
              model.set(offset, {
                offset,
                size: o.f.size,
                expiresAt: o.f.expiresAt,
                priority: o.f.priority,
                persistent: o.f.persistent,
              });
            }
          } else if (o.kind === 'settle') {
            const keys = [...model.keys()];
            for (let k = 0; k < o.n && keys.length > 0; k++) {
              const [offset] = keys.splice((o.pick + k * 7) % keys.length, 1);
              store.settle(offset);
              model.delete(offset);
            }
          } else {
            await store.flush();
            await store.close();
            if (o.scan) dropIndexes(dir);
            store = await open(dir);
            const got = await recoverEntries(store);
            for (const [k, e] of model) if (!e.persistent) model.delete(k); // gone with the restart
            const expected = [...model.values()]
              .sort((a, b) => a.offset - b.offset)
              .map(({ persistent: _, ...e }) => e);
            assert.deepEqual(got, expected);
            if (!o.scan) assert.ok(store.recovery.segmentsScanned <= 1, 'only the active segment is scanned');
            else assert.equal(store.recovery.segmentsFromIndex, 0);
          }
        }
        await store.destroy();
      }),
    ),
    { numRuns: 50 },
  );
});

test('a record damaged after its table was written counts until a read finds it lost; then never again', () =>
  withTempDir('store-rec-damage-', async (dir) => {
    const f: Fields = { persistent: true, priority: 0, expiresAt: 0, size: 100 };
    let store = await open(dir);
    await store.recover(() => {});
    for (let i = 0; i < 100; i++) store.append(rec(i, f));
    await store.close();
    // Flip a body byte of offset 5, in the first (sealed) segment.
    const file = filesEndingWith(dir, '.seg')[0];
    const buf = fs.readFileSync(file);
    const at = buf.indexOf(Buffer.from('rk.5'), 0, 'latin1') + 20;
    buf[at] ^= 0xff;
    fs.writeFileSync(file, buf);

    const damage: StorageDamage[] = [];
    store = await open(dir, { damage });
    const all = Array.from({ length: 100 }, (_, i) => i);
    assert.deepEqual(
      (await recoverEntries(store)).map((e) => e.offset),
      all,
      'the table still lists it: damage in a sealed segment is found when read',
    );
    assert.equal(damage.length, 0);
    assert.equal(await store.read(5), undefined);
    assert.deepEqual(
      damage.map((d) => [d.firstOffset, d.lastOffset]),
      [[5, 5]],
    );
    assert.equal((await store.read(6))!.routingKey, 'rk.6');
    await store.close();

    damage.length = 0;
    store = await open(dir, { damage });
    assert.deepEqual(
      (await recoverEntries(store)).map((e) => e.offset),
      all.filter((o) => o !== 5),
    );
    assert.deepEqual(
      damage.map((d) => [d.firstOffset, d.lastOffset]),
      [[5, 5]],
      'reported again at start, from the index',
    );
    await store.destroy();
  }));
