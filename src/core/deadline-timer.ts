/** Longest wait setTimeout takes (about 24.8 days); a later deadline is re-checked when this one fires. */
const MAX_TIMEOUT_MS = 0x7fffffff;

/**
 * One timer for the earliest of many deadlines (message expiries, lease ends): arming for a later deadline
 * than the one pending is a no-op, so a queue with a million TTLs has one timer, never one per message.
 * The callback re-arms for whatever is earliest next. Timers never keep the process alive.
 */
export class DeadlineTimer {
  private timer: NodeJS.Timeout | undefined;
  private at = 0;

  constructor(private readonly onDue: (now: number) => void) {}

  /** Fires at `at` (ms since the epoch) unless a timer for an earlier or equal time is pending; 0 cancels. */
  arm(at: number): void {
    if (at === 0) {
      this.cancel();
      return;
    }
    if (this.timer && this.at <= at) return;
    clearTimeout(this.timer);
    this.at = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.at = 0;
        this.onDue(Date.now());
      },
      Math.min(Math.max(0, at - Date.now()), MAX_TIMEOUT_MS),
    );
    this.timer.unref();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.at = 0;
  }
}
