/**
 * `eventter stream tail NAME`: prints a stream's messages (see stream-tail.ts for the reading and stop rule).
 * Exit codes: 0 done (or stopped by a signal while following), 1 the broker refused or could not be reached,
 * 2 bad command line, 130 a read without --follow interrupted before it reached the end.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseAmqpUrl } from '../client/amqp-url.js';
import { AmqpClientError } from '../client/client-error.js';
import { runTail, type StreamFrom, TAIL_EXIT_INTERRUPTED, TAIL_EXIT_OK, type TailIo } from './stream-tail.js';

export const STREAM_EXIT_USAGE = 2;

const DEFAULT_URL = 'amqp://guest:guest@localhost:5672';
const DEFAULT_PREFETCH = 500;
const IDLE_MS = 3000;
const PROGRESS_MS = 2000;
/** Epoch values from here up are milliseconds: as seconds they would be past the year 5000. */
const EPOCH_MS_FROM = 100_000_000_000;

const FROM_FORMS =
  'first, last, next, an offset (120), a time (2024-05-01T12:00:00Z, @1714564800 epoch seconds or ' +
  '@1714564800000 ms) or an interval back from now (30s, 15m, 1h, 7D, 2M, 1Y)';

/** Parses --from into a stream start; throws InvalidArgumentError (a usage error) when malformed. */
export function parseFrom(value: string): StreamFrom {
  if (value === 'first' || value === 'last' || value === 'next') return { kind: value };
  if (/^\d+$/.test(value)) {
    const offset = Number(value);
    if (!Number.isSafeInteger(offset)) throw new InvalidArgumentError('the offset is too large.');
    return { kind: 'offset', offset };
  }
  if (/^@\d+$/.test(value)) {
    const n = Number(value.slice(1));
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('the epoch time is too large.');
    return { kind: 'time', ms: n >= EPOCH_MS_FROM ? n : n * 1000 };
  }
  const interval = /^(\d+)([YMDhms])$/.exec(value);
  if (interval !== null) {
    // RabbitMQ refuses a zero interval; say so here rather than as a broker error.
    if (Number(interval[1]) === 0) throw new InvalidArgumentError('an interval must be longer than 0.');
    return { kind: 'interval', text: value };
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw new InvalidArgumentError(`not a valid ISO-8601 time: ${value}.`);
    if (ms < 0) throw new InvalidArgumentError('times before 1970 are not supported.');
    return { kind: 'time', ms };
  }
  throw new InvalidArgumentError(`expected ${FROM_FORMS}.`);
}

function parsePositiveInt(max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > max) throw new InvalidArgumentError(`must be 1..${max}.`);
    return n;
  };
}

/** A value starting with "--" is the next option, not a value (same rule as the server's flags). */
function notAnOption(value: string): string {
  if (value.startsWith('--')) throw new InvalidArgumentError(`needs a value, but got the option ${value}.`);
  return value;
}

const TAIL_HELP = `
--from (default first):
  first            the oldest message the stream still holds
  last             the last message
  next             only messages published from now on
  120              the message at offset 120 (past the end: waits for it with --follow)
  2024-05-01T12:00:00Z, @1714564800, @1714564800000
                   the first message stored at or after that time (ISO-8601 without a zone is
                   local time; @ epoch in seconds, or in ms from 12 digits on)
  30s 15m 1h 7D 2M 1Y
                   an interval back from now (M = 30 days, Y = 365 days), as RabbitMQ reads it

Output: one line per message on stdout; with --json a JSON object per line:
  {"offset","timestamp","exchange","routingKey","properties","headers","body" | "bodyBase64"}
  "body" is the text when the body is UTF-8 without control characters other than \\n and \\t;
  "timestamp" is the message's timestamp property (null when the publisher set none). Without
  --json: offset, timestamp, exchange, routing key, body separated by tabs (\\n \\t \\\\ escaped,
  "base64:..." for binary bodies). Progress while catching up goes to stderr every 2 s.

Without --follow, tail stops at the last message the stream held when it started. A start given
as a time or an interval, and a --group member, also stop after ${IDLE_MS / 1000} s without a delivery.
With --follow it runs until Ctrl-C, SIGTERM or stdout closes.

Exit codes: 0 done (also Ctrl-C/SIGTERM with --follow), 1 the broker refused or could not be
reached (no such stream, not a stream, login refused, connection lost), 2 bad command line,
130 interrupted before the end without --follow.

Examples:
  eventter stream tail audit --from 1h
  eventter stream tail audit --from next --follow --json | jq .body
  EVENTTER_URL=amqp://reader:secret@mq:5672/prod eventter stream tail audit --group security -f
`;

