/**
 * Starts the broker under torture on the run's data directory (via the shared test helper) and watches
 * its log: warnings and errors are counted and a few kept as samples, and an exit nobody asked for is
 * noticed, so the report can show what the broker complained about during recovery.
 */
import { type BrokerUnderTest, startBroker } from '../helpers/broker-under-test.js';

const KEPT_LINES = 12;

export interface TortureBroker {
  broker: BrokerUnderTest;
  startMs: number;
  /** True once the process exited without kill9()/stop() from us. */
  crashed: () => boolean;
  kill9(): Promise<void>;
  stop(): Promise<number | null>;
}

export interface BrokerLogSink {
  warnings: number;
  kept: string[];
}

export async function startTortureBroker(
  dataDir: string,
  segmentMaxBytes: number,
  sink: BrokerLogSink,
): Promise<TortureBroker> {
  const t0 = Date.now();
  const broker = await startBroker({
    dataDir,
    extraArgs: ['--segment-max-bytes', String(segmentMaxBytes)],
  });
  const startMs = Date.now() - t0;
  let expectingExit = false;
  let crashed = false;
  const child = broker.process;
  child?.once('exit', (code, signal) => {
    if (expectingExit) return;
    crashed = true;
    keep(sink, `broker exited on its own: code ${code} signal ${signal}`);
  });
  let pending = '';
  child?.stdout?.on('data', (chunk: string | Buffer) => {
    pending += chunk.toString();
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      watchLine(sink, pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      nl = pending.indexOf('\n');
    }
  });
  child?.stderr?.on('data', (chunk: string | Buffer) => {
    const text = chunk.toString().trim();
    if (text.length > 0) keep(sink, `[stderr] ${text.slice(0, 300)}`);
  });
  return {
    broker,
    startMs,
    crashed: () => crashed,
    async kill9() {
      expectingExit = true;
      await broker.kill9();
    },
    async stop() {
      expectingExit = true;
      return broker.stop();
    },
  };
}

function watchLine(sink: BrokerLogSink, line: string): void {
  let level = 0;
  try {
    const parsed = JSON.parse(line) as { level?: unknown };
    if (typeof parsed.level === 'number') level = parsed.level;
  } catch {
    return;
  }
  if (level >= 40) keep(sink, line.slice(0, 400));
}

function keep(sink: BrokerLogSink, line: string): void {
  sink.warnings += 1;
  if (sink.kept.length < KEPT_LINES) sink.kept.push(line);
}
