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
}

/**
 * Watches memory and disk and raises an alarm when either limit is crossed, so adapters can stop reading from
 * publishers (AMQP connection.blocked) before the broker runs out of either. Polled once a second: cheap, and
 * far below the rate at which a backlog can grow past a sane limit.
 */
export class ResourceAlarm {
  private timer: NodeJS.Timeout | undefined;
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
    this.timer = setInterval(() => void this.check(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async check(): Promise<void> {
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
