/**
 * `npm run bench`: without --url, starts an EventterMQ server of this build on ephemeral ports with a
 * temporary data directory, runs the default scenarios against it (reporting its memory too), prints
 * the table and stops the server. With --url, measures that broker instead. Other flags go to
 * `eventter bench` unchanged (see --help).
 */
import { runBenchCommand } from '../src/bench/bench-command.js';
import { startLocalBroker } from '../src/bench/local-broker.js';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const wantsHelp = args.includes('-h') || args.includes('--help');
  if (wantsHelp || args.some((a) => a === '--url' || a.startsWith('--url='))) return runBenchCommand(args);
  const broker = await startLocalBroker();
  process.stderr.write(
    `started EventterMQ (pid ${broker.pid}) at ${broker.url.replace(/:[^:@/]*@/, ':***@')}\n`,
  );
  const stop = (): void => {
    void broker.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  try {
    const extra = args.some((a) => a.startsWith('--broker-pid')) ? [] : ['--broker-pid', String(broker.pid)];
    return await runBenchCommand(['--url', broker.url, ...extra, ...args]);
  } finally {
    process.off('SIGINT', stop);
    await broker.stop();
  }
}

process.exitCode = await main();
