/** Deliveries counted across any number of consumers, with a way to wait for a total. */
import type { Counter } from './phase-meter.js';

export class DeliveryTally {
  /** performance.now() of the latest delivery. */
  lastAt = 0;
  private target = Number.POSITIVE_INFINITY;
  private reached: (() => void) | null = null;

  constructor(readonly counter: Counter) {}

  get count(): number {
    return this.counter.n;
  }

  /** Called by consumers for every delivery. */
  add(now: number): void {
    this.lastAt = now;
    if (++this.counter.n >= this.target) {
      const r = this.reached;
      this.reached = null;
      this.target = Number.POSITIVE_INFINITY;
      r?.();
    }
  }

  /** Resolves true once `count` deliveries arrived, false if timeoutMs passed first. */
  waitFor(count: number, timeoutMs: number): Promise<boolean> {
    if (this.counter.n >= count) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.reached = null;
        this.target = Number.POSITIVE_INFINITY;
        resolve(false);
      }, timeoutMs);
      this.target = count;
      this.reached = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }
}
