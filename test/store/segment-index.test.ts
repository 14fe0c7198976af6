/** Persisted indexes of sealed segments: written at roll, used instead of a scan at open, rebuilt when bad. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GroupCommit } from '../../src/store/group-commit.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { segmentIndexFileName } from '../../src/store/segment-index-file.js';
import { SegmentLog } from '../../src/store/segment-log.js';
import type { StorageDamage } from '../../src/store/storage-damage.js';
import { durable, record, recoverOffsets, tempDir } from './helpers.js';

const commit = new GroupCommit({ fsync: false });
const N = 400;

function names(dir: string, ext: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith(ext))
    .sort();
}

async function open(
  dir: string,
  extra: { warnings?: string[]; damage?: StorageDamage[]; fsync?: boolean } = {},
) {
  return SegmentLog.open({
    dir,
    commit: extra.fsync ? new GroupCommit({ fsync: true }) : commit,
    fsync: extra.fsync ?? false,
    segmentMaxBytes: 4096,
    onWarning: (m) => extra.warnings?.push(m),
    onDamage: (d) => extra.damage?.push(d),
  });
}

async function writeLog(dir: string, n = N, fsync = false): Promise<void> {
  const log = await open(dir, { fsync });
  for (let i = 0; i < n; i++) log.append(record(i, true, 60 + (i % 9) * 10));
  await durable(log, n - 1);
  await log.close();
}

async function check(log: SegmentLog, expected: number[]): Promise<void> {
  const seen: number[] = [];
  await log.scan((r) => {
    assert.equal(r.routingKey, `rk.${r.offset}`);
    assert.equal(r.timestamp, 1000 + r.offset);
    seen.push(r.offset);
  });
  assert.deepEqual(seen, expected);
  for (const o of [expected[0], expected[Math.floor(expected.length / 2)], expected[expected.length - 1]])
    assert.equal((await log.read(o))!.offset, o);
}

const all = (n = N) => Array.from({ length: n }, (_, i) => i);

test('an index is written when a segment is sealed, and the next open loads it instead of scanning', async () => {
  for (const fsync of [false, true]) {
    const dir = tempDir();
    await writeLog(dir, N, fsync);
    const segs = names(dir, '.seg');
    const idx = names(dir, '.idx');
    assert.ok(segs.length > 5);
    assert.deepEqual(
      idx,
      segs.slice(0, -1).map((n) => n.replace('.seg', '.idx')),
      'one index per sealed segment, none for the active one',
    );
    const log = await open(dir, { fsync });
    assert.deepEqual(log.recovery, { segmentsScanned: 1, segmentsFromIndex: segs.length - 1 });
    await check(log, all());
    const before = await SegmentLog.open({ dir, commit, fsync: false, persistIndexes: false });
    assert.deepEqual(before.segmentInfos(), log.segmentInfos(), 'same segment figures as a scan would find');
    await before.close();
    await log.destroy();
  }
});

test('the reopened active segment gets its index when it rolls; deleting a segment deletes its index', async () => {
  const dir = tempDir();
  await writeLog(dir, 50);
  let log = await open(dir);
  for (let i = 50; i < N; i++) log.append(record(i, true, 60 + (i % 9) * 10));
  await durable(log, N - 1);
  await log.close();
  log = await open(dir);
  assert.equal(log.recovery.segmentsScanned, 1);
  await check(log, all());
  const infos = log.segmentInfos();
  assert.ok(log.deleteSegment(infos[1].base));
  await log.close();
  assert.equal(fs.existsSync(path.join(dir, segmentIndexFileName(infos[1].base))), false);
  assert.equal(names(dir, '.idx').length, names(dir, '.seg').length - 1);
  await (await open(dir)).destroy();
});

for (const damage of ['deleted', 'flipped byte', 'truncated', 'data file longer', 'stale tmp'] as const) {
  test(`an index that is ${damage} is not trusted: the segment is scanned and the index rewritten`, async () => {
    const dir = tempDir();
    await writeLog(dir);
    const victimIdx = path.join(dir, names(dir, '.idx')[2]);
    const victimSeg = victimIdx.replace('.idx', '.seg');
    const original = fs.readFileSync(victimIdx);
    let expectDamage = 0;
    if (damage === 'deleted') fs.unlinkSync(victimIdx);
    if (damage === 'flipped byte') {
      const b = Buffer.from(original);
      b[Math.floor(b.length / 2)] ^= 1;
      fs.writeFileSync(victimIdx, b);
    }
    if (damage === 'truncated') fs.writeFileSync(victimIdx, original.subarray(0, original.length - 10));
    if (damage === 'data file longer') {
      fs.appendFileSync(victimSeg, Buffer.alloc(100, 7)); // garbage after the last record: a damaged tail
      expectDamage = 1;
    }
    if (damage === 'stale tmp') fs.writeFileSync(`${victimIdx}.tmp`, 'partial');
    const warnings: string[] = [];
    const found: StorageDamage[] = [];
    const log = await open(dir, { warnings, damage: found });
    const segs = names(dir, '.seg').length;
    const rebuilt = damage === 'stale tmp' ? 0 : 1;
    assert.deepEqual(log.recovery, { segmentsScanned: 1 + rebuilt, segmentsFromIndex: segs - 1 - rebuilt });
    assert.equal(found.length, expectDamage, warnings.join(' | '));
    if (damage === 'data file longer') {
      assert.equal(found[0].fromByte, fs.statSync(victimSeg).size - 100);
      assert.ok(found[0].lastOffset < found[0].firstOffset, 'garbage after the last record loses nothing');
    }
    await check(log, all());
    await log.close();
    assert.equal(fs.existsSync(`${victimIdx}.tmp`), false);
    if (damage !== 'data file longer')
      assert.deepEqual(fs.readFileSync(victimIdx), original, 'rewritten as it was');
    const again = await open(dir);
    assert.deepEqual(again.recovery, { segmentsScanned: 1, segmentsFromIndex: segs - 1 });
    await check(again, all());
    await again.destroy();
  });
}

test('damage in an indexed sealed segment is found by the first read, reported once, and kept in its index', async () => {
  const dir = tempDir();
  await writeLog(dir);
  const seg = path.join(dir, names(dir, '.seg')[3]);
  // Records of the victim segment: flip a byte in the middle of the file.
  const buf = fs.readFileSync(seg);
  const at = Math.floor(buf.length / 2);
  buf[at] ^= 0xff;
  fs.writeFileSync(seg, buf);
  const damage: StorageDamage[] = [];
  const log = await open(dir, { damage });
  assert.equal(log.recovery.segmentsScanned, 1, 'the sealed segment was not scanned at open');
  assert.equal(damage.length, 0);
  const seen: number[] = [];
  await log.scan((r) => seen.push(r.offset));
  assert.equal(damage.length, 1);
  assert.equal(damage[0].file, seg);
  assert.ok(damage[0].fromByte <= at && at < damage[0].toByte);
  assert.equal(damage[0].firstOffset, damage[0].lastOffset, 'one record lost');
  const lost = damage[0].firstOffset;
  assert.deepEqual(
    seen,
    all().filter((o) => o !== lost),
  );
  assert.equal(await log.read(lost), undefined);
  assert.equal((await log.read(lost + 1))!.offset, lost + 1);
  await log.scan(() => {});
  assert.equal(damage.length, 1, 'reported once');
  await log.close();
  // The index now holds the hole: the next open reports it without scanning.
  const damage2: StorageDamage[] = [];
  const again = await open(dir, { damage: damage2 });
  assert.equal(again.recovery.segmentsScanned, 1);
  assert.deepEqual(damage2, damage);
  await check(
    again,
    all().filter((o) => o !== lost),
  );
  await again.destroy();
});

test('a transient (fresh) log writes no index; QueueStore recovery is the same with and without indexes', async () => {
  const dir = tempDir();
  const t = await SegmentLog.open({ dir, commit, fsync: false, fresh: true, segmentMaxBytes: 4096 });
  for (let i = 0; i < 200; i++) t.append(record(i, true, 100));
  await durable(t, 199);
  await t.close();
  assert.deepEqual(names(dir, '.idx'), []);
  fs.rmSync(dir, { recursive: true });

  const qdir = tempDir();
  const store = await QueueStore.open({
    dir: qdir,
    commit,
    fsync: false,
    durable: true,
    segmentMaxBytes: 4096,
  });
  for (let i = 0; i < N; i++) store.append(record(i, true, 100));
  for (let i = 0; i < N; i += 3) store.settle(i);
  await durable(store, N - 1);
  await store.close();
  const live = async () => {
    const s = await QueueStore.open({
      dir: qdir,
      commit,
      fsync: false,
      durable: true,
      segmentMaxBytes: 4096,
    });
    const got = await recoverOffsets(s);
    await s.close();
    return got;
  };
  const withIndexes = await live();
  for (const n of names(qdir, '.idx')) fs.unlinkSync(path.join(qdir, n));
  assert.deepEqual(await live(), withIndexes);
  assert.deepEqual(
    withIndexes,
    all().filter((o) => o % 3 !== 0),
  );
  fs.rmSync(qdir, { recursive: true });
});

test('a damaged sealed segment reports the same damage whether its index is there (read) or not (scan)', async () => {
  const reports: StorageDamage[][] = [];
  for (const withIndex of [true, false]) {
    const dir = tempDir();
    await writeLog(dir);
    const seg = path.join(dir, names(dir, '.seg')[2]);
    const buf = fs.readFileSync(seg);
    buf[Math.floor(buf.length / 3)] ^= 0x10;
    fs.writeFileSync(seg, buf);
    if (!withIndex) fs.unlinkSync(seg.replace('.seg', '.idx'));
    const damage: StorageDamage[] = [];
    const log = await open(dir, { damage });
    assert.equal(log.recovery.segmentsScanned, withIndex ? 1 : 2);
    await log.scan(() => {});
    assert.equal(damage.length, 1);
    reports.push(damage);
    await log.destroy();
  }
  assert.deepEqual(
    reports[0].map(({ file, ...d }) => d),
    reports[1].map(({ file, ...d }) => d),
  );
});
