import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GroupCommit } from '../../src/store/group-commit.js';
import { SETTLE_ENTRY_BYTES, SettleLog } from '../../src/store/settle-log.js';
import { tempDir } from './helpers.js';

async function loadAll(file: string, commit: GroupCommit, warn?: (m: string) => void): Promise<number[]> {
  const log = await SettleLog.open(file, { commit, fsync: true, onWarning: warn });
  const out: number[] = [];
  await log.load((o) => out.push(o));
  await log.close();
  return out;
}

test('settles are batched, flushed durably and loaded back', async () => {
  let syncs = 0;
  const commit = new GroupCommit({
    syncFn: (_fd, cb) => {
      syncs++;
      cb(null);
    },
  });
  const file = path.join(tempDir(), 'settled.log');
  const log = await SettleLog.open(file, { commit, fsync: true });
  await log.load(() => assert.fail('empty'));
  for (let i = 0; i < 1000; i++) log.settle(i * 3);
  log.settle(2 ** 45);
  await log.flush();
  assert.equal(syncs, 1);
  assert.equal(log.sizeBytes, 1001 * SETTLE_ENTRY_BYTES);
  assert.throws(() => log.settle(-1));
  await log.close();
  const loaded = await loadAll(file, commit);
  assert.equal(loaded.length, 1001);
  assert.equal(loaded[999], 2997);
  assert.equal(loaded[1000], 2 ** 45);
});

test('torn tail is truncated; a corrupt middle entry is skipped', async () => {
  const commit = new GroupCommit({ fsync: false });
  const file = path.join(tempDir(), 'settled.log');
  const log = await SettleLog.open(file, { commit, fsync: false });
  for (let i = 0; i < 10; i++) log.settle(i);
  await log.close();
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from([0xee]), 0, 1, 3 * SETTLE_ENTRY_BYTES + 2);
  fs.closeSync(fd);
  fs.appendFileSync(file, Buffer.alloc(7)); // torn partial entry
  const warnings: string[] = [];
  const loaded = await loadAll(file, commit, (m) => warnings.push(m));
  assert.deepEqual(loaded, [0, 1, 2, 4, 5, 6, 7, 8, 9]);
  assert.equal(fs.statSync(file).size, 10 * SETTLE_ENTRY_BYTES);
  assert.equal(warnings.length, 2);
  // A zero-filled tail (file extended, data lost) is not mistaken for "offset 0 settled".
  fs.writeFileSync(file, Buffer.alloc(SETTLE_ENTRY_BYTES * 3));
  assert.deepEqual(await loadAll(file, commit), []);
});

test('compaction keeps only live entries and accepts settles meanwhile', async () => {
  const commit = new GroupCommit({ fsync: false });
  const dir = tempDir();
  const file = path.join(dir, 'settled.log');
  const log = await SettleLog.open(file, { commit, fsync: true });
  for (let i = 0; i < 100; i++) log.settle(i);
  await log.flush();
  const compaction = log.compact(90, (o) => o !== 95);
  log.settle(500);
  await compaction;
  await log.flush();
  await log.close();
  assert.deepEqual(await loadAll(file, commit), [90, 91, 92, 93, 94, 96, 97, 98, 99, 500]);
  assert.deepEqual(fs.readdirSync(dir), ['settled.log']);
});
