/** Entry tables of queue segments: the columns, their encoding, and their place in the segment's index file. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { GroupCommit } from '../../src/store/group-commit.js';
import type { QueueStore } from '../../src/store/queue-store.js';
import type { NewRecord } from '../../src/store/record-format.js';
import { Segment } from '../../src/store/segment.js';
import { SegmentEntries } from '../../src/store/segment-entries.js';
import { encodeSegmentIndex, loadSegmentIndex } from '../../src/store/segment-index-file.js';
import { SegmentLog } from '../../src/store/segment-log.js';
import { filesEndingWith, type LiveEntry, openDurableQueue, recoverEntries, withTempDir } from './helpers.js';

const commit = new GroupCommit({ fsync: false });

interface Row {
  offset: number;
  size: number;
  expiresAt: number;
  priority: number;
  persistent: boolean;
}

function rowsOf(e: SegmentEntries): Row[] {
  return Array.from({ length: e.count }, (_, i) => ({
    offset: e.offsetAt(i),
    size: e.size.at(i),
    expiresAt: e.expiresAt.at(i),
    priority: e.priority.at(i),
    persistent: e.persistent.at(i) === 1,
  }));
}

function roundTrip(e: SegmentEntries): SegmentEntries {
  const buf = Buffer.alloc(e.encodedBytes() + 6);
  const end = e.encode(buf, 3);
  assert.equal(end, 3 + e.encodedBytes());
  const back = SegmentEntries.decode(e.base, buf, 3, end);
  assert.ok(back, 'decodes');
  return back;
}

test('entry columns stay constants while records agree, become arrays at the first difference', () => {
  const e = new SegmentEntries(1000);
  for (let o = 1000; o < 1005; o++) e.add(o, 256, 0, 0, true);
  for (const c of [e.lost, e.size, e.expiresAt, e.priority, e.persistent]) assert.equal(c.values, null);
  assert.equal(e.encodedBytes(), 4 + 5 * 9, 'five constants, whatever the count');
  assert.deepEqual(rowsOf(roundTrip(e)), rowsOf(e));
  e.add(1005, 17, 0, 3, true);
  e.add(1009, 256, 99, 3, false); // offsets 1006..1008 lost to damage
  assert.ok(e.size.values && e.lost.values && e.priority.values && e.expiresAt.values && e.persistent.values);
  const rows = rowsOf(e);
  assert.deepEqual(rows.slice(4), [
    { offset: 1004, size: 256, expiresAt: 0, priority: 0, persistent: true },
    { offset: 1005, size: 17, expiresAt: 0, priority: 3, persistent: true },
    { offset: 1009, size: 256, expiresAt: 99, priority: 3, persistent: false },
  ]);
  assert.deepEqual(rowsOf(roundTrip(e)), rows);
});

test('property: any sequence of records survives encode and decode; a cut or padded table is refused', () => {
  const row = fc.record({
    gap: fc.oneof(
      { weight: 8, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 50 }) },
    ),
    size: fc.oneof(fc.constant(100), fc.integer({ min: 0, max: 0xffff_ffff })),
    expiresAt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
    priority: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })),
    persistent: fc.oneof(fc.constant(true), fc.boolean()),
  });
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.array(row, { maxLength: 3000 }), (base, rows) => {
      const e = new SegmentEntries(base);
      const expected: Row[] = [];
      let offset = base;
      for (const r of rows) {
        offset += r.gap;
        e.add(offset, r.size, r.expiresAt, r.priority, r.persistent);
        expected.push({
          offset,
          size: r.size,
          expiresAt: r.expiresAt,
          priority: r.priority,
          persistent: r.persistent,
        });
        offset++;
      }
      assert.deepEqual(rowsOf(e), expected);
      const back = roundTrip(e);
      assert.deepEqual(rowsOf(back), expected);
      const buf = Buffer.alloc(e.encodedBytes() + 1);
      const end = e.encode(buf, 0);
      assert.equal(SegmentEntries.decode(base, buf, 0, end - 1), null, 'one byte short');
      assert.equal(SegmentEntries.decode(base, buf, 0, end + 1), null, 'one byte too many');
    }),
    { numRuns: 100 },
  );
});

test('an index refuses an entry table that does not match its record count', () => {
  const seg = new Segment(0, { file: 'x.seg' } as never);
  seg.entries = new SegmentEntries(0);
  for (let i = 0; i < 3; i++) {
    seg.noteRecord(i, 20 + i * 50, 50, 1000 + i);
    seg.entries.add(i, 5, 0, 0, true);
  }
  const good = encodeSegmentIndex(seg, seg.size, seg.entries);
  assert.equal(loadSegmentIndex(good, new Segment(0, seg.handle), seg.size, true), null);
  const short = new SegmentEntries(0);
  short.add(0, 5, 0, 0, true);
  const bad = encodeSegmentIndex(seg, seg.size, short);
  assert.equal(
    loadSegmentIndex(bad, new Segment(0, seg.handle), seg.size, true),
    'entry table does not match the index',
  );
  const none = encodeSegmentIndex(seg, seg.size, null);
  assert.equal(none.readUInt16BE(4), 1, 'without a table: index version 1, as streams write');
  assert.equal(loadSegmentIndex(none, new Segment(0, seg.handle), seg.size, true), 'no entry table');
  const loaded = new Segment(0, seg.handle);
  assert.equal(loadSegmentIndex(good, loaded, seg.size, false), null, 'a log without tables reads version 2');
  assert.equal(loaded.entries, null);
  assert.equal(loaded.nextOffset, 3);
});

// ---- entry tables in a queue's index files ----------------------------------------------------------------

const SEGMENT_BYTES = 4096;
const N = 300;

function queueRecord(i: number): NewRecord {
  return {
    timestamp: 1000 + i,
    persistent: i % 5 !== 4,
    expiresAt: i % 3 === 0 ? 5_000_000 + i : 0,
    priority: i % 7,
    exchange: 'ex',
    routingKey: `rk.${i}`,
    properties: Buffer.alloc(0),
    body: Buffer.alloc(20 + (i % 11) * 9, i & 0xff),
  };
}

/** What recovery must yield for the store writeQueue leaves: unsettled persistent records. */
function expectedLive(): LiveEntry[] {
  const out: LiveEntry[] = [];
  for (let i = 0; i < N; i++) {
    const r = queueRecord(i);
    if (r.persistent && i % 4 !== 1)
      out.push({ offset: i, size: r.body.length, expiresAt: r.expiresAt, priority: r.priority });
  }
  return out;
}

