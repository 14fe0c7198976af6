/**
 * Publisher-confirm bookkeeping for one channel: which sequence numbers still await basic.ack/nack.
 * A ring of flags indexed by sequence number (no object per message); acks may arrive out of order
 * and `multiple` settles every outstanding number up to the tag.
 */
const INITIAL_CAPACITY = 1 << 12;

interface Waiter {
  limit: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class ConfirmTracker {
  private ring = new Uint8Array(INITIAL_CAPACITY);
  private mask = INITIAL_CAPACITY - 1;
  /** Lowest sequence number that may still be outstanding. */
  private lowest = 1;
  /** Sequence number the next publish gets. */
  private next = 1;
  private waiters: Waiter[] = [];
  outstanding = 0;
  acked = 0;
  nacked = 0;

  /** Records a publish and returns its sequence number. */
  add(): number {
    if (this.next - this.lowest >= this.ring.length) this.grow();
    this.ring[this.next & this.mask] = 1;
    this.outstanding++;
    return this.next++;
  }

  /** Applies a basic.ack (ok) or basic.nack; tags out of range are ignored. */
  settle(tag: number, multiple: boolean, ok: boolean): void {
    if (tag === 0 && multiple) tag = this.next - 1;
    if (tag < this.lowest || tag >= this.next) return;
    const ring = this.ring;
    const mask = this.mask;
    let settled = 0;
    if (multiple) {
      for (let t = this.lowest; t <= tag; t++) {
        if (ring[t & mask] !== 0) {
          ring[t & mask] = 0;
          settled++;
        }
      }
      this.lowest = tag + 1;
    } else if (ring[tag & mask] !== 0) {
      ring[tag & mask] = 0;
      settled = 1;
    }
    while (this.lowest < this.next && ring[this.lowest & mask] === 0) this.lowest++;
    this.outstanding -= settled;
    if (ok) this.acked += settled;
    else this.nacked += settled;
    if (this.waiters.length > 0) this.wake();
  }

  /** Resolves once at most `limit` publishes are unconfirmed. */
  waitForAtMost(limit: number): Promise<void> {
    if (this.outstanding <= limit) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ limit, resolve, reject }));
  }

  /** Fails every waiter (the channel closed). */
  fail(err: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }

  private wake(): void {
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (this.outstanding <= w.limit) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }

  private grow(): void {
    const bigger = new Uint8Array(this.ring.length * 2);
    const mask = bigger.length - 1;
    for (let t = this.lowest; t < this.next; t++) bigger[t & mask] = this.ring[t & this.mask];
    this.ring = bigger;
    this.mask = mask;
  }
}
