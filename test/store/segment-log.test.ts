import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GroupCommit } from '../../src/store/group-commit.js';
import { SegmentLog, segmentFileName } from '../../src/store/segment-log.js';
import { durable, record, tempDir } from './helpers.js';

const noSync = () => new GroupCommit({ fsync: false });

function segFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.seg'))
    .sort();
}

test('segment file names are zero-padded base offsets', () => {
  assert.equal(segmentFileName(0), '00000000000000000000.seg');
  assert.equal(segmentFileName(1234), '00000000000000001234.seg');
});

test('append / read / readRange across segment rolls and reopen', async () => {
  const dir = tempDir();
  const commit = noSync();
  let log = await SegmentLog.open({ dir, commit, fsync: false, segmentMaxBytes: 4096 });
  assert.equal(log.nextOffset, 0);
  for (let i = 0; i < 300; i++) assert.equal(log.append(record(i, true, 100 + (i % 50))), i);
  // Readable from the in-memory batch before anything is written.
  assert.equal((await log.read(5))!.routingKey, 'rk.5');
  await durable(log, 299);
  assert.ok(segFiles(dir).length > 5, 'rolled into several segments');
  for (const i of [0, 1, 17, 150, 299]) {
    const r = (await log.read(i))!;
    assert.equal(r.offset, i);
    assert.equal(r.routingKey, `rk.${i}`);
    assert.equal(r.body.length, 100 + (i % 50));
  }
  assert.equal(await log.read(300), undefined);
  const range = await log.readRange(10, 1 << 20, 100);
  assert.deepEqual(
    range.map((r) => r.offset),
    Array.from({ length: 100 }, (_, k) => 10 + k),
  );
  const small = await log.readRange(10, 500, 100);
  assert.ok(small.length >= 1 && small.length <= 4, `byte limit respected (${small.length})`);
  assert.equal((await log.readRange(299, 1, 10)).length, 1, 'always at least one record');
  const infos = log.segmentInfos();
  assert.equal(infos[0].firstTimestamp, 1000);
  for (let k = 1; k < infos.length; k++) assert.equal(infos[k].base, infos[k - 1].nextOffset);
  await log.close();

  log = await SegmentLog.open({ dir, commit, fsync: false, segmentMaxBytes: 4096 });
  assert.equal(log.nextOffset, 300);
  assert.equal(log.append(record(300)), 300);
  const all: number[] = [];
  await log.scan((r) => all.push(r.offset));
  assert.deepEqual(
    all,
    Array.from({ length: 301 }, (_, k) => k),
  );
  await log.destroy();
  assert.equal(fs.existsSync(dir), false);
});

test('readRange mixes written and in-memory records without gaps', async () => {
  const dir = tempDir();
  const log = await SegmentLog.open({ dir, commit: noSync(), fsync: false, segmentMaxBytes: 4096 });
  for (let i = 0; i < 50; i++) log.append(record(i));
  await durable(log, 49);
  for (let i = 50; i < 80; i++) log.append(record(i));
  const r = await log.readRange(40, 1 << 20, 1000);
  assert.deepEqual(
    r.map((x) => x.offset),
    Array.from({ length: 40 }, (_, k) => 40 + k),
  );
  await log.destroy();
});

test('records larger than the read window', async () => {
  const dir = tempDir();
  const log = await SegmentLog.open({ dir, commit: noSync(), fsync: false, segmentMaxBytes: 1 << 20 });
  log.append(record(0));
  log.append(record(1, true, 5 * 1024 * 1024));
  log.append(record(2));
  await durable(log, 2);
  assert.equal((await log.read(1))!.body.length, 5 * 1024 * 1024);
  assert.deepEqual(
    (await log.readRange(0, 1024, 10)).map((r) => r.offset),
    [0],
  );
  assert.deepEqual(
    (await log.readRange(1, 64 * 1024 * 1024, 10)).map((r) => r.offset),
    [1, 2],
  );
  await log.close();
  const again = await SegmentLog.open({ dir, commit: noSync(), fsync: false, segmentMaxBytes: 1 << 20 });
  assert.equal(again.nextOffset, 3);
  assert.equal((await again.read(1))!.body.length, 5 * 1024 * 1024);
  await again.destroy();
});

async function writeRecords(dir: string, n: number): Promise<void> {
  const log = await SegmentLog.open({ dir, commit: noSync(), fsync: false, segmentMaxBytes: 8192 });
  for (let i = 0; i < n; i++) log.append(record(i, true, 60));
  await log.close();
}

