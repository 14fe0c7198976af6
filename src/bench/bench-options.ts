/** Everything a bench run can be told, with the defaults `eventter bench` uses. */
export interface BenchOptions {
  url: string;
  /** Scenario ids to run, in order. */
  scenarios: string[];
  /** Length of each time-bound phase. */
  durationMs: number;
  /** When set, phases are bound by this message count instead of by time. */
  messages?: number;
  /** Body size override for scenarios whose size is not their subject. */
  size?: number;
  /** Messages the backlog scenario fills before draining. */
  backlogMessages: number;
  /** Upper bound on the backlog fill and on every drain; the scenario reports what it reached. */
  drainTimeoutMs: number;
  /** Publish rate of the fixed-rate latency scenario (msg/s). */
  rate: number;
  /** Unconfirmed publishes allowed per publisher in confirm mode. */
  confirmWindow: number;
  /** Messages allowed between a publisher and its consumer(s) before the publisher pauses. */
  inFlight: number;
  /** basic.qos prefetch of acking consumers. */
  prefetch: number;
  /** Connections the connections scenario holds open at once. */
  connections: number;
  /** Pid of a broker on this machine whose memory (VmRSS / VmHWM) is reported. */
  brokerPid?: number;
}

export const DEFAULT_BENCH_OPTIONS: Omit<BenchOptions, 'url' | 'scenarios'> = {
  durationMs: 5000,
  backlogMessages: 1_000_000,
  drainTimeoutMs: 120_000,
  rate: 1000,
  confirmWindow: 1000,
  inFlight: 10_000,
  prefetch: 1000,
  connections: 10_000,
};
