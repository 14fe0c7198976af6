/**
 * One segment file of a SegmentLog: its offsets, sizes, a sparse offset -> file position index, and the byte
 * ranges recovery found damaged (holes) that reads must step over.
 */
import type { FileHandle } from './file-handle-cache.js';

export const INDEX_INTERVAL_BYTES = 4096;

export function segmentFileName(base: number): string {
  return `${String(base).padStart(20, '0')}.seg`;
}

export class Segment {
  nextOffset: number;
  /** Bytes appended, including the ones still in memory. */
  size = 0;
  /** Bytes confirmed written to the file (reads from the file never go past this). */
  writtenSize = 0;
  firstTimestamp = 0;
  lastTimestamp = 0;
  idxOffsets = new Float64Array(16);
  idxPositions = new Float64Array(16);
  idxCount = 0;
  lastIndexedPos = -INDEX_INTERVAL_BYTES;
  /** Damaged byte ranges [start, end) inside the file, ascending; null while there are none (the usual case). */
  holes: number[] | null = null;
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

  noteRecord(offset: number, pos: number, size: number, timestamp: number): void {
    if (this.idxCount === 0 || pos - this.lastIndexedPos >= INDEX_INTERVAL_BYTES) {
      if (this.idxCount === this.idxOffsets.length) {
        const o = new Float64Array(this.idxCount * 2);
        o.set(this.idxOffsets);
        this.idxOffsets = o;
        const p = new Float64Array(this.idxCount * 2);
        p.set(this.idxPositions);
        this.idxPositions = p;
      }
      this.idxOffsets[this.idxCount] = offset;
      this.idxPositions[this.idxCount++] = pos;
      this.lastIndexedPos = pos;
    }
    if (this.size === 0) this.firstTimestamp = timestamp;
    this.lastTimestamp = timestamp;
    this.size = pos + size;
    this.nextOffset = offset + 1;
  }

  /** Bytes [start, end) are damaged; the record at end (if any) is the next readable one. */
  addHole(start: number, end: number): void {
    this.holes ??= [];
    this.holes.push(start, end);
    this.size = end;
    // Index the first record after the hole, so a read of it starts there rather than before the hole.
    this.lastIndexedPos = -INDEX_INTERVAL_BYTES;
  }

  /** End of the hole that starts at pos, or -1 if none does. */
  holeEndAt(pos: number): number {
    const h = this.holes;
    if (h === null) return -1;
    for (let i = 0; i < h.length; i += 2) if (h[i] === pos) return h[i + 1];
    return -1;
  }

  /** File position of the indexed record at or before offset. */
  positionFor(offset: number): number {
    let lo = 0;
    let hi = this.idxCount - 1;
    if (hi < 0 || offset < this.idxOffsets[0]) return 0;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.idxOffsets[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return this.idxPositions[lo];
  }
}
