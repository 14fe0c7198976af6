/** SegmentLog.offsetAtTime against a brute-force model, with clocks that step back, rolls, reopens, deletes. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { GroupCommit } from '../../src/store/group-commit.js';
import { SegmentLog } from '../../src/store/segment-log.js';
import { durable, record, tempDir } from './helpers.js';

const commit = new GroupCommit({ fsync: false });

/** The first live offset whose timestamp is >= t, or next. */
function model(records: Map<number, number>, next: number, t: number): number {
  let best = next;
  for (const [offset, ts] of records) if (ts >= t && offset < best) best = offset;
  return best;
}

test('property: offsetAtTime is the first offset whose timestamp is >= t (non-monotonic clocks)', async () => {
  const step = fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 40 }) }, // the clock goes on
    { weight: 1, arbitrary: fc.integer({ min: -300, max: -1 }) }, // and sometimes steps back
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ step, body: fc.integer({ min: 0, max: 600 }) }), { minLength: 0, maxLength: 400 }),
      fc.array(fc.integer({ min: 0, max: 12_000 }), { minLength: 1, maxLength: 12 }),
      fc.boolean(),
      fc.nat(),
      async (appends, queries, reopen, deletePick) => {
        const dir = tempDir('offset-at-time-');
        const open = () => SegmentLog.open({ dir, commit, fsync: false, segmentMaxBytes: 4096 });
        let log = await open();
        const model_ = new Map<number, number>();
        let clock = 5000;
        for (const { step: s, body } of appends) {
          clock = Math.max(0, clock + s);
          const rec = record(model_.size, true, body);
          rec.timestamp = clock;
          model_.set(log.append(rec), clock);
        }
        if (appends.length > 0) await durable(log, appends.length - 1);
        const infos = log.segmentInfos();
        if (infos.length > 2) {
          // Drop one sealed segment: its records are gone for the lookup too.
          const victim = infos[deletePick % (infos.length - 1)];
          assert.ok(log.deleteSegment(victim.base));
          for (let o = victim.base; o < victim.nextOffset; o++) model_.delete(o);
        }
        if (reopen) {
          await log.close();
          log = await open();
          assert.equal(log.recovery.segmentsScanned, appends.length > 0 ? 1 : 0, 'only the active segment');
        }
        for (const t of [...queries, 0, clock, clock + 1, Number.MAX_SAFE_INTEGER]) {
          assert.equal(await log.offsetAtTime(t), model(model_, log.nextOffset, t), `t=${t}`);
        }
        await log.destroy();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    ),
    { numRuns: 60 },
  );
});

test('offsetAtTime reads about one index interval, not the whole segment', async () => {
  const dir = tempDir();
  const log = await SegmentLog.open({ dir, commit, fsync: false, segmentMaxBytes: 1 << 20 });
  for (let i = 0; i < 3000; i++) log.append(record(i, true, 200)); // timestamps 1000 + i, one 750 KB segment
  await durable(log, 2999);
  const realRead = fs.read;
  let bytesRead = 0;
  // biome-ignore lint/suspicious/noExplicitAny: a spy on fs.read's (fd, buf, off, len, pos, cb) form
  (fs as any).read = (fd: number, buf: Buffer, off: number, len: number, pos: number, cb: any) => {
    bytesRead += len;
    return realRead(fd, buf, off, len, pos, cb);
  };
  try {
    assert.equal(await log.offsetAtTime(1000 + 2500), 2500);
    assert.equal(await log.offsetAtTime(0), 0);
    assert.equal(await log.offsetAtTime(10_000), 3000);
  } finally {
    (fs as { read: typeof realRead }).read = realRead;
  }
  assert.ok(bytesRead < 3 * 64 * 1024, `read ${bytesRead} bytes for three lookups`);
  await log.destroy();
});
