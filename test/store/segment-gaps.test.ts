import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GroupCommit } from '../../src/store/group-commit.js';
import { SegmentLog } from '../../src/store/segment-log.js';
import { durable, record, tempDir } from './helpers.js';

/**
 * Offsets reserved for transient messages kept in memory leave gaps in the log. Readers and recovery must step
 * over them without calling them damage, and must still find real damage.
 */

const noSync = () => new GroupCommit({ fsync: false });

async function openLog(dir: string, damage: unknown[] = []) {
  return SegmentLog.open({
    dir,
    commit: noSync(),
    fsync: false,
    segmentMaxBytes: 4096,
    onDamage: (d) => damage.push(d),
  });
}

/** Appends 0..n-1 as records except where `reserved(i)`, which only take the offset. */
function fill(log: SegmentLog, n: number, reserved: (i: number) => boolean): number[] {
  const written: number[] = [];
  for (let i = 0; i < n; i++) {
    if (reserved(i)) assert.equal(log.reserveOffset(), i);
    else {
      assert.equal(log.append(record(i, true, 60)), i);
      written.push(i);
    }
  }
  return written;
}

test('reads and readRange step over reserved offsets, before and after the write', async () => {
  const dir = tempDir();
  const log = await openLog(dir);
  const written = fill(log, 400, (i) => i % 7 === 3 || (i >= 100 && i < 160));
  assert.equal(log.nextOffset, 400);
  assert.equal((await log.read(4))?.offset, 4, 'from the unwritten batch');
  await durable(log, 399);
  for (const i of [0, 2, 4, 99, 160, 161, 399]) assert.equal((await log.read(i))?.offset, i);
  for (const i of [3, 10, 100, 130, 159])
    assert.equal(await log.read(i), undefined, `offset ${i} was reserved`);
  const range = await log.readRange(95, 1 << 20, 1000);
  assert.deepEqual(
    range.map((r) => r.offset),
    written.filter((o) => o >= 95),
  );
  const all: number[] = [];
  for await (const r of log.records()) all.push(r.offset);
  assert.deepEqual(all, written);
  await log.close();
});

test('recovery takes gaps for what they are: no damage, every record back, the tail after the last record', async () => {
  const dir = tempDir();
  let log = await openLog(dir);
  const written = fill(log, 300, (i) => i % 5 === 0 || i >= 290);
  await durable(log, written[written.length - 1]);
  await log.close();
  const damage: unknown[] = [];
  log = await openLog(dir, damage);
  assert.deepEqual(damage, []);
  const all: number[] = [];
  for await (const r of log.records()) all.push(r.offset);
  assert.deepEqual(all, written);
  // Reserved offsets at the tail were never named on disk: numbering goes on after the last record.
  assert.equal(log.nextOffset, written[written.length - 1] + 1);
  await log.close();
});
