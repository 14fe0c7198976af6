/**
 * The live records of a queue segment at recovery: its entry table (segment-entries.ts) without the records
 * that were settled, lost to damage, or not persistent, gathered into typed arrays for the queue to take in
 * bulk (no object per record).
 */
import type { OffsetBitmap } from './offset-bitmap.js';
import type { SegmentEntries } from './segment-entries.js';

/**
 * A batch of live records, in offset order: entry i is offsets[i], sizes[i] (body bytes), expiresAt[i],
 * priorities[i], for i < count. The arrays are reused for the next batch: copy what you keep.
 */
export interface LiveEntries {
  count: number;
  offsets: Float64Array;
  sizes: Uint32Array;
  expiresAt: Float64Array;
  priorities: Uint8Array;
}

export type LiveEntriesCallback = (batch: LiveEntries) => void;

export class LiveBatch implements LiveEntries {
  count = 0;
  offsets = new Float64Array(0);
  sizes = new Uint32Array(0);
  expiresAt = new Float64Array(0);
  priorities = new Uint8Array(0);

  /**
   * Replaces the batch with the live records of entries: persistent, not in `settled` (checked only when
   * anySettled), not in a lost range ([first, next) offset pairs, ascending). Non-persistent records are
   * added to `settled`: they are gone after a restart, and must not count if settled again.
   */
  collect(
    entries: SegmentEntries,
    lostRanges: readonly number[] | null,
    settled: OffsetBitmap,
    anySettled: boolean,
  ): void {
    const n = entries.count;
    if (this.offsets.length < n) {
      this.offsets = new Float64Array(n);
      this.sizes = new Uint32Array(n);
      this.expiresAt = new Float64Array(n);
      this.priorities = new Uint8Array(n);
    }
    // Columns into locals: each loop site sees one array type (or a constant).
    const base = entries.base;
    const lost = entries.lost.values;
    const lostConst = entries.lost.constant;
    const size = entries.size.values;
    const sizeConst = entries.size.constant;
    const expiry = entries.expiresAt.values;
    const expiryConst = entries.expiresAt.constant;
    const priority = entries.priority.values;
    const priorityConst = entries.priority.constant;
    const persistent = entries.persistent.values;
    const persistentConst = entries.persistent.constant;
    const { offsets, sizes, expiresAt, priorities } = this;
    let range = 0;
    let k = 0;
    for (let i = 0; i < n; i++) {
      const offset = base + i + (lost === null ? lostConst : lost[i]);
      if (lostRanges !== null) {
        while (range < lostRanges.length && offset >= lostRanges[range + 1]) range += 2;
        if (range < lostRanges.length && offset >= lostRanges[range]) continue;
      }
      if ((persistent === null ? persistentConst : persistent[i]) === 0) {
        settled.add(offset);
        continue;
      }
      if (anySettled && settled.has(offset)) continue;
      offsets[k] = offset;
      sizes[k] = size === null ? sizeConst : size[i];
      expiresAt[k] = expiry === null ? expiryConst : expiry[i];
      priorities[k] = priority === null ? priorityConst : priority[i];
      k++;
    }
    this.count = k;
  }
}
