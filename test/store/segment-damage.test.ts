import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { GroupCommit } from '../../src/store/group-commit.js';
import { checkRecord, recordOffsetAt } from '../../src/store/record-format.js';
import { SEGMENT_HEADER_BYTES } from '../../src/store/segment-header.js';
import { SegmentLog } from '../../src/store/segment-log.js';
import type { StorageDamage } from '../../src/store/storage-damage.js';
import { record, tempDir } from './helpers.js';

const SEGMENT_BYTES = 8192;
const RECORDS = 300;

interface RecordSpan {
  file: string;
  offset: number;
  start: number;
  end: number;
}

async function writeLog(dir: string, n: number): Promise<void> {
  const log = await SegmentLog.open({
    dir,
    commit: new GroupCommit({ fsync: false }),
    fsync: false,
    segmentMaxBytes: SEGMENT_BYTES,
  });
  for (let i = 0; i < n; i++) log.append(record(i, true, 20 + (i % 7) * 13));
  await log.close();
}

/** Where every record of the (intact) log lies: file, byte range, offset (records follow the file's header). */
function recordSpans(dir: string): RecordSpan[] {
  const spans: RecordSpan[] = [];
  for (const name of fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.seg'))
    .sort()) {
    const file = path.join(dir, name);
    const buf = fs.readFileSync(file);
    for (let p = SEGMENT_HEADER_BYTES; p < buf.length; ) {
      const size = checkRecord(buf, p, buf.length);
      assert.ok(size > 0, 'the log written by the test is intact');
      spans.push({ file, offset: recordOffsetAt(buf, p), start: p, end: p + size });
      p += size;
    }
  }
  return spans;
}

function flipByte(file: string, pos: number, mask: number): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, pos);
  b[0] ^= mask;
  fs.writeSync(fd, b, 0, 1, pos);
  fs.closeSync(fd);
}

async function openDamaged(dir: string) {
  const warnings: string[] = [];
  const damage: StorageDamage[] = [];
  const log = await SegmentLog.open({
    dir,
    commit: new GroupCommit({ fsync: false }),
    fsync: false,
    segmentMaxBytes: SEGMENT_BYTES,
    onWarning: (m) => warnings.push(m),
    onDamage: (d) => damage.push(d),
  });
  const seen: number[] = [];
  await log.scan((r) => {
    assert.equal(r.routingKey, `rk.${r.offset}`, 'every record served is the one written at its offset');
    seen.push(r.offset);
  });
  return { log, warnings, damage, seen };
}

/** Flips one byte of `victim` at `at` bytes into it and checks that exactly that record is lost and reported. */
async function flipAndCheck(victimIndex: number, at: number, mask: number): Promise<void> {
  const dir = tempDir('seg-damage-');
  try {
    await writeLog(dir, RECORDS);
    const spans = recordSpans(dir);
    const victim = spans[victimIndex];
    const pos = victim.start + Math.min(at, victim.end - victim.start - 1);
    flipByte(victim.file, pos, mask);
    const { log, warnings, damage, seen } = await openDamaged(dir);
    const expected = spans.map((s) => s.offset).filter((o) => o !== victim.offset);
    assert.deepEqual(seen, expected, `only offset ${victim.offset} is lost (byte ${pos} of ${victim.file})`);
    for (const o of [victim.offset - 1, victim.offset + 1]) {
      if (o >= 0 && o < RECORDS) assert.equal((await log.read(o))!.offset, o, `offset ${o} still readable`);
    }
    assert.equal(await log.read(victim.offset), undefined);
    const files = spans.map((s) => s.file);
    const isLastOfActive = victim.file === files[files.length - 1] && victimIndex === spans.length - 1;
    if (isLastOfActive) {
      assert.ok(
        warnings.some((w) => w.includes('torn tail')),
        'the last record of the active segment is a torn tail',
      );
      assert.equal(log.nextOffset, victim.offset);
    } else {
      assert.equal(damage.length, 1, `one damage report: ${warnings.join(' | ')}`);
      assert.equal(damage[0].file, victim.file);
      assert.equal(damage[0].firstOffset, victim.offset);
      assert.equal(damage[0].lastOffset, victim.offset);
      assert.ok(damage[0].fromByte === victim.start && damage[0].toByte === victim.end);
      assert.ok(warnings.some((w) => w.includes(`lost offset ${victim.offset}`)));
      assert.equal(log.nextOffset, RECORDS);
    }
    // Appends go on after the damage, and a reopen finds the same state plus them.
    const appended = log.append(record(log.nextOffset));
    await log.close();
    const again = await openDamaged(dir);
    assert.deepEqual(again.seen, [...expected.filter((o) => o < appended), appended]);
    await again.log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a flipped byte in the middle of a sealed segment loses only the record it damages', async () => {
  // Header fields (length, CRC, offset), then the body, of records in the first and a middle segment.
  for (const [victim, at] of [
    [40, 0],
    [40, 2],
    [41, 5],
    [42, 9],
    [43, 30],
    [44, 60],
    [150, 3],
    [151, 40],
  ] as const) {
    await flipAndCheck(victim, at, 0xff);
  }
});

