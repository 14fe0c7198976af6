/**
 * One timer for the earliest of many deadlines (never one per message): armed again only when an earlier
 * deadline comes; when it fires, the owner handles what is due and arms it for the next one.
 */
export class DeadlineTimer {
  private timer: NodeJS.Timeout | undefined;
  private at = 0;

  constructor(private readonly fire: () => void) {}

  /** Fires at `at` (epoch ms) unless already set for that time or earlier; 0 (no deadline) does nothing. */
  arm(at: number): void {
    if (at === 0 || (this.timer !== undefined && this.at <= at)) return;
    clearTimeout(this.timer);
    this.at = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.at = 0;
        this.fire();
      },
      Math.min(Math.max(0, at - Date.now()), 0x7fffffff),
    );
    this.timer.unref();
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.at = 0;
  }
}
