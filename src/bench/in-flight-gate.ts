/**
 * Keeps a publisher at most `limit` messages ahead of its consumers, so a throughput run measures a
 * steady state instead of a growing queue (and latency stays a property of the broker, not of the
 * backlog the benchmark built). The publisher waits; deliveries wake it at half the limit.
 */
export class InFlightGate {
  published = 0;
  received = 0;
  private waiter: (() => void) | null = null;

  /** fanOut: deliveries expected per publish (queues bound to the exchange). */
  constructor(
    readonly limit: number,
    private readonly fanOut = 1,
  ) {}

  get full(): boolean {
    return this.published * this.fanOut - this.received >= this.limit * this.fanOut;
  }

  onReceived(): void {
    this.received++;
    if (
      this.waiter !== null &&
      this.published * this.fanOut - this.received <= (this.limit * this.fanOut) / 2
    ) {
      const w = this.waiter;
      this.waiter = null;
      w();
    }
  }

  /** Resolves when the consumers caught up to half the limit, or after maxWaitMs (a stuck consumer). */
  wait(maxWaitMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve();
      }, maxWaitMs);
      this.waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
