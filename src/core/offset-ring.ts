/**
 * A growable FIFO ring of message positions held in typed arrays, so a queue's backlog costs a few bytes per
 * message instead of one JS object each (ARCHITECTURE: bounded memory).
 */
export class OffsetRing {
  private offsets: Float64Array;
  private expiries: Float64Array;
  private sizes: Uint32Array;
  private head = 0;
  private count = 0;

  constructor(initialCapacity = 16) {
    this.offsets = new Float64Array(initialCapacity);
    this.expiries = new Float64Array(initialCapacity);
    this.sizes = new Uint32Array(initialCapacity);
  }

  get length(): number {
    return this.count;
  }

  /** Bytes held by the typed arrays: the per-message memory figure reported in benchmarks. */
  get capacityBytes(): number {
    return this.offsets.byteLength + this.expiries.byteLength + this.sizes.byteLength;
  }

  push(offset: number, expiresAt: number, size: number): void {
    if (this.count === this.offsets.length) this.grow();
    const i = (this.head + this.count) % this.offsets.length;
    this.offsets[i] = offset;
    this.expiries[i] = expiresAt;
    this.sizes[i] = size;
    this.count++;
  }

  /** Makes room for `more` entries past the current ones at once (one allocation instead of many doublings). */
  reserve(more: number): void {
    if (this.count + more > this.offsets.length) this.resize(this.count + more);
  }

  /** Appends entries [from, to) of the given columns (ascending offsets, all past the ring's last). */
  pushMany(
    offsets: Float64Array,
    expiries: Float64Array,
    sizes: Uint32Array,
    from: number,
    to: number,
  ): void {
    const n = to - from;
    if (n < 16) {
      // Short runs (interleaved priorities): subarrays would cost more than they save.
      for (let i = from; i < to; i++) this.push(offsets[i], expiries[i], sizes[i]);
      return;
    }
    if (this.count + n > this.offsets.length) {
      let capacity = this.offsets.length;
      while (capacity < this.count + n) capacity *= 2;
      this.resize(capacity);
    }
    const cap = this.offsets.length;
    const tail = (this.head + this.count) % cap;
    const firstRun = Math.min(n, cap - tail);
    this.offsets.set(offsets.subarray(from, from + firstRun), tail);
    this.expiries.set(expiries.subarray(from, from + firstRun), tail);
    this.sizes.set(sizes.subarray(from, from + firstRun), tail);
    if (n > firstRun) {
      this.offsets.set(offsets.subarray(from + firstRun, to), 0);
      this.expiries.set(expiries.subarray(from + firstRun, to), 0);
      this.sizes.set(sizes.subarray(from + firstRun, to), 0);
    }
    this.count += n;
  }

  /** Inserts keeping ascending offset order; used to requeue a message at its original position. */
  insertSorted(offset: number, expiresAt: number, size: number): void {
    if (this.count === 0 || offset > this.offsetAt(this.count - 1)) {
      this.push(offset, expiresAt, size);
      return;
    }
    if (offset < this.offsetAt(0)) {
      this.unshift(offset, expiresAt, size);
      return;
    }
    if (this.count === this.offsets.length) this.grow();
    const lo = this.lowerBound(offset);
    // Shift the tail right by one from position lo.
    const cap = this.offsets.length;
    for (let k = this.count; k > lo; k--) this.copy((this.head + k - 1) % cap, (this.head + k) % cap);
    const at = (this.head + lo) % cap;
    this.offsets[at] = offset;
    this.expiries[at] = expiresAt;
    this.sizes[at] = size;
    this.count++;
  }

  unshift(offset: number, expiresAt: number, size: number): void {
    if (this.count === this.offsets.length) this.grow();
    this.head = (this.head - 1 + this.offsets.length) % this.offsets.length;
    this.offsets[this.head] = offset;
    this.expiries[this.head] = expiresAt;
    this.sizes[this.head] = size;
    this.count++;
  }

  peekOffset(): number {
    return this.offsets[this.head];
  }

  peekExpiry(): number {
    return this.expiries[this.head];
  }

  peekSize(): number {
    return this.sizes[this.head];
  }

  offsetAt(index: number): number {
    return this.offsets[(this.head + index) % this.offsets.length];
  }

  expiryAt(index: number): number {
    return this.expiries[(this.head + index) % this.offsets.length];
  }

  sizeAt(index: number): number {
    return this.sizes[(this.head + index) % this.offsets.length];
  }

  /** Position of the first entry with an offset at or above `offset` (the ring is in ascending order). */
  lowerBound(offset: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsetAt(mid) < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Position of `offset`, or -1 when the ring does not hold it. */
  indexOf(offset: number): number {
    const i = this.lowerBound(offset);
    return i < this.count && this.offsetAt(i) === offset ? i : -1;
  }

  /** Removes the entry at `index`, moving the shorter side of the ring by one. */
  removeAt(index: number): void {
    if (index < 0 || index >= this.count) return;
    const cap = this.offsets.length;
    if (index < this.count - 1 - index) {
      for (let k = index; k > 0; k--) this.copy((this.head + k - 1) % cap, (this.head + k) % cap);
      this.shift();
      return;
    }
    for (let k = index; k < this.count - 1; k++) this.copy((this.head + k + 1) % cap, (this.head + k) % cap);
    this.count--;
    if (this.count === 0) this.head = 0;
  }

  shift(): void {
    if (this.count === 0) return;
    this.head = (this.head + 1) % this.offsets.length;
    this.count--;
    if (this.count === 0) this.head = 0;
    else if (this.offsets.length > 4096 && this.count < this.offsets.length / 8) this.shrink();
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    if (this.offsets.length > 1024) {
      this.offsets = new Float64Array(16);
      this.expiries = new Float64Array(16);
      this.sizes = new Uint32Array(16);
    }
  }

  private copy(from: number, to: number): void {
    this.offsets[to] = this.offsets[from];
    this.expiries[to] = this.expiries[from];
    this.sizes[to] = this.sizes[from];
  }

  private grow(): void {
    this.resize(this.offsets.length * 2);
  }

  private shrink(): void {
    this.resize(Math.max(1024, this.offsets.length >>> 1));
  }

  private resize(capacity: number): void {
    this.offsets = unwrap(this.offsets, new Float64Array(capacity), this.head, this.count);
    this.expiries = unwrap(this.expiries, new Float64Array(capacity), this.head, this.count);
    this.sizes = unwrap(this.sizes, new Uint32Array(capacity), this.head, this.count);
    this.head = 0;
  }
}

/** Copies `count` entries of a ring starting at `head` to the start of `to`, in at most two bulk copies. */
function unwrap<T extends Float64Array | Uint32Array>(from: T, to: T, head: number, count: number): T {
  const firstRun = Math.min(count, from.length - head);
  to.set(from.subarray(head, head + firstRun), 0);
  if (count > firstRun) to.set(from.subarray(0, count - firstRun), firstRun);
  return to;
}
