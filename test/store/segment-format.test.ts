/** Segment file headers (format 2): written with the first records, checked at open, damage reported. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GroupCommit } from '../../src/store/group-commit.js';
import { encodeRecordToBuffer } from '../../src/store/record-format.js';
import {
  checkSegmentHeader,
  encodeSegmentHeader,
  SEGMENT_FORMAT_VERSION,
  SEGMENT_HEADER_BYTES,
  SegmentFormatError,
} from '../../src/store/segment-header.js';
import { SegmentLog, segmentFileName } from '../../src/store/segment-log.js';
import type { StorageDamage } from '../../src/store/storage-damage.js';
import { durable, record, tempDir } from './helpers.js';

const commit = new GroupCommit({ fsync: false });

function segFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.seg'))
    .sort()
    .map((n) => path.join(dir, n));
}

async function open(dir: string, extra: { warnings?: string[]; damage?: StorageDamage[] } = {}) {
  return SegmentLog.open({
    dir,
    commit,
    fsync: false,
    segmentMaxBytes: 4096,
    onWarning: (m) => extra.warnings?.push(m),
    onDamage: (d) => extra.damage?.push(d),
  });
}

async function allOffsets(log: SegmentLog): Promise<number[]> {
  const seen: number[] = [];
  await log.scan((r) => {
    assert.equal(r.routingKey, `rk.${r.offset}`);
    seen.push(r.offset);
  });
  return seen;
}

function flipByte(file: string, pos: number): void {
  const buf = fs.readFileSync(file);
  buf[pos] ^= 0x40;
  fs.writeFileSync(file, buf);
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

test('every segment file starts with a valid header naming its base; records follow it', async () => {
  const dir = tempDir();
  const log = await open(dir);
  for (let i = 0; i < 100; i++) log.append(record(i, true, 100));
  await durable(log, 99);
  await log.close();
  const files = segFiles(dir);
  assert.ok(files.length > 2);
  for (const file of files) {
    const buf = fs.readFileSync(file);
    const base = Number(path.basename(file).slice(0, 20));
    assert.equal(buf.subarray(0, 4).toString('latin1'), 'EVSG');
    assert.equal(buf.readUInt16BE(4), SEGMENT_FORMAT_VERSION);
    assert.equal(buf.readUInt16BE(6), SEGMENT_HEADER_BYTES);
    assert.deepEqual(checkSegmentHeader(buf, base), { kind: 'ok', dataStart: SEGMENT_HEADER_BYTES });
    assert.equal(
      buf.readUInt32BE(SEGMENT_HEADER_BYTES + 12),
      base,
      'the first record (offset = base) follows',
    );
  }
  assert.deepEqual(
    checkSegmentHeader(encodeSegmentHeader(7), 8).kind,
    'damaged',
    'a header for another base',
  );
  fs.rmSync(dir, { recursive: true });
});

test('a flipped byte in a header is reported as damage, nothing is lost, and the segment is still read', async () => {
  for (const which of ['sealed', 'active'] as const) {
    for (const pos of [0, 5, 9, 17]) {
      const dir = tempDir();
      const log = await open(dir);
      for (let i = 0; i < 100; i++) log.append(record(i, true, 100));
      await durable(log, 99);
      await log.close();
      const files = segFiles(dir);
      const victim = which === 'sealed' ? files[1] : files[files.length - 1];
      flipByte(victim, pos);
      const warnings: string[] = [];
      const damage: StorageDamage[] = [];
      const again = await open(dir, { warnings, damage });
      assert.deepEqual(await allOffsets(again), range(0, 100), `${which} header byte ${pos}`);
      assert.equal(damage.length, 1, warnings.join(' | '));
      assert.equal(damage[0].file, victim);
      assert.equal(damage[0].fromByte, 0);
      assert.equal(damage[0].toByte, SEGMENT_HEADER_BYTES);
      assert.ok(damage[0].lastOffset < damage[0].firstOffset, 'no record lost');
      assert.ok(warnings.some((w) => w.includes('no record lost')));
      again.append(record(100));
      await again.close();
      const third = await open(dir);
      assert.deepEqual(await allOffsets(third), range(0, 101));
      await third.destroy();
    }
  }
});

test('an active segment file shorter than its header (a torn creation) is recreated at the same base', async () => {
  const dir = tempDir();
  const log = await open(dir);
  for (let i = 0; i < 60; i++) log.append(record(i, true, 100));
  await durable(log, 59);
  await log.close();
  // A crash right after the next segment's file was created: empty, or a few bytes of its header.
  for (const bytes of [0, 7]) {
    const next = path.join(dir, segmentFileName(1000));
    fs.writeFileSync(next, encodeSegmentHeader(1000).subarray(0, bytes));
    const warnings: string[] = [];
    const again = await open(dir, { warnings });
    assert.equal(again.nextOffset, 1000, 'the base (a floor set by skipTo) is kept');
    assert.ok(warnings.some((w) => w.includes('recreated')));
    assert.equal(again.append(record(1000)), 1000);
    await again.close();
    const buf = fs.readFileSync(next);
    assert.equal(checkSegmentHeader(buf, 1000).kind, 'ok');
    const third = await open(dir);
    assert.deepEqual(await allOffsets(third), [...range(0, 60), 1000]);
    await third.close();
    for (const f of segFiles(dir)) if (f.endsWith(segmentFileName(1000))) fs.unlinkSync(f);
  }
  fs.rmSync(dir, { recursive: true });
});

test('a segment file without header (0.1.0) or of a newer version is refused, naming the file and what to do', async () => {
  const dir = tempDir();
  const v1 = path.join(dir, segmentFileName(0));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(v1, Buffer.concat([0, 1, 2].map((i) => encodeRecordToBuffer(record(i), i))));
  await assert.rejects(open(dir), (err: SegmentFormatError) => {
    assert.ok(err instanceof SegmentFormatError);
    assert.equal(err.file, v1);
    assert.equal(err.version, 1);
    assert.match(err.message, /0\.1\.0/);
    assert.match(err.message, /eventter upgrade-data --data-dir/);
    return true;
  });
  const newer = encodeSegmentHeader(0);
  newer.writeUInt16BE(3, 4);
  const { crc32c } = await import('../../src/store/crc32c.js');
  newer.writeUInt32BE(crc32c(newer, 0, 16), 16);
  fs.writeFileSync(v1, newer);
  await assert.rejects(open(dir), (err: SegmentFormatError) => {
    assert.equal(err.version, 3);
    assert.match(err.message, /format version 3/);
    assert.ok(err.message.includes(v1));
    return true;
  });
  fs.rmSync(dir, { recursive: true });
});

test('skipTo creates the new segment with its header at once', async () => {
  const dir = tempDir();
  const log = await SegmentLog.open({ dir, commit, fsync: true });
  for (let i = 0; i < 5; i++) log.append(record(i));
  await durable(log, 4);
  await log.close();
  const again = await SegmentLog.open({ dir, commit, fsync: true });
  await again.skipTo(50);
  const file = path.join(dir, segmentFileName(50));
  assert.equal(checkSegmentHeader(fs.readFileSync(file), 50).kind, 'ok');
  assert.equal(fs.statSync(file).size, SEGMENT_HEADER_BYTES);
  assert.equal(again.append(record(50)), 50);
  await again.close();
  const third = await SegmentLog.open({ dir, commit, fsync: true });
  assert.deepEqual(await allOffsets(third), [0, 1, 2, 3, 4, 50]);
  await third.destroy();
});
