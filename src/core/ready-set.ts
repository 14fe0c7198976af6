import type { LiveEntries } from '../store/queue-store.js';
import { OffsetRing } from './offset-ring.js';

/**
 * The ready messages of a queue, by priority: one offset ring per priority level (a single ring for a queue
 * without x-max-priority). The head is the oldest message of the highest non-empty level, so a higher
 * priority is delivered first and FIFO holds within a priority, as in RabbitMQ.
 */
export class ReadySet {
  private readonly levels: OffsetRing[];
  private count = 0;

  constructor(maxPriority: number) {
    this.levels = Array.from({ length: maxPriority + 1 }, () => new OffsetRing());
  }

  get length(): number {
    return this.count;
  }

  get maxPriority(): number {
    return this.levels.length - 1;
  }

  /** Bytes held by the rings (the per-message memory figure). */
  get capacityBytes(): number {
    let n = 0;
    for (const l of this.levels) n += l.capacityBytes;
    return n;
  }

  /** Messages above the queue's maximum priority count as the maximum (RabbitMQ's rule). */
  levelOf(priority: number): number {
    return Math.min(priority, this.maxPriority);
  }

  push(offset: number, expiresAt: number, size: number, priority: number): void {
    this.levels[this.levelOf(priority)].push(offset, expiresAt, size);
    this.count++;
  }

  /**
   * About `more` entries are coming (recovery): a queue without priorities sizes its one ring for them at once,
   * with an eighth more for the messages that follow (how they split between levels is not known up front).
   */
  reserve(more: number): void {
    if (this.levels.length === 1) this.levels[0].reserve(more + (more >>> 3));
  }

  /**
   * Appends a batch of recovered entries (ascending offsets, past every offset held): runs of one level are
   * copied into their ring in bulk. Returns the bytes they hold.
   */
  pushBatch(batch: LiveEntries): number {
    const { count, offsets, expiresAt, sizes, priorities } = batch;
    let bytes = 0;
    let runStart = 0;
    for (let i = 0; i < count; i++) {
      bytes += sizes[i];
      if (i + 1 === count || this.levelOf(priorities[i + 1]) !== this.levelOf(priorities[runStart])) {
        this.levels[this.levelOf(priorities[runStart])].pushMany(offsets, expiresAt, sizes, runStart, i + 1);
        runStart = i + 1;
      }
    }
    this.count += count;
    return bytes;
  }

  /** Requeue: back to its original place within its level. */
  insertSorted(offset: number, expiresAt: number, size: number, priority: number): void {
    this.levels[this.levelOf(priority)].insertSorted(offset, expiresAt, size);
    this.count++;
  }

  /** The ring holding the head message; undefined when empty. */
  headRing(): OffsetRing | undefined {
    for (let p = this.levels.length - 1; p >= 0; p--) if (this.levels[p].length > 0) return this.levels[p];
    return undefined;
  }

  /** Priority level of the head message (0 for a queue without priorities). */
  headLevel(): number {
    for (let p = this.levels.length - 1; p >= 0; p--) if (this.levels[p].length > 0) return p;
    return 0;
  }

  peekOffset(): number {
    return this.headRing()!.peekOffset();
  }

  peekExpiry(): number {
    return this.headRing()!.peekExpiry();
  }

  peekSize(): number {
    return this.headRing()!.peekSize();
  }

  shift(): void {
    const ring = this.headRing();
    if (!ring) return;
    ring.shift();
    this.count--;
  }

  /** The earliest expiry among the level heads (each level expires at its own head), 0 if none. */
  earliestHeadExpiry(): number {
    let min = 0;
    for (const l of this.levels) {
      if (l.length === 0) continue;
      const e = l.peekExpiry();
      if (e !== 0 && (min === 0 || e < min)) min = e;
    }
    return min;
  }

  /** Removes every level head that has expired by `now`, oldest first per level. */
  takeExpiredHeads(now: number, each: (offset: number, size: number, level: number) => void): void {
    for (let p = this.levels.length - 1; p >= 0; p--) {
      const l = this.levels[p];
      while (l.length > 0) {
        const e = l.peekExpiry();
        if (e === 0 || e > now) break;
        const offset = l.peekOffset();
        const size = l.peekSize();
        l.shift();
        this.count--;
        each(offset, size, p);
      }
    }
  }

  /** Where `offset` is: its priority level and position there; undefined when it is not ready. */
  find(offset: number): { level: number; index: number } | undefined {
    for (let level = 0; level < this.levels.length; level++) {
      const index = this.levels[level].indexOf(offset);
      if (index >= 0) return { level, index };
    }
    return undefined;
  }

  expiryAt(at: { level: number; index: number }): number {
    return this.levels[at.level].expiryAt(at.index);
  }

  sizeAt(at: { level: number; index: number }): number {
    return this.levels[at.level].sizeAt(at.index);
  }

  /** Removes one ready message from anywhere in its level (deleted without being consumed). */
  removeAt(at: { level: number; index: number }): void {
    this.levels[at.level].removeAt(at.index);
    this.count--;
  }

  /**
   * Visits ready messages with offsets above `after` in ascending offset order across all levels (a read in
   * place: nothing moves), until `each` returns false.
   */
  forEachAfter(after: number, each: (offset: number, expiresAt: number) => boolean): void {
    const cursors = this.levels.map((l) => l.lowerBound(after + 1));
    for (;;) {
      let best = -1;
      let bestOffset = Number.POSITIVE_INFINITY;
      for (let p = 0; p < this.levels.length; p++) {
        const l = this.levels[p];
        if (cursors[p] < l.length && l.offsetAt(cursors[p]) < bestOffset) {
          best = p;
          bestOffset = l.offsetAt(cursors[p]);
        }
      }
      if (best < 0) return;
      const expiresAt = this.levels[best].expiryAt(cursors[best]);
      cursors[best]++;
      if (!each(bestOffset, expiresAt)) return;
    }
  }

  /** Lowest and highest ready offsets (not the delivery head: priorities reorder that); undefined when empty. */
  offsetRange(): { lowest: number; highest: number } | undefined {
    let lowest = Number.POSITIVE_INFINITY;
    let highest = -1;
    for (const l of this.levels) {
      if (l.length === 0) continue;
      lowest = Math.min(lowest, l.offsetAt(0));
      highest = Math.max(highest, l.offsetAt(l.length - 1));
    }
    return highest < 0 ? undefined : { lowest, highest };
  }

  forEachOffset(each: (offset: number) => void): void {
    for (const l of this.levels) for (let i = 0; i < l.length; i++) each(l.offsetAt(i));
  }

  clear(): void {
    for (const l of this.levels) l.clear();
    this.count = 0;
  }
}
