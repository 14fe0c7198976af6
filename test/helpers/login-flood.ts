/**
 * A stream of failed logins, run as its own process so the flood does not share an event loop with the
 * client whose latency a test measures:
 *   node dist/test/helpers/login-flood.js <port> <attempts> <parallel> <user>
 * Each attempt: TCP connect, protocol header, start-ok with a password never used before, then the server's
 * answer. Prints one JSON line: how many attempts got connection.close with each reply code, how many saw
 * the socket closed without one, and the milliseconds it all took.
 */
import { performance } from 'node:perf_hooks';
import { methods, PROTOCOL_HEADER, RawAmqpClient } from './raw-amqp-client.js';

export interface FloodReport {
  attempts: number;
  byReplyCode: Record<string, number>;
  droppedWithoutClose: number;
  errors: number;
  ms: number;
}

async function attempt(port: number, user: string, password: string): Promise<number | 'dropped'> {
  const raw = await RawAmqpClient.connect(port);
  try {
    await raw.write(PROTOCOL_HEADER);
    await raw.expectMethod(10, 10, 30_000);
    await raw.write(methods.startOk(user, password));
    const close = await raw.readConnectionClose(60_000);
    return close === undefined ? 'dropped' : close.replyCode;
  } finally {
    raw.destroy();
  }
}

export async function flood(
  port: number,
  attempts: number,
  parallel: number,
  user: string,
): Promise<FloodReport> {
  const report: FloodReport = { attempts, byReplyCode: {}, droppedWithoutClose: 0, errors: 0, ms: 0 };
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < attempts) {
      const i = next++;
      try {
        const outcome = await attempt(port, user, `wrong-${i}`);
        if (outcome === 'dropped') report.droppedWithoutClose++;
        else report.byReplyCode[outcome] = (report.byReplyCode[outcome] ?? 0) + 1;
      } catch {
        report.errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  report.ms = Math.round(performance.now() - started);
  return report;
}

if (process.argv[1]?.endsWith('login-flood.js')) {
  const [port, attempts, parallel, user] = process.argv.slice(2);
  flood(Number(port), Number(attempts), Number(parallel), user).then(
    (report) => process.stdout.write(`${JSON.stringify(report)}\n`),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