function openQueue(dir: string, warnings: string[] = []): Promise<QueueStore> {
  return openDurableQueue(dir, commit, SEGMENT_BYTES, { warnings });
}

async function writeQueue(dir: string): Promise<void> {
  const store = await openQueue(dir);
  await store.recover(() => {});
  for (let i = 0; i < N; i++) store.append(queueRecord(i));
  // Settle offsets ≡ 1 (mod 4), never all of a segment: every segment stays.
  for (let i = 1; i < N; i += 4) store.settle(i);
  await store.flush();
  await store.close();
}

const indexFiles = (dir: string) => filesEndingWith(dir, '.idx');

async function recoverChecked(dir: string, warnings: string[] = []) {
  const store = await openQueue(dir, warnings);
  const live = await recoverEntries(store);
  assert.deepEqual(live, expectedLive());
  for (const e of live) assert.equal((await store.read(e.offset))!.routingKey, `rk.${e.offset}`);
  const recovery = { ...store.recovery };
  await store.close(); // waits for index writes
  return recovery;
}

test("a queue's sealed segments carry their entry tables: recovery reads no sealed record", () =>
  withTempDir('entries-', async (dir) => {
    await writeQueue(dir);
    const sealed = indexFiles(dir).length;
    assert.ok(sealed >= 5, `several sealed segments (${sealed})`);
    for (const f of indexFiles(dir)) assert.equal(fs.readFileSync(f).readUInt16BE(4), 2, 'index version 2');
    assert.deepEqual(await recoverChecked(dir), { segmentsScanned: 1, segmentsFromIndex: sealed });
  }));

test('a damaged or missing index is rebuilt with its entry table by a scan of its segment', () =>
  withTempDir('entries-', async (dir) => {
    await writeQueue(dir);
    const [first, second] = indexFiles(dir);
    const buf = fs.readFileSync(first);
    buf[buf.length - 69] ^= 0x40; // the table's last byte, just before the 68-byte footer
    fs.writeFileSync(first, buf);
    fs.unlinkSync(second);
    const sealed = indexFiles(dir).length + 1;
    const warnings: string[] = [];
    assert.deepEqual(await recoverChecked(dir, warnings), {
      segmentsScanned: 3, // the damaged one, the missing one, the active one
      segmentsFromIndex: sealed - 2,
    });
    assert.ok(warnings.some((w) => w.includes('rebuilding the index') && w.includes('CRC mismatch')));
    assert.equal(indexFiles(dir).length, sealed, 'the missing index is back');
    assert.deepEqual(await recoverChecked(dir), { segmentsScanned: 1, segmentsFromIndex: sealed });
  }));

test('indexes written before entry tables (version 1) are rebuilt once, with one warning', () =>
  withTempDir('entries-', async (dir) => {
    await writeQueue(dir);
    const sealed = indexFiles(dir).length;
    // What the previous version left: the same indexes without tables (a log without tables rewrites them).
    for (const f of indexFiles(dir)) fs.unlinkSync(f);
    await (await SegmentLog.open({ dir, commit, fsync: false, segmentMaxBytes: SEGMENT_BYTES })).close();
    assert.equal(indexFiles(dir).length, sealed);
    for (const f of indexFiles(dir)) assert.equal(fs.readFileSync(f).readUInt16BE(4), 1);
    const warnings: string[] = [];
    assert.deepEqual(await recoverChecked(dir, warnings), {
      segmentsScanned: sealed + 1,
      segmentsFromIndex: 0,
    });
    assert.deepEqual(
      warnings.filter((w) => w.includes('no entry table')),
      [
        `scanned ${sealed} sealed segment(s) whose index has no entry table (written by an earlier version, ` +
          'or after damage was found): their indexes are rewritten with one',
      ],
    );
    assert.ok(!warnings.some((w) => w.includes('rebuilding')), warnings.join(' | '));
    for (const f of indexFiles(dir)) assert.equal(fs.readFileSync(f).readUInt16BE(4), 2);
    assert.deepEqual(await recoverChecked(dir), { segmentsScanned: 1, segmentsFromIndex: sealed });
    // A log without tables (a stream's) still reads the version 2 indexes without a scan.
    const log = await SegmentLog.open({ dir, commit, fsync: false, segmentMaxBytes: SEGMENT_BYTES });
    assert.deepEqual(log.recovery, { segmentsScanned: 1, segmentsFromIndex: sealed });
    await log.close();
  }));
