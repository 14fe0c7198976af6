/**
 * Reads of a SegmentLog: from its in-memory batches (records appended this tick and not yet written) and from
 * its segment files, stepping over the holes recovery found. Also the time lookup.
 */
import { readFull } from './fs-io.js';
import {
  checkRecord,
  decodeRecord,
  type LogRecord,
  RECORD_CORRUPT,
  RECORD_INCOMPLETE,
  recordFitsAt,
  recordOffsetAt,
} from './record-format.js';
import type { Segment } from './segment.js';
import { findNextRecord } from './segment-scan.js';
import type { StorageDamage } from './storage-damage.js';

/** A batch of encoded records for one segment, written with one writev. */
export interface Chunk {
  seg: Segment;
  buf: Buffer;
  used: number;
  /** Where the records start in buf: after the segment header when this chunk creates the file. */
  dataStart: number;
  /** Position in seg's file of buf[0]. */
  filePos: number;
  firstOffset: number;
  nextOffset: number;
  persistent: boolean;
}

/** What the readers need of a SegmentLog; getters, since the log replaces and splices these as it writes. */
export interface LogView {
  readonly segments: Segment[];
  readonly unwritten: Chunk[];
  readonly writtenThrough: number;
  readonly nextOffset: number;
  warn(message: string): void;
  /** A read that pinned seg is done (a deleted segment may now be unlinked). */
  doneWith(seg: Segment): void;
  /** A read found damage in seg and stepped over it (reported, and remembered in its index file). */
  damageFound(seg: Segment, damage: StorageDamage): void;
}

export function findSegment(segs: Segment[], offset: number): Segment | undefined {
  let lo = 0;
  let hi = segs.length - 1;
  if (hi < 0 || offset < segs[0].base) return undefined;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (segs[mid].base <= offset) lo = mid;
    else hi = mid - 1;
  }
  const seg = segs[lo];
  return offset < seg.nextOffset ? seg : undefined;
}

/** The record at offset if it is in the in-memory batches (undefined: its segment was deleted), else null. */
export function readUnwritten(log: LogView, offset: number): LogRecord | undefined | null {
  if (offset < log.writtenThrough) return null;
  for (const c of log.unwritten) {
    if (offset < c.firstOffset || offset >= c.nextOffset) continue;
    if (c.seg.deleted) return undefined;
    let p = c.dataStart;
    while (p < c.used) {
      const size = c.buf.readUInt32BE(p) + 4;
      if (recordOffsetAt(c.buf, p) === offset) return decodeRecord(c.buf, p, size, true);
      p += size;
    }
  }
  return null;
}

function collectUnwritten(
  log: LogView,
  seg: Segment,
  from: number,
  maxBytes: number,
  maxCount: number,
  out: LogRecord[],
  bytes: number,
): number {
  for (const c of log.unwritten) {
    if (c.seg !== seg || c.nextOffset <= from) continue;
    let p = c.dataStart;
    while (p < c.used) {
      const size = c.buf.readUInt32BE(p) + 4;
      if (recordOffsetAt(c.buf, p) >= from) {
        if (out.length >= maxCount || (out.length > 0 && bytes + size > maxBytes)) return -1;
        out.push(decodeRecord(c.buf, p, size, true));
        bytes += size;
      }
      p += size;
    }
  }
  return bytes;
}

/** Records with offset >= fromOffset, in order, up to maxCount and about maxBytes (at least one if any). */
export async function readRange(
  log: LogView,
  fromOffset: number,
  maxBytes: number,
  maxCount: number,
  copy: boolean,
): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  if (!Number.isFinite(fromOffset) || maxCount < 1 || log.segments.length === 0) return out;
  const from = Math.max(Math.floor(fromOffset), log.segments[0].base);
  let bytes = 0;
  // Snapshot: segments deleted meanwhile are skipped by readFromSegment.
  for (const seg of log.segments.slice()) {
    if (seg.nextOffset <= from || seg.deleted) continue;
    for (;;) {
      const start = out.length > 0 ? out[out.length - 1].offset + 1 : from;
      const end = seg.writtenSize;
      bytes = await readFromSegment(log, seg, end, start, bytes, maxCount, copy, out, maxBytes);
      if (bytes < 0) return out;
      // A write completed while reading: its records left the in-memory batches, so read the file again
      // rather than skip them.
      if (seg.writtenSize !== end) {
        if (out.length > 0) return out;
        continue;
      }
      bytes = collectUnwritten(log, seg, start, maxBytes, maxCount, out, bytes);
      if (bytes < 0 || out.length >= maxCount) return out;
      break;
    }
  }
  return out;
}

/**
 * Appends to out the records of seg's written part with offset >= from; returns the running byte count,
 * or -1 once a limit is reached. A record that fails its checks is damage that happened after recovery (or in
 * a sealed segment, which recovery no longer scans when it has an index): see repairAt.
 */
