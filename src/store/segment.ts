/**
 * One segment file of a SegmentLog: its offsets, sizes, a sparse index, and the byte ranges recovery found
 * damaged (holes) that reads must step over.
 *
 * The sparse index has one entry per ~4 KiB of records: the record's offset, its file position, and the
 * largest timestamp of the segment's records before it. That running maximum never decreases even when the
 * clock steps back, so a binary search over it finds where the first record at or after a time can be.
 */
import type { FileHandle } from './file-handle-cache.js';
import type { SegmentEntries } from './segment-entries.js';
import { SEGMENT_HEADER_BYTES } from './segment-header.js';

export const INDEX_INTERVAL_BYTES = 4096;

export function segmentFileName(base: number): string {
  return `${String(base).padStart(20, '0')}.seg`;
}

export class Segment {
  nextOffset: number;
  /** File position of the first record (after the header). */
  dataStart = SEGMENT_HEADER_BYTES;
  /** The header is in neither the file nor a queued write yet: the first write must carry it. */
  headerPending = false;
  /** Bytes appended (header included), including the ones still in memory. */
  size = SEGMENT_HEADER_BYTES;
  /** Bytes confirmed written to the file (reads from the file never go past this). */
  writtenSize = 0;
  /** Intact records (offsets lost in holes are not counted). */
  records = 0;
  firstTimestamp = 0;
  lastTimestamp = 0;
  /** Largest timestamp of the segment's records. */
  maxTimestamp = 0;
  idxOffsets = new Float64Array(16);
  idxPositions = new Float64Array(16);
  /** Per index entry: the largest timestamp of the records before it in this segment (0 if none). */
  idxMaxBefore = new Float64Array(16);
  idxCount = 0;
  lastIndexedPos = -INDEX_INTERVAL_BYTES;
  /** Damaged byte ranges [start, end) inside the file, ascending; null while there are none (the usual case). */
  holes: number[] | null = null;
  /** Per hole: the offsets [firstLost, nextOffset) its bytes held. */
  holeOffsets: number[] | null = null;
  /**
   * The entry table of a queue's segment (segment-entries.ts): built while active, persisted with the index
   * at seal, then dropped; loaded from the index at open until the queue has recovered. null otherwise.
   */
  entries: SegmentEntries | null = null;
  /** Size of the data file once sealed (what its index file describes); -1 while active. */
  sealedSize = -1;
  /** The index file is being written; set indexStale to have it written again (new damage found). */
  indexWriting = false;
  indexStale = false;
  /** Reads and syncs in progress (they also pin the handle; this count guards deletion). */
  users = 0;
  deleted = false;
  reaped = false;

  constructor(
    readonly base: number,
    readonly handle: FileHandle,
  ) {
    this.nextOffset = base;
  }

  get file(): string {
    return this.handle.file;
  }

  /** No record and no damage after the header. */
  get empty(): boolean {
    return this.size <= this.dataStart;
  }

  noteRecord(offset: number, pos: number, size: number, timestamp: number): void {
    if (this.idxCount === 0 || pos - this.lastIndexedPos >= INDEX_INTERVAL_BYTES) {
      if (this.idxCount === this.idxOffsets.length) this.growIndex(this.idxCount * 2);
      this.idxOffsets[this.idxCount] = offset;
      this.idxPositions[this.idxCount] = pos;
      this.idxMaxBefore[this.idxCount++] = this.maxTimestamp;
      this.lastIndexedPos = pos;
    }
    if (this.records++ === 0) this.firstTimestamp = timestamp;
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
    this.lastTimestamp = timestamp;
    this.size = pos + size;
    this.nextOffset = offset + 1;
  }

  growIndex(capacity: number): void {
    const grow = (a: Float64Array) => {
      const b = new Float64Array(capacity);
      b.set(a.subarray(0, Math.min(a.length, capacity)));
      return b;
    };
    this.idxOffsets = grow(this.idxOffsets);
    this.idxPositions = grow(this.idxPositions);
    this.idxMaxBefore = grow(this.idxMaxBefore);
  }

  /** Bytes [start, end) are damaged and held offsets [firstLost, nextOffset); the record at end is readable. */
  addHole(start: number, end: number, firstLost: number, nextOffset: number): void {
    this.holes ??= [];
    this.holeOffsets ??= [];
    this.holes.push(start, end);
    this.holeOffsets.push(firstLost, nextOffset);
    this.size = end;
    this.nextOffset = nextOffset;
    // Index the first record after the hole, so a read of it starts there rather than before the hole.
    this.lastIndexedPos = -INDEX_INTERVAL_BYTES;
  }

  /** A hole a read found after recovery (size and nextOffset already cover it). Kept in file order. */
  insertHole(start: number, end: number, firstLost: number, nextOffset: number): void {
    this.holes ??= [];
    this.holeOffsets ??= [];
    let i = 0;
    while (i < this.holes.length && this.holes[i] < start) i += 2;
    this.holes.splice(i, 0, start, end);
    this.holeOffsets.splice(i, 0, firstLost, nextOffset);
  }

  /** End of the hole that starts at pos, or -1 if none does. */
  holeEndAt(pos: number): number {
    const h = this.holes;
    if (h === null) return -1;
    for (let i = 0; i < h.length; i += 2) if (h[i] === pos) return h[i + 1];
    return -1;
  }

  /** Offset of the first record after the hole that starts at pos. */
  holeNextOffsetAt(pos: number): number {
    const h = this.holes ?? [];
    for (let i = 0; i < h.length; i += 2) if (h[i] === pos) return (this.holeOffsets ?? [])[i + 1];
    return -1;
  }

  /** The index entry of the indexed record at or before offset, or -1 if there is none. */
  indexEntryFor(offset: number): number {
    let lo = 0;
    let hi = this.idxCount - 1;
    if (hi < 0 || offset < this.idxOffsets[0]) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.idxOffsets[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** File position of the indexed record at or before offset. */
  positionFor(offset: number): number {
    const i = this.indexEntryFor(offset);
    return i < 0 ? this.dataStart : this.idxPositions[i];
  }

  /**
   * An offset at or before the first record with timestamp >= ts, at most one index interval before it: every
   * record of this segment before the returned offset is older than ts.
   */
  offsetBeforeTime(ts: number): number {
    let lo = 0;
    let hi = this.idxCount - 1;
    if (hi < 0 || this.idxMaxBefore[0] >= ts) return this.base;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.idxMaxBefore[mid] < ts) lo = mid;
      else hi = mid - 1;
    }
    return this.idxOffsets[lo];
  }
}