/** Where the command reads and writes; the defaults are the process's. */
export interface StreamCommandIo {
  stdout?: TailIo['stdout'];
  stderr?: (text: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Replaces SIGINT/SIGTERM handling (in-process tests). */
  signal?: AbortSignal;
}

interface TailFlags {
  from: StreamFrom;
  follow?: boolean;
  group?: string;
  url?: string;
  vhost?: string;
  json?: boolean;
  prefetch: number;
}

/** Runs `eventter stream <argv...>`; resolves to the exit code. */
export async function runStreamCommand(argv: string[], io: StreamCommandIo = {}): Promise<number> {
  const stderr = io.stderr ?? ((t: string) => process.stderr.write(t));
  const stdout: TailIo['stdout'] =
    io.stdout ??
    ((text, written) =>
      process.stdout.write(text, (err) => {
        // EPIPE (reader gone) is handled by main.ts, which ends the process quietly.
        if (!err) written();
      }));
  const env = io.env ?? process.env;
  let exitCode = TAIL_EXIT_OK;

  const program = new Command('eventter stream')
    .description('read streams (x-queue-type: stream) of a running broker over AMQP 0-9-1')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .configureOutput({ writeOut: (t) => process.stdout.write(t), writeErr: stderr })
    .showHelpAfterError();

  program
    .command('tail')
    .description("print a stream's messages, from --from to the end (or on with --follow)")
    .argument('<name>', 'the stream (a queue declared with x-queue-type: stream)')
    .addOption(new Option('--from <where>', `where to start: ${FROM_FORMS}`).argParser(parseFrom))
    .option('-f, --follow', 'keep printing new messages until Ctrl-C / SIGTERM / stdout closes')
    .option(
      '--group <name>',
      'consume as a member of consumer group <name> (x-consumer-group); acks what it prints',
    )
    .option('--url <url>', `AMQP URL (env EVENTTER_URL, default ${DEFAULT_URL})`, notAnOption)
    .option('--vhost <vhost>', "virtual host (default: the URL's, else /)", notAnOption)
    .option('--json', 'print each message as a JSON object per line')
    .addOption(
      new Option('--prefetch <n>', 'unacknowledged messages in flight')
        .argParser(parsePositiveInt(65535))
        .default(DEFAULT_PREFETCH),
    )
    .addHelpText('after', TAIL_HELP)
    .action(async (name: string, flags: TailFlags) => {
      exitCode = await tail(name, flags);
    });

  const tail = async (name: string, flags: TailFlags): Promise<number> => {
    const rawUrl = flags.url ?? env.EVENTTER_URL ?? DEFAULT_URL;
    let url: string;
    let endpoint: string;
    let vhost: string;
    try {
      const parsed = parseAmqpUrl(rawUrl);
      vhost = flags.vhost ?? parsed.vhost;
      const u = new URL(rawUrl);
      u.pathname = `/${encodeURIComponent(vhost)}`;
      url = u.href;
      endpoint = `${parsed.host}:${parsed.port}`;
    } catch (err) {
      if (!(err instanceof AmqpClientError)) throw err;
      stderr(`eventter stream tail: ${err.message} (--url or EVENTTER_URL)\n`);
      return STREAM_EXIT_USAGE;
    }
    const { signal, release } = io.signal ? { signal: io.signal, release: () => {} } : stopOnSignals();
    try {
      return await runTail(
        {
          stream: name,
          vhost,
          url,
          endpoint,
          from: flags.from ?? { kind: 'first' },
          follow: flags.follow === true,
          group: flags.group,
          json: flags.json === true,
          prefetch: flags.prefetch,
          idleMs: IDLE_MS,
          progressMs: PROGRESS_MS,
        },
        { stdout, stderr, signal },
      );
    } finally {
      release();
    }
  };

  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return STREAM_EXIT_USAGE;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    return err.exitCode === 0 ? TAIL_EXIT_OK : STREAM_EXIT_USAGE;
  }
  return exitCode;
}

/** SIGINT/SIGTERM abort the read (it then closes cleanly); a second one exits at once. */
function stopOnSignals(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(TAIL_EXIT_INTERRUPTED);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
