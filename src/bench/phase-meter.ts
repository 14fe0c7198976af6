/**
 * Counters for one phase of a scenario, sampled a few times per second into rate-over-time series
 * (for the SVG chart) and shown live by the progress display. Hot loops only do `counter.n++`.
 */
import type { Progress } from './progress.js';

export interface Counter {
  readonly label: string;
  n: number;
}

/** A rate over time: [seconds since the scenario started, msg/s] pairs. */
export interface RateSeries {
  label: string;
  points: [number, number][];
}

export interface PhasePlan {
  /** Expected length, for the progress bar (time-bound phases). */
  durationMs?: number;
  /** Expected count of the first counter, for the progress bar (count-bound phases). */
  total?: number;
}

const SAMPLE_INTERVAL_MS = 250;
/** A shorter tail interval (at the end of a phase) gives a noisy rate: leave it out. */
const MIN_SAMPLE_SECONDS = 0.1;

export class PhaseMeter {
  readonly counters: Counter[] = [];
  readonly series: RateSeries[] = [];
  private readonly last: number[] = [];
  private lastAt: number;
  private readonly startedAt: number;
  private readonly timer: NodeJS.Timeout;
  private ended = false;

  constructor(
    readonly name: string,
    private readonly plan: PhasePlan,
    /** performance.now() when the scenario began: series share its time axis. */
    private readonly scenarioStart: number,
    private readonly progress: Progress,
  ) {
    this.startedAt = performance.now();
    this.lastAt = this.startedAt;
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  counter(label: string): Counter {
    const c: Counter = { label, n: 0 };
    this.counters.push(c);
    this.series.push({ label: `${this.name}: ${label}`, points: [] });
    this.last.push(0);
    return c;
  }

  get elapsedMs(): number {
    return performance.now() - this.startedAt;
  }

  /** Stops sampling (takes a last sample) and returns the series. */
  end(): RateSeries[] {
    if (this.ended) return this.series;
    this.ended = true;
    clearInterval(this.timer);
    this.sample(true);
    this.progress.clear();
    return this.series;
  }

  /** final: the phase ended; a short tail is still sampled when the phase has no point yet. */
  private sample(final = false): void {
    const now = performance.now();
    const dt = (now - this.lastAt) / 1000;
    const empty = this.series.length > 0 && this.series[0].points.length === 0;
    if (dt <= 0 || (dt < MIN_SAMPLE_SECONDS && !(final && empty))) return;
    const t = (now - this.scenarioStart) / 1000;
    const rates: string[] = [];
    for (let i = 0; i < this.counters.length; i++) {
      const c = this.counters[i];
      const rate = (c.n - this.last[i]) / dt;
      this.last[i] = c.n;
      this.series[i].points.push([t, rate]);
      rates.push(`${c.label} ${formatRate(rate)}/s`);
    }
    this.lastAt = now;
    let fraction: number | undefined;
    if (this.plan.total !== undefined && this.counters.length > 0) {
      fraction = this.counters[0].n / this.plan.total;
    } else if (this.plan.durationMs !== undefined) {
      fraction = (now - this.startedAt) / this.plan.durationMs;
    }
    this.progress.update(this.name, fraction, rates.join('  '));
  }
}

export function formatRate(rate: number): string {
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(2)}M`;
  if (rate >= 1e4) return `${(rate / 1e3).toFixed(0)}k`;
  if (rate >= 1e3) return `${(rate / 1e3).toFixed(1)}k`;
  return rate.toFixed(0);
}