for (const damage of ['truncate', 'flip-byte', 'garbage-tail', 'zero-tail']) {
  test(`torn tail recovery: ${damage}`, async () => {
    const dir = tempDir();
    await writeRecords(dir, 100);
    const files = segFiles(dir);
    const last = path.join(dir, files[files.length - 1]);
    const size = fs.statSync(last).size;
    if (damage === 'truncate') fs.truncateSync(last, size - 7);
    if (damage === 'flip-byte') {
      const fd = fs.openSync(last, 'r+');
      fs.writeSync(fd, Buffer.from([0xaa]), 0, 1, size - 3);
      fs.closeSync(fd);
    }
    if (damage === 'garbage-tail') fs.appendFileSync(last, Buffer.from([0, 0, 0, 60, 1, 2, 3]));
    if (damage === 'zero-tail') fs.appendFileSync(last, Buffer.alloc(512));
    const warnings: string[] = [];
    const log = await SegmentLog.open({
      dir,
      commit: noSync(),
      fsync: false,
      segmentMaxBytes: 8192,
      onWarning: (m) => warnings.push(m),
    });
    const expectedNext = damage === 'garbage-tail' || damage === 'zero-tail' ? 100 : 99;
    assert.equal(log.nextOffset, expectedNext);
    assert.equal(warnings.length, 1);
    for (let i = 0; i < expectedNext; i++) assert.equal((await log.read(i))!.routingKey, `rk.${i}`);
    assert.equal(log.append(record(1000)), expectedNext);
    await log.close();
    const reopened = await SegmentLog.open({ dir, commit: noSync(), fsync: false, segmentMaxBytes: 8192 });
    assert.equal(reopened.nextOffset, expectedNext + 1);
    assert.equal((await reopened.read(expectedNext))!.routingKey, 'rk.1000');
    await reopened.destroy();
  });
}

test('whenDurable: persistent waits for the group-commit sync, transient only for the write', async () => {
  const dir = tempDir();
  const synced: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const commit = new GroupCommit({
    syncFn: (fd, cb) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      synced.push(fd);
      setImmediate(() => {
        inFlight--;
        cb(null);
      });
    },
  });
  const log = await SegmentLog.open({ dir, commit, fsync: true, segmentMaxBytes: 1 << 20 });
  const order: string[] = [];
  const t = log.append(record(0, false));
  log.whenDurable(t, () => order.push('transient'));
  const p = log.append(record(1, true));
  log.whenDurable(p, () => order.push('persistent'));
  await durable(log, p);
  assert.deepEqual(order, ['transient', 'persistent']);
  assert.equal(synced.length, 1);
  // A flood of persistent appends over several ticks: syncs batch, never overlap.
  const waits: Promise<void>[] = [];
  for (let tick = 0; tick < 20; tick++) {
    for (let i = 0; i < 50; i++) waits.push(durable(log, log.append(record(i, true))));
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(waits);
  assert.equal(maxInFlight, 1);
  assert.ok(synced.length < 25, `syncs were batched (${synced.length})`);
  await new Promise<void>((resolve) => log.whenDurable(0, () => resolve()));
  await assert.rejects(durable(log, 1_000_000));
  await log.destroy();
});

test('deleteSegmentsBefore / deleteSegment remove whole sealed segments only', async () => {
  const dir = tempDir();
  const log = await SegmentLog.open({ dir, commit: noSync(), fsync: false, segmentMaxBytes: 4096 });
  for (let i = 0; i < 200; i++) log.append(record(i, true, 100));
  await durable(log, 199);
  const infos = log.segmentInfos();
  const before = segFiles(dir).length;
  assert.equal(log.deleteSegmentsBefore(infos[2].base + 1), 2, 'segment 2 still holds offsets >= the limit');
  assert.equal(log.firstOffset, infos[2].base);
  assert.equal(await log.read(0), undefined);
  assert.equal(log.deleteSegment(infos[3].base), true);
  assert.equal(log.deleteSegment(log.activeSegmentBase), false);
  assert.equal(log.deleteSegmentsBefore(Number.MAX_SAFE_INTEGER), before - 4 - 1 + 1);
  assert.equal(log.segmentInfos().length, 1);
  const r = await log.readRange(0, 1 << 20, 1000);
  assert.ok(r.length > 0 && r[0].offset === log.activeSegmentBase);
  await new Promise((res) => setTimeout(res, 20));
  assert.equal(segFiles(dir).length, 1);
  await log.destroy();
});
