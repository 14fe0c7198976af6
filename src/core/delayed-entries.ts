import { DueTimeHeap } from './due-time-heap.js';

/** A message in the log that may not be delivered before `notBefore` (epoch ms). */
export interface DelayedEntry {
  expiresAt: number;
  size: number;
  priority: number;
  notBefore: number;
}

/**
 * Messages of a classic queue that are stored (they have their offset, so their id) but not deliverable yet:
 * the HTTP API's delayed messages. A heap of due times hands them to the ready queue, in due order.
 */
export class DelayedEntries {
  private readonly entries = new Map<number, DelayedEntry>();
  private readonly due = new DueTimeHeap();

  get size(): number {
    return this.entries.size;
  }

  add(offset: number, entry: DelayedEntry): void {
    this.entries.set(offset, entry);
    this.due.push(entry.notBefore, offset);
  }

  get(offset: number): DelayedEntry | undefined {
    return this.entries.get(offset);
  }

  /** Removes a delayed message before it is due (deleted by id); its heap entry is skipped later. */
  take(offset: number): DelayedEntry | undefined {
    const entry = this.entries.get(offset);
    if (entry) this.entries.delete(offset);
    return entry;
  }

  /** Earliest due time of a live entry, or 0 when none is waiting. */
  earliestDue(): number {
    this.dropStale();
    return this.due.size > 0 ? this.due.peekDue() : 0;
  }

  /** Removes every entry due by now and hands it over, in due order. */
  takeDue(now: number, each: (offset: number, entry: DelayedEntry) => void): void {
    for (;;) {
      this.dropStale();
      if (this.due.size === 0 || this.due.peekDue() > now) return;
      const offset = this.due.pop();
      const entry = this.entries.get(offset)!;
      this.entries.delete(offset);
      each(offset, entry);
    }
  }

  /** Offsets above `after`, ascending. */
  offsetsAfter(after: number): number[] {
    const out: number[] = [];
    for (const offset of this.entries.keys()) if (offset > after) out.push(offset);
    return out.sort((a, b) => a - b);
  }

  clear(): void {
    this.entries.clear();
    this.due.clear();
  }

  private dropStale(): void {
    while (this.due.size > 0 && this.entries.get(this.due.peekOffset())?.notBefore !== this.due.peekDue()) {
      this.due.pop();
    }
  }
}
