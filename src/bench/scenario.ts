/** What a benchmark scenario is, what it gets to work with, and what it hands back. */
import type { Connection, ConnectOptions } from '../client/connection.js';
import type { BenchOptions } from './bench-options.js';
import type { PhaseMeter, PhasePlan, RateSeries } from './phase-meter.js';

/**
 * Figures by name; the name carries the unit (MsgPerSec, MiBPerSec, Ms, MiB, Bytes) so a JSON reader
 * needs no schema.
 */
export type Figures = Record<string, number>;

/** Client settings a scenario may choose for its connections (the URL and name come from the runner). */
export type ConnectionTuning = Omit<ConnectOptions, 'url' | 'connectionName'>;

export interface ScenarioResult {
  figures: Figures;
  series: RateSeries[];
  notes: string[];
}

export interface ScenarioContext {
  readonly options: BenchOptions;
  /**
   * Opens a connection to options.url that is closed when the scenario ends (and destroyed if the
   * scenario overruns its time limit). `tuning` adds client settings such as a heartbeat.
   */
  connect(name: string, tuning?: ConnectionTuning): Promise<Connection>;
  /** Starts a measured phase; call end() on it. Its series land in the result. */
  phase(name: string, plan: PhasePlan): PhaseMeter;
  /** A queue or exchange name unique to this run. */
  name(suffix: string): string;
  /** A remark printed under the table and kept in the JSON (e.g. a phase hit its time limit). */
  note(text: string): void;
}

export interface Scenario {
  id: string;
  title: string;
  run(ctx: ScenarioContext): Promise<Figures>;
}
