#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
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
import { hashPassword } from '../server/password-hash.js';
import { startServer } from '../server/server.js';

const EXIT_USAGE = 2;
const MAX_PASSWORD_BYTES = 1024;

// Compiled to dist/src/cli/, so package.json sits three levels up (in the repo and in an installed package).
function packageVersion(): string {
  const text = readFileSync(new URL('../../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

function buildProgram(): Command {
  const program = new Command('eventter')
    .description('EventterMQ: a durable message broker that speaks AMQP 0-9-1')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError();

  const server = program
    .command('server')
    .description('run the broker (flags > EVENTTER_* environment > config file > defaults)')
    .helpOption('-h, --help', 'show help')
    .option(CONFIG_FILE_FLAG, `JSON config file (env ${CONFIG_FILE_ENV}, default none)`);
  for (const opt of CONFIG_OPTIONS) {
    const where = `env ${opt.env}, default ${formatDefault(opt.path)}`;
    if (opt.kind === 'boolean') {
      const name = opt.flag.slice(2);
      // Defining both forms leaves the value undefined unless given, so env and file values still apply.
      server.option(`--${name}`, `${opt.description} (${where})`);
      server.option(`--no-${name}`, opt.offDescription ?? `turn ${name} off`);
    } else {
      server.option(opt.flag, `${opt.description} (${where})`);
    }
  }
  server.action(runServer);

  // The load generator parses its own options (`eventter bench --help`); commander only routes to it.
  program
    .command('bench')
    .description('measure an AMQP 0-9-1 broker (EventterMQ or any other): throughput, latency, backlog')
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .action(async () => {
      const { runBenchCommand } = await import('../bench/bench-command.js');
      process.exitCode = await runBenchCommand(process.argv.slice(process.argv.indexOf('bench') + 1));
    });

  // Like bench: the subcommand parses its own arguments (`eventter policies --help`).
  program
    .command('policies')
    .description('manage policies of a running broker through its HTTP API: set, list, clear')
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .action(async () => {
      const { runPoliciesCommand } = await import('./policies-command.js');
      process.exitCode = await runPoliciesCommand(process.argv.slice(process.argv.indexOf('policies') + 1));
    });

  program
    .command('hash-password')
    .description('print a passwordHash for the config file; reads the password from stdin if not given')
    .argument('[password]', 'the password (prefer stdin: arguments show up in the process list)')
    .action(printPasswordHash);

  return program;
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
    logger.fatal({ err }, 'could not start');
    process.exit(1);
  }
}

async function printPasswordHash(password: string | undefined): Promise<void> {
  const secret = password ?? (await readPasswordFromStdin());
  if (secret.length === 0 || Buffer.byteLength(secret) > MAX_PASSWORD_BYTES) {
    process.stderr.write(`eventter: the password must be 1..${MAX_PASSWORD_BYTES} bytes\n`);
    process.exit(EXIT_USAGE);
  }
  process.stdout.write(`${await hashPassword(secret)}\n`);
}

async function readPasswordFromStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password: ');
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    total += chunk.length;
    if (chunk.includes(0x0a) || total > MAX_PASSWORD_BYTES) break;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const newline = text.indexOf('\n');
  return (newline >= 0 ? text.slice(0, newline) : text).replace(/\r$/, '');
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
