/**
 * Live progress on stderr: a redrawn bar on a TTY, a plain line every few seconds otherwise, nothing
 * when quiet.
 */
const BAR_WIDTH = 24;
const PLAIN_LINE_INTERVAL_MS = 5000;

export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

export class Progress {
  private scenario = '';
  private drawn = false;
  private lastPlainAt = 0;

  constructor(
    private readonly sink: ProgressSink | null,
    private readonly tty = sink?.isTTY === true,
  ) {}

  begin(scenario: string, title: string): void {
    this.scenario = scenario;
    this.line(`[${scenario}] ${title}`);
  }

  /** fraction: 0..1 of the phase done, undefined when unknown. */
  update(phase: string, fraction: number | undefined, rates: string): void {
    if (this.sink === null) return;
    const pct = fraction === undefined ? '' : `${Math.round(Math.min(1, fraction) * 100)}%`.padStart(4);
    if (this.tty) {
      let bar = '';
      if (fraction !== undefined) {
        const full = Math.round(Math.min(1, Math.max(0, fraction)) * BAR_WIDTH);
        bar = `${'█'.repeat(full)}${'░'.repeat(BAR_WIDTH - full)} `;
      }
      this.sink.write(`\r\x1b[K  ${this.scenario} ${phase} ${bar}${pct}  ${rates}`);
      this.drawn = true;
      return;
    }
    const now = performance.now();
    if (now - this.lastPlainAt < PLAIN_LINE_INTERVAL_MS) return;
    this.lastPlainAt = now;
    this.sink.write(`  ${this.scenario} ${phase}${pct === '' ? '' : ` ${pct.trim()}`}: ${rates}\n`);
  }

  /** Removes the bar (before other output). */
  clear(): void {
    if (this.sink !== null && this.drawn) this.sink.write('\r\x1b[K');
    this.drawn = false;
  }

  line(text: string): void {
    if (this.sink === null) return;
    this.clear();
    this.sink.write(`${text}\n`);
  }
}
