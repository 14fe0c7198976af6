/**
 * Recovery scan of one segment file: walks its framed records, building the segment's index, and steps over
 * damage instead of stopping at it. A record that fails its checks (a flipped byte, a bad length) starts a
 * search for the next intact record; found, the bytes between become a hole and only the records that were in
 * them are lost. Not found, everything from the damage on is the tail: torn by a crash if this is the active
 * segment (the caller truncates it), damaged if the segment is sealed (the caller reports it).
 */
import { readFull } from './fs-io.js';
import {
  checkRecord,
  RECORD_INCOMPLETE,
  RECORD_MAX_BYTES,
  RECORD_MIN_BYTES,
  recordFitsAt,
  recordOffsetAt,
  recordTimestampAt,
} from './record-format.js';
import type { Segment } from './segment.js';

const WINDOW_BYTES = 1024 * 1024;
/** Bytes of a record header that the search needs in view: length, CRC and offset. */
const HEADER_PROBE_BYTES = 16;
const TWO_32 = 0x1_0000_0000;

export interface DamagedRange {
  fromByte: number;
  toByte: number;
  /** Offsets [firstLost, nextOffset) were in the damaged bytes. */
  firstLost: number;
  nextOffset: number;
}

export interface SegmentScan {
  /** Bytes covered by intact records and holes; what follows (up to the file size) is the tail. */
  validEnd: number;
  /** Damaged ranges followed by an intact record, in file order. */
  holes: DamagedRange[];
}

/**
 * Scans seg's file (fileSize bytes) from seg.dataStart, noting every intact record in seg (and in its entry
 * table, if it has one) and every hole.
 */
export async function scanSegment(seg: Segment, fd: number, fileSize: number): Promise<SegmentScan> {
  const holes: DamagedRange[] = [];
  let pos = seg.dataStart;
  let buf = Buffer.allocUnsafe(Math.min(WINDOW_BYTES, Math.max(fileSize - pos, 1)));
  while (pos < fileSize) {
    const got = await readFull(fd, buf, 0, Math.min(buf.length, fileSize - pos), pos);
    let p = 0;
    let damaged = false;
    for (;;) {
      const size = checkRecord(buf, p, got);
      if (size === RECORD_INCOMPLETE) break;
      if (size < 0 || !recordFitsAt(buf, p, seg.nextOffset)) {
        damaged = true;
        break;
      }
      const offset = recordOffsetAt(buf, p);
      seg.entries?.addRecordAt(buf, p, size, offset);
      seg.noteRecord(offset, pos + p, size, recordTimestampAt(buf, p));
      p += size;
    }
    if (!damaged && p === 0 && got >= 4) {
      // A record larger than the window that fits in the file: grow the window (checkRecord bounds it).
      const total = buf.readUInt32BE(0) + 4;
      if (total > buf.length && pos + total <= fileSize) {
        buf = Buffer.allocUnsafe(total);
        continue;
      }
    }
    const atFileEnd = pos + got >= fileSize;
    if (!damaged && !(atFileEnd && p < got) && !(p === 0 && got > 0)) {
      pos += p;
      continue;
    }
    // Damage at pos + p, or bytes at the end that do not form a record (torn, or a corrupted length).
    const from = pos + p;
    const found = await findNextRecord(fd, from, fileSize, seg.nextOffset);
    if (found === null) return { validEnd: from, holes };
    holes.push({ fromByte: from, toByte: found.pos, firstLost: seg.nextOffset, nextOffset: found.offset });
    seg.addHole(from, found.pos, seg.nextOffset, found.offset);
    pos = found.pos;
  }
  return { validEnd: pos, holes };
}

/**
 * The first intact record that starts after damageAt and could follow it: its offset is at least `expected`
 * and no larger than the number of minimal records that fit in the skipped bytes allows. The offset and length
 * filters make the CRC check (the expensive part) rare.
 */
export async function findNextRecord(
  fd: number,
  damageAt: number,
  fileSize: number,
  expected: number,
): Promise<{ pos: number; offset: number } | null> {
  const buf = Buffer.allocUnsafe(Math.min(WINDOW_BYTES, Math.max(fileSize - damageAt, 1)));
  let start = damageAt + 1;
  while (start + RECORD_MIN_BYTES <= fileSize) {
    const got = await readFull(fd, buf, 0, Math.min(buf.length, fileSize - start), start);
    if (got < HEADER_PROBE_BYTES) return null;
    for (let q = 0; q + HEADER_PROBE_BYTES <= got; q++) {
      const total = buf.readUInt32BE(q) + 4;
      if (total < RECORD_MIN_BYTES || total > RECORD_MAX_BYTES || start + q + total > fileSize) continue;
      const offset = buf.readUInt32BE(q + 8) * TWO_32 + buf.readUInt32BE(q + 12);
      const maxOffset = expected + Math.ceil((start + q - damageAt) / RECORD_MIN_BYTES);
      if (offset < expected || offset > maxOffset) continue;
      let intact: boolean;
      if (q + total <= got) intact = checkRecord(buf, q, got) === total;
      else {
        const whole = Buffer.allocUnsafe(total);
        intact =
          (await readFull(fd, whole, 0, total, start + q)) === total &&
          checkRecord(whole, 0, total) === total;
      }
      if (intact) return { pos: start + q, offset };
    }
    // Overlap the windows so that a header straddling the boundary is seen.
    start += Math.max(1, got - HEADER_PROBE_BYTES + 1);
  }
  return null;
}
