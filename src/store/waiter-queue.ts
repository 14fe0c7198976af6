/** Offsets waiting for an event, in ascending order, with their callbacks (a head index avoids shift()). */
export type OffsetCallback = (err: Error | null) => void;

function noop(): void {}

export class WaiterQueue {
  private offsets: number[] = [];
  private cbs: OffsetCallback[] = [];
  private head = 0;

  add(offset: number, cb: OffsetCallback): void {
    const n = this.offsets.length;
    if (n === this.head || this.offsets[n - 1] <= offset) {
      this.offsets.push(offset);
      this.cbs.push(cb);
      return;
    }
    let lo = this.head;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsets[mid] <= offset) lo = mid + 1;
      else hi = mid;
    }
    this.offsets.splice(lo, 0, offset);
    this.cbs.splice(lo, 0, cb);
  }

  /** Runs (with err) every callback whose offset is < limit. */
  release(limit: number, err: Error | null): void {
    let thrown: unknown;
    while (this.head < this.offsets.length && this.offsets[this.head] < limit) {
      const cb = this.cbs[this.head];
      this.cbs[this.head++] = noop;
      try {
        cb(err);
      } catch (e) {
        thrown ??= e;
      }
    }
    if (this.head === this.offsets.length) {
      this.offsets.length = 0;
      this.cbs.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.offsets.length) {
      this.offsets = this.offsets.slice(this.head);
      this.cbs = this.cbs.slice(this.head);
      this.head = 0;
    }
    if (thrown !== undefined) throw thrown;
  }
}