test('a flipped byte in the middle of the active segment loses only that record; its end is a torn tail', async () => {
  const spans = recordSpans(
    await (async () => {
      const dir = tempDir('seg-layout-');
      await writeLog(dir, RECORDS);
      return dir;
    })(),
  );
  const activeFile = spans[spans.length - 1].file;
  const firstOfActive = spans.findIndex((s) => s.file === activeFile);
  const middle = Math.floor((firstOfActive + spans.length - 1) / 2);
  await flipAndCheck(firstOfActive, 1, 0x80);
  await flipAndCheck(middle, 0, 0x01);
  await flipAndCheck(middle, 20, 0x10);
  await flipAndCheck(spans.length - 1, 12, 0xff);
});

test('property: one flipped byte anywhere loses at most the one record holding it', async () => {
  const dir = tempDir('seg-layout-');
  await writeLog(dir, RECORDS);
  const spans = recordSpans(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: spans.length - 1 }),
      fc.integer({ min: 0, max: 200 }),
      fc.integer({ min: 1, max: 255 }),
      (victim, at, mask) => flipAndCheck(victim, at, mask),
    ),
    { numRuns: 25 },
  );
});

test('a damaged run at the end of a sealed segment reports the offsets up to the next segment', async () => {
  const dir = tempDir('seg-damage-');
  await writeLog(dir, RECORDS);
  const spans = recordSpans(dir);
  const first = spans[0].file;
  const inFirst = spans.filter((s) => s.file === first);
  const cut = inFirst[inFirst.length - 3];
  // Zero out the last three records of the first segment (a lost block of the file).
  const fd = fs.openSync(first, 'r+');
  fs.writeSync(fd, Buffer.alloc(inFirst[inFirst.length - 1].end - cut.start), 0, undefined, cut.start);
  fs.closeSync(fd);
  const { log, damage, seen } = await openDamaged(dir);
  assert.equal(damage.length, 1);
  assert.equal(damage[0].firstOffset, cut.offset);
  assert.equal(damage[0].lastOffset, cut.offset + 2);
  assert.deepEqual(
    seen,
    spans.map((s) => s.offset).filter((o) => o < cut.offset || o > cut.offset + 2),
  );
  await log.destroy();
});

test('a sealed segment cut short (a lost tail) is reported with the offsets up to the next segment', async () => {
  const dir = tempDir('seg-damage-');
  await writeLog(dir, RECORDS);
  const spans = recordSpans(dir);
  const first = spans[0].file;
  const inFirst = spans.filter((s) => s.file === first);
  const size = fs.statSync(first).size;
  fs.truncateSync(first, size - 500);
  const lost = inFirst.filter((s) => s.end > size - 500).map((s) => s.offset);
  const { log, damage, seen } = await openDamaged(dir);
  assert.equal(damage.length, 1);
  assert.equal(damage[0].firstOffset, lost[0]);
  assert.equal(damage[0].lastOffset, lost[lost.length - 1]);
  assert.deepEqual(
    seen,
    spans.map((s) => s.offset).filter((o) => !lost.includes(o)),
  );
  await log.destroy();
});