export async function readFromSegment(
  log: LogView,
  seg: Segment,
  end: number,
  from: number,
  bytes: number,
  maxCount: number,
  copy: boolean,
  out: LogRecord[],
  maxBytes = 0,
): Promise<number> {
  if (seg.deleted || seg.reaped) return bytes;
  const entry = seg.indexEntryFor(from);
  let pos = entry < 0 ? seg.dataStart : seg.idxPositions[entry];
  /** Offset the record at pos must have. */
  let expected = entry < 0 ? seg.base : seg.idxOffsets[entry];
  if (pos >= end) return bytes;
  seg.users++;
  let fd = -1;
  try {
    fd = seg.handle.tryAcquire();
    if (fd < 0) fd = await seg.handle.acquire();
    const window = Math.min(Math.max(maxBytes, 16 * 1024), 4 * 1024 * 1024);
    while (pos < end) {
      if (seg.reaped) return bytes;
      const want = Math.min(window, end - pos);
      let buf = Buffer.allocUnsafe(want);
      let got = await readFull(fd, buf, 0, want, pos);
      if (got < want) log.warn(`${seg.file} ends at byte ${pos + got}, before the ${end} written to it`);
      let p = 0;
      let jumpTo = -1;
      while (p < got) {
        if (seg.holes !== null && (jumpTo = seg.holeEndAt(pos + p)) >= 0) break;
        let size = checkRecord(buf, p, got);
        if (size === RECORD_INCOMPLETE) {
          if (p > 0) break; // re-read from this record's start
          if (got < want) return bytes; // the file is shorter than written (warned above)
          // Every record before `end` was written whole: one that runs past it has a damaged length.
          const total = got >= 4 ? buf.readUInt32BE(0) + 4 : end - pos + 1;
          if (total <= end - pos) {
            // A record larger than the window: read exactly it.
            buf = Buffer.allocUnsafe(total);
            got = await readFull(fd, buf, 0, total, pos);
            size = checkRecord(buf, 0, got);
            if (size === RECORD_INCOMPLETE) return bytes; // shorter than written
          } else size = RECORD_CORRUPT;
        }
        if (size <= 0 || !recordFitsAt(buf, p, expected)) {
          jumpTo = await repairAt(log, seg, fd, pos + p, end, expected);
          if (jumpTo < 0) {
            log.warn(`corrupt record in ${seg.file} at ${pos + p}`);
            return bytes;
          }
          break;
        }
        expected = recordOffsetAt(buf, p); // past a gap of reserved offsets, if the record follows one
        if (expected >= from) {
          if (out.length >= maxCount || (out.length > 0 && maxBytes > 0 && bytes + size > maxBytes))
            return -1;
          out.push(decodeRecord(buf, p, size, copy));
          bytes += size;
          if (maxBytes === 0 && out.length >= maxCount) return -1;
        }
        expected++;
        p += size;
      }
      if (jumpTo >= 0) {
        // Over a hole: the record after it holds the offset after the lost ones.
        expected = seg.holeNextOffsetAt(pos + p);
        pos = jumpTo;
        continue;
      }
      if (p === 0) return bytes;
      pos += p;
    }
    return bytes;
  } finally {
    if (fd >= 0) seg.handle.release();
    seg.users--;
    log.doneWith(seg);
  }
}

/**
 * Damage found by a read at file position at (a record that fails its checks where `expected` should be):
 * like recovery, finds the next intact record and makes the bytes between a hole, reported once. Returns the
 * position to go on from, or -1 when nothing can be skipped to (the end of the active segment's written part,
 * which the next recovery scans anyway).
 */
async function repairAt(log: LogView, seg: Segment, fd: number, at: number, end: number, expected: number) {
  const known = seg.holeEndAt(at);
  if (known >= 0) return known;
  const found = await findNextRecord(fd, at, end, expected);
  const raced = seg.holeEndAt(at); // another read repaired it meanwhile
  if (raced >= 0) return raced;
  let holeEnd: number;
  let nextOffset: number;
  if (found !== null) {
    holeEnd = found.pos;
    nextOffset = found.offset;
  } else if (seg.sealedSize >= 0 && end === seg.size) {
    holeEnd = end;
    nextOffset = seg.nextOffset;
  } else return -1;
  seg.insertHole(at, holeEnd, expected, nextOffset);
  log.damageFound(seg, {
    file: seg.file,
    fromByte: at,
    toByte: holeEnd,
    firstOffset: expected,
    lastOffset: nextOffset - 1,
  });
  return holeEnd;
}

/** Records a time lookup reads per step of its scan (the scan covers at most one index interval). */
const TIME_SCAN_RECORDS = 256;

/**
 * The first offset whose record's timestamp is >= timestampMs, or the log's next offset if there is none.
 * The first segment whose largest timestamp reaches timestampMs holds it (all records before are older);
 * its time index gives a starting point at most one index interval before it.
 */
export async function offsetAtTime(log: LogView, timestampMs: number): Promise<number> {
  for (const seg of log.segments.slice()) {
    if (seg.records === 0 || seg.maxTimestamp < timestampMs) continue;
    let from = seg.offsetBeforeTime(timestampMs);
    for (;;) {
      const batch = await readRange(log, from, 64 * 1024, TIME_SCAN_RECORDS, false);
      if (batch.length === 0) return log.nextOffset;
      for (const rec of batch) if (rec.timestamp >= timestampMs) return rec.offset;
      from = batch[batch.length - 1].offset + 1;
    }
  }
  return log.nextOffset;
}
