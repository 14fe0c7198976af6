/**
 * `eventter bench`: a load generator for any AMQP 0-9-1 broker, so EventterMQ and RabbitMQ are measured
 * with the same tool. Runs the chosen scenarios, shows progress on stderr, prints a summary table (or
 * one JSON document) and optionally a rate-over-time SVG.
 */
import { writeFile } from 'node:fs/promises';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { type BenchOptions, DEFAULT_BENCH_OPTIONS } from './bench-options.js';
import { runBench } from './bench-runner.js';
import { Progress, type ProgressSink } from './progress.js';
import { renderReportTable } from './report-table.js';
import { ALL_SCENARIOS, DEFAULT_SCENARIOS, findScenario } from './scenarios/index.js';
import { renderRateChart } from './svg-chart.js';

export const DEFAULT_BENCH_URL = 'amqp://guest:guest@127.0.0.1:5672';
const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

/** Where the command writes; defaults to the process streams (tests pass their own). */
export interface BenchIo {
  stdout: { write(text: string): unknown };
  stderr: ProgressSink;
}

function intOption(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer in [${min}, ${max}]`);
    }
    return n;
  };
}

function secondsOption(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected seconds in [${min}, ${max}]`);
    return Math.round(n * 1000);
  };
}

function scenarioList(value: string): string[] {
  const ids = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (ids.length === 0) throw new InvalidArgumentError('no scenario given');
  for (const id of ids) {
    if (id !== 'all' && findScenario(id) === undefined) {
      throw new InvalidArgumentError(
        `unknown scenario "${id}" (known: ${ALL_SCENARIOS.map((s) => s.id).join(', ')})`,
      );
    }
  }
  return ids.includes('all') ? DEFAULT_SCENARIOS.map((s) => s.id) : ids;
}

interface ParsedFlags {
  url: string;
  scenarios: string[];
  duration: number;
  messages?: number;
  size?: number;
  backlog: number;
  rate: number;
  confirmWindow: number;
  inFlight: number;
  prefetch: number;
  connections: number;
  drainTimeout: number;
  brokerPid?: number;
  json?: string | true;
  svg?: string;
  quiet?: boolean;
}

function buildCommand(io: BenchIo): Command {
  const d = DEFAULT_BENCH_OPTIONS;
  const ids = ALL_SCENARIOS.map(
    (s) => `  ${s.id.padEnd(11)} ${s.title}${DEFAULT_SCENARIOS.includes(s) ? '' : ' (only when named)'}`,
  ).join('\n');
  return new Command('eventter bench')
    .description('measure an AMQP 0-9-1 broker (EventterMQ, RabbitMQ, ...) with the same scenarios')
    .helpOption('-h, --help', 'show help')
    .option('--url <url>', 'broker to measure', process.env.EVENTTER_BENCH_URL ?? DEFAULT_BENCH_URL)
    .option(
      '--scenarios <list>',
      'comma-separated scenario ids, or "all" (every scenario not marked "only when named")',
      scenarioList,
      DEFAULT_SCENARIOS.map((s) => s.id),
    )
    .addOption(
      new Option('--duration <seconds>', 'length of each time-bound phase')
        .argParser(secondsOption(0.1, 3600))
        .default(d.durationMs, `${d.durationMs / 1000}`),
    )
    .option('--messages <n>', 'bind each phase by a message count instead of time', intOption(1, 1e9))
    .option(
      '--size <bytes>',
      'body size for scenarios whose subject is not size',
      intOption(0, 128 * 1024 * 1024),
    )
    .option('--backlog <n>', 'messages the backlog scenario fills', intOption(1, 1e9), d.backlogMessages)
    .option('--rate <msg/s>', 'publish rate of the fixed-rate latency scenario', intOption(1, 1e7), d.rate)
    .option('--confirm-window <n>', 'unconfirmed publishes per publisher', intOption(1, 1e6), d.confirmWindow)
    .option(
      '--in-flight <n>',
      'messages a publisher may be ahead of its consumers',
      intOption(1, 1e7),
      d.inFlight,
    )
    .option('--prefetch <n>', 'prefetch of acking consumers', intOption(1, 65535), d.prefetch)
    .option(
      '--connections <n>',
      'connections the connections scenario holds open',
      intOption(1, 1_000_000),
      d.connections,
    )
    .addOption(
      new Option('--drain-timeout <seconds>', 'upper bound on each drain and on the backlog fill')
        .argParser(secondsOption(1, 86400))
        .default(d.drainTimeoutMs, `${d.drainTimeoutMs / 1000}`),
    )
    .option(
      '--broker-pid <pid>',
      'pid of a broker on this machine, to report its memory',
      intOption(1, 2 ** 31),
    )
    .option('--json [file]', 'write one JSON document with every figure (to stdout when no file is given)')
    .option('--svg <file>', 'write a rate-over-time chart')
    .option('-q, --quiet', 'no progress output on stderr')
    .addHelpText('after', `\nScenarios:\n${ids}\n`)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
}

function toOptions(f: ParsedFlags): BenchOptions {
  return {
    url: f.url,
    scenarios: f.scenarios,
    durationMs: f.duration,
    ...(f.messages === undefined ? {} : { messages: f.messages }),
    ...(f.size === undefined ? {} : { size: f.size }),
    backlogMessages: f.backlog,
    drainTimeoutMs: f.drainTimeout,
    rate: f.rate,
    confirmWindow: f.confirmWindow,
    inFlight: f.inFlight,
    prefetch: f.prefetch,
    connections: f.connections,
    ...(f.brokerPid === undefined ? {} : { brokerPid: f.brokerPid }),
  };
}

/**
 * Runs `eventter bench`. argv holds the arguments after the word "bench" (e.g. process.argv.slice(3)).
 * Resolves with the exit code: 0 all scenarios ran, 1 a scenario or the connection failed, 2 bad usage.
 */
export async function runBenchCommand(
  argv: string[],
  io: BenchIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const command = buildCommand(io);
  let flags: ParsedFlags;
  try {
    command.parse(argv, { from: 'user' });
    flags = command.opts<ParsedFlags>();
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version'
        ? EXIT_OK
        : EXIT_USAGE;
    }
    throw err;
  }
  const options = toOptions(flags);
  const scenarios = options.scenarios.map((id) => findScenario(id)).filter((s) => s !== undefined);
  const progress = new Progress(flags.quiet === true ? null : io.stderr);
  let report: Awaited<ReturnType<typeof runBench>>;
  try {
    report = await runBench(options, scenarios, progress);
  } catch (err) {
    io.stderr.write(
      `eventter bench: cannot reach ${options.url.replace(/:[^:@/]*@/, ':***@')}: ${(err as Error).message}\n`,
    );
    return EXIT_FAILED;
  }
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (flags.json === true) io.stdout.write(json);
  else {
    if (typeof flags.json === 'string') await writeFile(flags.json, json);
    io.stdout.write(renderReportTable(report));
  }
  if (flags.svg !== undefined) await writeFile(flags.svg, renderRateChart(report));
  return report.scenarios.every((s) => s.ok) ? EXIT_OK : EXIT_FAILED;
}
