/**
 * `npm run torture -- --minutes N`: randomised kill -9 torture of EventterMQ. Cycles (start broker on one
 * data directory, publish/consume/purge/delete, kill -9 at a random moment) until the time is up, then
 * drains every queue and prints the exact ledger (see ledger.ts, verdict.ts). Progress goes to stderr.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isExternalBroker } from '../helpers/broker-under-test.js';
import { type RunContext, runCycle } from './cycle.js';
import { finalDrainAndVerify } from './final-drain.js';
import { Ledger } from './ledger.js';
import { parseOptions, USAGE } from './options.js';
import { printReport } from './report.js';
import { Rng } from './rng.js';
import { computeVerdict, emptyVerdict, retireSettled, type Verdict } from './verdict.js';

const MAX_CONSECUTIVE_CYCLE_ERRORS = 3;

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (isExternalBroker()) {
    process.stderr.write('torture spawns and kills its own broker: unset EVENTTER_TEST_AMQP_URL\n');
    return 2;
  }
  const opts = parsed;
  const started = Date.now();
  const deadline = started + opts.minutes * 60_000;
  const dataDir = await mkdtemp(join(tmpdir(), 'eventter-torture-'));
  const log = (line: string): void => {
    process.stderr.write(`[torture +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);
  };
  const ledger = new Ledger();
  let currentKill: (() => Promise<void>) | undefined;
  const ctx: RunContext = {
    ledger,
    rng: new Rng(opts.seed),
    dataDir,
    segmentMaxBytes: opts.segmentMaxBytes,
    brokerLog: { warnings: 0, kept: [] },
    log,
    setCurrentKill: (kill) => {
      currentKill = kill;
    },
    startMs: [],
  };
  process.on('unhandledRejection', (reason) => {
    ledger.c.runnerErrors += 1;
    log(`unhandled rejection (runner bug, carrying on): ${String((reason as Error)?.stack ?? reason)}`);
  });
  process.on('uncaughtException', (err) => {
    ledger.c.runnerErrors += 1;
    log(`uncaught exception (runner bug, carrying on): ${err.stack ?? err.message}`);
  });
  process.once('SIGINT', () => {
    log('interrupted: killing the broker');
    void (currentKill?.() ?? Promise.resolve()).finally(() => process.exit(130));
  });

  log(
    `seed ${opts.seed}, ${opts.minutes} min, segment-max-bytes ${opts.segmentMaxBytes}, data dir ${dataDir}`,
  );
  let aborted: string | undefined;
  let verdict: Verdict | undefined;
  let consecutiveErrors = 0;
  const retired = emptyVerdict();
  for (let cycle = 1; Date.now() < deadline; cycle++) {
    try {
      await runCycle(ctx, cycle, deadline - Date.now());
      consecutiveErrors = 0;
    } catch (err) {
      consecutiveErrors += 1;
      const message = (err as Error).message;
      log(`cycle ${cycle} failed: ${message}`);
      ledger.sample(`cycle ${cycle} failed: ${message.split('\n')[0]}`);
      if (consecutiveErrors >= MAX_CONSECUTIVE_CYCLE_ERRORS) {
        aborted = `${consecutiveErrors} cycles in a row failed, last: ${message.split('\n')[0]}`;
        break;
      }
    } finally {
      retireSettled(ledger, retired);
    }
  }
  if (aborted === undefined) {
    try {
      log('time is up: final drain');
      await finalDrainAndVerify(ctx);
      verdict = computeVerdict(ledger, retired);
    } catch (err) {
      aborted = `final drain failed: ${(err as Error).message}`;
      log(aborted);
    }
  }
  ledger.c.brokerWarnings = ctx.brokerLog.warnings;
  printReport({
    seed: opts.seed,
    minutes: opts.minutes,
    segmentMaxBytes: opts.segmentMaxBytes,
    dataDir,
    elapsedMs: Date.now() - started,
    aborted,
    ledger,
    verdict,
    brokerLog: ctx.brokerLog,
    startMs: ctx.startMs,
  });
  const failed = aborted !== undefined || (verdict?.failures.length ?? 0) > 0;
  // A failed run keeps its data directory: it is the evidence.
  if (opts.keepData || failed) log(`data dir kept: ${dataDir}`);
  else await rm(dataDir, { recursive: true, force: true });
  return failed ? 1 : 0;
}

process.exitCode = await main();
