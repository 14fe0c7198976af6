/** Runs the selected scenarios one after another against one broker and collects the report. */
import { randomBytes } from 'node:crypto';
import { type Connection, connect } from '../client/connection.js';
import type { BenchOptions } from './bench-options.js';
import { PhaseMeter, type RateSeries } from './phase-meter.js';
import type { Progress } from './progress.js';
import type { Figures, Scenario, ScenarioContext } from './scenario.js';

export interface ScenarioReport {
  id: string;
  title: string;
  ok: boolean;
  error?: string;
  elapsedMs: number;
  figures: Figures;
  notes: string[];
  series: RateSeries[];
}

export interface BenchReport {
  tool: 'eventter bench';
  startedAt: string;
  /** The broker URL without its password. */
  url: string;
  broker: { product?: string; version?: string; pid?: number };
  options: Omit<BenchOptions, 'url'>;
  scenarios: ScenarioReport[];
}

const CLOSE_GRACE_MS = 3000;

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable url)';
  }
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return undefined;
}

/** Opens one connection to learn the broker's name and version (and fail fast if it is unreachable). */
async function probeBroker(url: string): Promise<{ product?: string; version?: string }> {
  const conn = await connect({ url, connectionName: 'eventter bench probe' });
  try {
    return { product: text(conn.serverProperties.product), version: text(conn.serverProperties.version) };
  } finally {
    await conn.close();
  }
}

/** Hard bound on one scenario, so a stuck broker cannot hang the run. */
function watchdogMs(o: BenchOptions): number {
  return 3 * o.drainTimeoutMs + 4 * o.durationMs + 30_000;
}

async function runScenario(
  scenario: Scenario,
  options: BenchOptions,
  progress: Progress,
): Promise<ScenarioReport> {
  const runId = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const connections: Connection[] = [];
  const series: RateSeries[] = [];
  const meters: PhaseMeter[] = [];
  const notes: string[] = [];
  const start = performance.now();
  const ctx: ScenarioContext = {
    options,
    async connect(name, tuning = {}) {
      const conn = await connect({ ...tuning, url: options.url, connectionName: `eventter bench: ${name}` });
      connections.push(conn);
      return conn;
    },
    phase(name, plan) {
      const meter = new PhaseMeter(name, plan, start, progress);
      meters.push(meter);
      return meter;
    },
    name: (suffix) => `bench-${suffix}-${runId}`,
    note: (t) => notes.push(t),
  };
  progress.begin(scenario.id, scenario.title);
  let figures: Figures = {};
  let error: string | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  try {
    const limit = watchdogMs(options);
    const timedOut = new Promise<never>((_, reject) => {
      watchdog = setTimeout(() => {
        for (const c of connections) c.destroy('scenario watchdog fired');
        reject(new Error(`scenario did not finish within ${Math.round(limit / 1000)} s`));
      }, limit);
    });
    figures = await Promise.race([scenario.run(ctx), timedOut]);
  } catch (err) {
    error = (err as Error).message ?? String(err);
  } finally {
    clearTimeout(watchdog);
    for (const m of meters) series.push(...m.end());
    await Promise.all(
      connections.map(async (c) => {
        const timer = setTimeout(() => c.destroy(), CLOSE_GRACE_MS);
        await c.close().catch(() => {});
        clearTimeout(timer);
      }),
    );
  }
  progress.clear();
  return {
    id: scenario.id,
    title: scenario.title,
    ok: error === undefined,
    ...(error === undefined ? {} : { error }),
    elapsedMs: performance.now() - start,
    figures,
    notes,
    series,
  };
}

export async function runBench(
  options: BenchOptions,
  scenarios: readonly Scenario[],
  progress: Progress,
): Promise<BenchReport> {
  const { url, ...rest } = options;
  const broker = await probeBroker(url);
  const report: BenchReport = {
    tool: 'eventter bench',
    startedAt: new Date().toISOString(),
    url: redactUrl(url),
    broker: { ...broker, ...(options.brokerPid === undefined ? {} : { pid: options.brokerPid }) },
    options: rest,
    scenarios: [],
  };
  for (const s of scenarios) {
    const r = await runScenario(s, options, progress);
    if (!r.ok) progress.line(`  ${s.id} failed: ${r.error}`);
    report.scenarios.push(r);
  }
  return report;
}
