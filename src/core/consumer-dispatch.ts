import type { Consumer } from './consumer.js';
import { accessRefused } from './errors.js';

/**
 * The consumers of one queue or stream and the choice of who gets the next message: highest consumer priority
 * first, round robin among equals, skipping consumers without credit; or, with single active consumer, only
 * the first one subscribed. Shared by every delivery model.
 */
export class ConsumerDispatch {
  /** Sorted by priority, highest first (stable: equal priorities keep subscription order). */
  private readonly list: Consumer[] = [];
  private roundRobin = 0;

  constructor(private readonly describe: () => string) {}

  get count(): number {
    return this.list.length;
  }

  get first(): Consumer | undefined {
    return this.list[0];
  }

  /** Adds a consumer in priority order; an exclusive consumer must be alone (403 ACCESS_REFUSED otherwise). */
  add(consumer: Consumer): void {
    if (this.list.length > 0 && (consumer.exclusive || this.list.some((c) => c.exclusive))) {
      throw accessRefused(`${this.describe()} in exclusive use`);
    }
    let at = this.list.length;
    while (at > 0 && this.list[at - 1].priority < consumer.priority) at--;
    this.list.splice(at, 0, consumer);
  }

  /** Removes a consumer; returns the position it had, or -1 if it was not subscribed. */
  remove(consumer: Consumer): number {
    const i = this.list.indexOf(consumer);
    if (i < 0) return -1;
    this.list.splice(i, 1);
    if (this.roundRobin > i) this.roundRobin--;
    return i;
  }

  /** Removes and returns every consumer (the queue is going away). */
  removeAll(): Consumer[] {
    this.roundRobin = 0;
    return this.list.splice(0);
  }

  /** The consumer to hand the next message to, or undefined if none has credit. */
  next(singleActive: boolean): Consumer | undefined {
    const n = this.list.length;
    if (n === 0) return undefined;
    if (singleActive) {
      const active = this.list[0];
      return active.hasCredit() ? active : undefined;
    }
    let start = 0;
    while (start < n) {
      const priority = this.list[start].priority;
      let end = start + 1;
      while (end < n && this.list[end].priority === priority) end++;
      const size = end - start;
      const from = this.roundRobin >= start && this.roundRobin < end ? this.roundRobin - start : 0;
      for (let k = 0; k < size; k++) {
        const i = start + ((from + k) % size);
        const c = this.list[i];
        if (c.hasCredit()) {
          this.roundRobin = start + ((i - start + 1) % size);
          return c;
        }
      }
      start = end;
    }
    return undefined;
  }
}
