import { statfs } from 'node:fs/promises';
import { totalmem } from 'node:os';
import type { Logger } from 'pino';

export interface ResourceAlarmOptions {
  dataDir: string;
  /** Fraction of total memory (0..1] above which publishers are blocked; RabbitMQ's default is 0.4. */
  memoryHighWatermark: number;
  /** Free bytes on the data directory's file system below which publishers are blocked. */
  diskFreeLimitBytes: number;
  intervalMs?: number;
  /** Least time between two checks that requestCheck() starts. Default 100 ms. */
  minRequestIntervalMs?: number;
}

/**
 * Watches memory and disk and raises an alarm when either limit is crossed, so adapters can stop reading from
 * publishers (AMQP connection.blocked) before the broker runs out of either. Polled once a second (cheap), checked
 * once before the server accepts clients, and again at once when a store write fails: a fast publisher can fill
 * a nearly full disk well within one poll interval.
 */
export class ResourceAlarm {
  private timer: NodeJS.Timeout | undefined;
  private requestTimer: NodeJS.Timeout | undefined;
  private lastRequestedCheck = 0;
  /** Checks run one after another, so an older statfs result never overwrites a newer one. */
  private checks: Promise<void> = Promise.resolve();
  private reason: string | null = null;
  private readonly memoryLimit: number;

  constructor(
    private readonly options: ResourceAlarmOptions,
    private readonly onChange: (reason: string | null) => void,
    private readonly logger: Logger,
  ) {
    this.memoryLimit = Math.floor(totalmem() * options.memoryHighWatermark);
  }

  get active(): string | null {
    return this.reason;
  }

  start(): void {
    this.timer = setInterval(() => this.checkInBackground(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.requestTimer);
    this.requestTimer = undefined;
  }

  /**
   * Checks soon, throttled: for store write failures (ENOSPC), which can come in bursts and mean the disk may
   * have filled between two polls. A request inside the throttle window is served at its end.
   */
  requestCheck(): void {
    if (this.requestTimer !== undefined) return;
    const wait = this.lastRequestedCheck + (this.options.minRequestIntervalMs ?? 100) - Date.now();
    const run = () => {
      this.requestTimer = undefined;
      this.lastRequestedCheck = Date.now();
      this.checkInBackground();
    };
    if (wait <= 0) {
      run();
      return;
    }
    this.requestTimer = setTimeout(run, wait);
    this.requestTimer.unref();
  }

  check(): Promise<void> {
    const next = this.checks.then(() => this.evaluate());
    this.checks = next.catch(() => {});
    return next;
  }

  private checkInBackground(): void {
    this.check().catch((err: unknown) => this.logger.error({ err }, 'resource check failed'));
  }

  private async evaluate(): Promise<void> {
    const reasons: string[] = [];
    const rss = process.memoryUsage.rss();
    if (rss > this.memoryLimit) reasons.push('memory');
    try {
      const fs = await statfs(this.options.dataDir);
      const free = fs.bavail * fs.bsize;
      if (free < this.options.diskFreeLimitBytes) reasons.push('disk');
    } catch (err) {
      this.logger.debug({ err }, 'statfs failed');
    }
    const reason = reasons.length > 0 ? reasons.join(',') : null;
    if (reason === this.reason) return;
    this.reason = reason;
    if (reason)
      this.logger.warn({ reason, rss, memoryLimit: this.memoryLimit }, 'resource alarm: blocking publishers');
    else this.logger.info('resource alarm cleared: publishers unblocked');
    this.onChange(reason);
  }
}
