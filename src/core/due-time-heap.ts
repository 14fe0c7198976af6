/**
 * A binary min-heap of (due time, offset) pairs kept in two parallel Float64Arrays, so a delayed backlog costs
 * 16 bytes per message instead of one JS object each (ARCHITECTURE: bounded memory). Ordered by due time, then
 * by offset: offsets grow with every append, so equal due times come out in publish (FIFO) order.
 */
const MIN_CAPACITY = 64;

export class DueTimeHeap {
  private dues: Float64Array;
  private offsets: Float64Array;
  private count = 0;

  constructor(initialCapacity = MIN_CAPACITY) {
    const cap = Math.max(MIN_CAPACITY, Math.floor(initialCapacity) || 0);
    this.dues = new Float64Array(cap);
    this.offsets = new Float64Array(cap);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the typed arrays (capacity, not just the live entries). */
  get capacityBytes(): number {
    return this.dues.byteLength + this.offsets.byteLength;
  }

  push(dueAt: number, offset: number): void {
    if (this.count === this.dues.length) this.resize(this.dues.length * 2);
    const dues = this.dues;
    const offsets = this.offsets;
    // Sift up with a hole instead of swaps: one write per level.
    let i = this.count++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pd = dues[parent];
      if (pd < dueAt || (pd === dueAt && offsets[parent] <= offset)) break;
      dues[i] = pd;
      offsets[i] = offsets[parent];
      i = parent;
    }
    dues[i] = dueAt;
    offsets[i] = offset;
  }

  /** Due time of the earliest entry, or Infinity when empty. */
  peekDue(): number {
    return this.count > 0 ? this.dues[0] : Number.POSITIVE_INFINITY;
  }

  /** Offset of the earliest entry, or -1 when empty. */
  peekOffset(): number {
    return this.count > 0 ? this.offsets[0] : -1;
  }

  /** Removes the earliest entry and returns its offset (read peekDue() first for its due time); -1 when empty. */
  pop(): number {
    if (this.count === 0) return -1;
    const dues = this.dues;
    const offsets = this.offsets;
    const top = offsets[0];
    const n = --this.count;
    if (n > 0) {
      const due = dues[n];
      const off = offsets[n];
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= n) break;
        const right = child + 1;
        if (
          right < n &&
          (dues[right] < dues[child] || (dues[right] === dues[child] && offsets[right] < offsets[child]))
        )
          child = right;
        const cd = dues[child];
        if (due < cd || (due === cd && off <= offsets[child])) break;
        dues[i] = cd;
        offsets[i] = offsets[child];
        i = child;
      }
      dues[i] = due;
      offsets[i] = off;
    }
    // Give memory back after a large backlog drains, with hysteresis so push/pop at the edge does not thrash.
    const cap = this.dues.length;
    if (cap > MIN_CAPACITY && n < cap >> 2) this.resize(Math.max(MIN_CAPACITY, cap >> 1));
    return top;
  }

  clear(): void {
    this.count = 0;
    if (this.dues.length > MIN_CAPACITY) this.resize(MIN_CAPACITY);
  }

  private resize(capacity: number): void {
    const dues = new Float64Array(capacity);
    const offsets = new Float64Array(capacity);
    dues.set(this.dues.subarray(0, this.count));
    offsets.set(this.offsets.subarray(0, this.count));
    this.dues = dues;
    this.offsets = offsets;
  }
}
