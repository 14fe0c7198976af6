#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { hashPassword } from '../core/password-hash.js';
import {
  type BrokerConfig,
  type CliOptionValues,
  CONFIG_FILE_ENV,
  CONFIG_FILE_FLAG,
  CONFIG_OPTIONS,
  ConfigError,
  formatDefault,
  loadConfig,
} from '../server/config.js';
import { createLogger } from '../server/logger.js';
import { startServer } from '../server/server.js';
import { StartupError } from '../server/startup-error.js';
import { PasswordsDiffer, PromptInterrupted, readNewPassword } from './read-password.js';

// Exit codes (README, docs/configuration.md): 0 stopped cleanly; 1 could not start (data directory in use
// or unusable, port taken) or failed while running; 2 bad configuration or command line.
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
const EXIT_INTERRUPTED = 130;
const MAX_PASSWORD_BYTES = 1024;

// Compiled to dist/src/cli/, so package.json sits three levels up (in the repo and in an installed package).
function packageVersion(): string {
  const text = readFileSync(new URL('../../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

function buildProgram(): Command {
  const program = new Command('eventter')
    .description('EventterMQ: a durable message broker: AMQP 0-9-1, MQTT, streams and an HTTP queue API')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError("(run 'eventter --help' or 'eventter <command> --help' for usage)")
    // Usage errors exit 2 like configuration errors; help and --version still exit 0. Inherited by commands.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE));

  const server = program
    .command('server')
    .description('run the broker (flags > EVENTTER_* environment > config file > defaults)')
    .helpOption('-h, --help', 'show help')
    .option(
      CONFIG_FILE_FLAG,
      `JSON config file (env ${CONFIG_FILE_ENV}, default none)`,
      rejectOptionAsValue(CONFIG_FILE_FLAG),
    );
  for (const opt of CONFIG_OPTIONS) {
    const where = `env ${opt.env}, default ${formatDefault(opt.path)}`;
    if (opt.kind === 'boolean') {
      const name = opt.flag.slice(2);
      // Defining both forms leaves the value undefined unless given, so env and file values still apply.
      server.option(`--${name}`, `${opt.description} (${where})`);
      server.option(`--no-${name}`, opt.offDescription ?? `turn ${name} off`);
    } else {
      server.option(opt.flag, `${opt.description} (${where})`, rejectOptionAsValue(opt.flag));
    }
  }
  server.action(runServer);

  // These parse their own arguments (`eventter bench --help`, `eventter users add --help`).
  delegate(
    program,
    'bench',
    'measure an AMQP 0-9-1 broker (EventterMQ or any other): throughput, latency, backlog',
    async (argv) => (await import('../bench/bench-command.js')).runBenchCommand(argv),
  );
  delegate(
    program,
    'policies',
    'manage policies of a running broker through its HTTP API: set, list, clear',
    async (argv) => (await import('./policies-command.js')).runPoliciesCommand(argv),
  );
  delegate(
    program,
    'definitions',
    "export or import the topology in RabbitMQ's definitions format (running broker, or --data-dir)",
    async (argv) => (await import('./definitions-command.js')).runDefinitionsCommand(argv),
  );
  delegate(
    program,
    'users',
    'manage users (running broker, or --data-dir): list, add, delete, passwd, tags',
    async (argv) => (await import('./users-command.js')).runUsersCommand(argv),
  );
  delegate(
    program,
    'permissions',
    'manage permissions and topic permissions (running broker, or --data-dir): list, set, clear, ...-topic',
    async (argv) => (await import('./permissions-command.js')).runPermissionsCommand(argv),
  );
  delegate(
    program,
    'vhosts',
    'manage virtual hosts (running broker, or --data-dir): list, add, delete',
    async (argv) => (await import('./vhosts-command.js')).runVhostsCommand(argv),
  );
  delegate(
    program,
    'stream',
    'read streams of a running broker: tail (print messages from an offset or a time)',
    async (argv) => (await import('./stream-command.js')).runStreamCommand(argv),
  );

  program
    .command('upgrade-data')
    .description(
      'convert a data directory written by EventterMQ 0.1.0 to the current format (broker stopped)',
    )
    .requiredOption(
      '--data-dir <path>',
      'the data directory to convert',
      rejectOptionAsValue('--data-dir <path>'),
    )
    .action(async (options: { dataDir: string }) => {
      const { runUpgradeData } = await import('./upgrade-data-command.js');
      process.exitCode = await runUpgradeData(options.dataDir);
    });

  program
    .command('hash-password')
    .description('print a passwordHash for the config file; reads the password from stdin if not given')
    .argument('[password]', 'the password (prefer stdin: arguments show up in the process list)')
    .action(printPasswordHash);

  return program;
}

/** A command that parses its own arguments (everything after its name) and resolves to the exit code. */
function delegate(
  program: Command,
  name: string,
  description: string,
  run: (argv: string[]) => Promise<number>,
): void {
  program
    .command(name)
    .description(description)
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .action(async () => {
      process.exitCode = await run(process.argv.slice(process.argv.indexOf(name) + 1));
    });
}

/**
 * Commander takes the word after a valued flag as its value even when it is the next flag, so
 * `--data-dir --amqp-port 5674` would store data in a directory called "--amqp-port". A value that starts
 * with "--" is refused as a usage error; a real one can still be written as ./--name.
 */
function rejectOptionAsValue(flag: string): (value: string) => string {
  const name = flag.split(' ')[0];
  return (value) => {
    if (value.startsWith('--'))
      throw new InvalidArgumentError(`${name} needs a value, but got the option ${value}.`);
    return value;
  };
}

async function runServer(options: CliOptionValues): Promise<void> {
  let config: BrokerConfig;
  try {
    config = loadConfig(options, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`eventter: ${err.message}\n`);
    process.exit(EXIT_USAGE);
  }
  const logger = createLogger(config.logLevel);
  try {
    await startServer(config, logger);
  } catch (err) {
    // A known cause (directory in use, port taken, ...) is one line for the operator; anything else is a
    // bug and keeps its stack trace in the log.
    if (err instanceof StartupError) process.stderr.write(`eventter: ${err.message}\n`);
    else logger.fatal({ err }, 'could not start');
    process.exit(EXIT_FAILURE);
  }
}

async function printPasswordHash(password: string | undefined): Promise<void> {
  let secret: string;
  try {
    secret = password ?? (await readNewPassword(MAX_PASSWORD_BYTES));
  } catch (err) {
    if (err instanceof PasswordsDiffer) {
      process.stderr.write(`eventter: ${err.message}\n`);
      process.exit(EXIT_USAGE);
    }
    if (!(err instanceof PromptInterrupted)) throw err;
    process.exit(EXIT_INTERRUPTED);
  }
  if (secret.length === 0 || Buffer.byteLength(secret) > MAX_PASSWORD_BYTES) {
    process.stderr.write(`eventter: the password must be 1..${MAX_PASSWORD_BYTES} bytes\n`);
    process.exit(EXIT_USAGE);
  }
  process.stdout.write(`${await hashPassword(secret)}\n`);
}

// `eventter ... | head` closes stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = buildProgram();
if (process.argv.length <= 2) {
  program.outputHelp();
} else {
  await program.parseAsync(process.argv);
}
