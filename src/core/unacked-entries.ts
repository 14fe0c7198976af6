import { DueTimeHeap } from './due-time-heap.js';

/** A delivered message not yet settled: who holds it, and until when if it is leased. */
export interface UnackedEntry {
  expiresAt: number;
  size: number;
  priority: number;
  /** The holder (an AMQP channel, an HTTP claim, an MQTT session) whose end puts the message back. */
  owner: object | null;
  /** Epoch ms after which the message goes back to ready by itself; 0: held until settled or released. */
  leaseDeadline: number;
}

/**
 * The unacked (and leased) messages of a classic queue by offset. Ownership makes release a core operation:
 * when a holder ends, its messages go back, whatever the protocol. Leases (HTTP claims) expire through a
 * heap of deadlines, cleaned lazily: a renewed or settled lease leaves a stale heap entry that is skipped.
 */
export class UnackedEntries {
  private readonly entries = new Map<number, UnackedEntry>();
  private readonly leases = new DueTimeHeap();

  get size(): number {
    return this.entries.size;
  }

  add(offset: number, entry: UnackedEntry): void {
    this.entries.set(offset, entry);
    if (entry.leaseDeadline > 0) this.leases.push(entry.leaseDeadline, offset);
  }

  get(offset: number): UnackedEntry | undefined {
    return this.entries.get(offset);
  }

  /** Removes and returns the entry at offset. */
  take(offset: number): UnackedEntry | undefined {
    const entry = this.entries.get(offset);
    if (entry) this.entries.delete(offset);
    return entry;
  }

  /** The offsets held by owner, ascending. */
  offsetsOf(owner: object): number[] {
    const out: number[] = [];
    for (const [offset, entry] of this.entries) if (entry.owner === owner) out.push(offset);
    return out.sort((a, b) => a - b);
  }

  /** Held offsets above `after`, ascending (a sort per call: reads in place are not on the hot path). */
  offsetsAfter(after: number): number[] {
    const out: number[] = [];
    for (const offset of this.entries.keys()) if (offset > after) out.push(offset);
    return out.sort((a, b) => a - b);
  }

  /** Lowest and highest held offsets (one pass, no sort); undefined when nothing is held. */
  offsetRange(): { lowest: number; highest: number } | undefined {
    let lowest = Number.POSITIVE_INFINITY;
    let highest = -1;
    for (const offset of this.entries.keys()) {
      if (offset < lowest) lowest = offset;
      if (offset > highest) highest = offset;
    }
    return highest < 0 ? undefined : { lowest, highest };
  }

  /** Moves the lease deadline of a held message; false if it is not held (or not by owner, when given). */
  renew(offset: number, deadline: number, owner?: object): boolean {
    const entry = this.entries.get(offset);
    if (!entry || (owner !== undefined && entry.owner !== owner)) return false;
    entry.leaseDeadline = deadline;
    if (deadline > 0) this.leases.push(deadline, offset);
    return true;
  }

  /** Earliest live lease deadline, or 0 when nothing is leased. */
  earliestLease(): number {
    this.dropStaleLeases();
    return this.leases.size > 0 ? this.leases.peekDue() : 0;
  }

  /** Removes every entry whose lease ran out by now and hands it to each (in deadline order). */
  takeExpiredLeases(now: number, each: (offset: number, entry: UnackedEntry) => void): void {
    for (;;) {
      this.dropStaleLeases();
      if (this.leases.size === 0 || this.leases.peekDue() > now) return;
      const offset = this.leases.peekOffset();
      this.leases.pop();
      const entry = this.entries.get(offset)!;
      this.entries.delete(offset);
      each(offset, entry);
    }
  }

  clear(): void {
    this.entries.clear();
    this.leases.clear();
  }

  /** Pops heap entries that no longer match a live lease (settled, released or renewed since). */
  private dropStaleLeases(): void {
    while (this.leases.size > 0) {
      const entry = this.entries.get(this.leases.peekOffset());
      if (entry && entry.leaseDeadline === this.leases.peekDue()) return;
      this.leases.pop();
    }
  }
}
