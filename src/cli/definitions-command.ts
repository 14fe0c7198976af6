/**
 * `eventter definitions export|import`: a broker's topology in RabbitMQ's definitions format, through the
 * management HTTP API of a running broker or, with --data-dir, straight from a stopped broker's data
 * directory (under its lock: refused while a broker runs on it).
 * Exit codes: 0 done, 1 refused (bad file, broker refused or unreachable, directory in use), 2 bad command line.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { Command, Option } from 'commander';
import { pino } from 'pino';
import { LOCAL_DATA_DIR } from '../core/audit.js';
import { Broker, defaultBrokerOptions } from '../core/broker.js';
import { DEFINITIONS_MAX_BYTES, DefinitionsError, parseDefinitionsText } from '../core/definitions-format.js';
import type { ImportCounts, ImportReport } from '../core/definitions-import.js';
import { createLogger } from '../server/logger.js';
import { DataDirFormatError } from '../store/data-dir-format.js';
import { DataDirInUseError } from '../store/data-dir-lock.js';
import {
  type ActionRunner,
  addConnectionOptions,
  CommandFailed,
  type CommandIo,
  connectionFrom,
  EXIT_FAILED,
  EXIT_USAGE,
  ManagementClient,
  type ResolvedIo,
  resolveIo,
  runProgram,
} from './management-client.js';

/** An export can outgrow the import bound a little (pretty-printing, many small items); still bounded. */
const MAX_EXPORT_BYTES = 4 * DEFINITIONS_MAX_BYTES;
const HTTP_TIMEOUT_MS = 120_000;

interface Target {
  vhost?: string;
  dataDir?: string;
}

const definitionsPath = (vhost: string | undefined) =>
  vhost === undefined ? 'api/definitions' : `api/definitions/${encodeURIComponent(vhost)}`;

/** Opens a stopped broker's data directory; the lock refuses it while a broker runs there. */
async function withDataDir<T>(dataDir: string, use: (broker: Broker) => Promise<T>): Promise<T> {
  const found = await stat(dataDir).catch(() => undefined);
  if (!found?.isDirectory()) {
    throw new CommandFailed(
      `no directory ${dataDir} (for a new data directory, create it first)`,
      EXIT_FAILED,
    );
  }
  let broker: Broker;
  try {
    broker = await Broker.open(
      // Neither guest nor vhosts seeded (the broker's own first start does that, with its configuration);
      // the import's audit event waits in the outbox for the broker's next start.
      { ...defaultBrokerOptions, dataDir, vhosts: [], createDefaultUser: undefined, offlineAdmin: true },
      createLogger('warn', pino.destination({ dest: 2, sync: true })),
    );
  } catch (err) {
    if (err instanceof DataDirInUseError) {
      throw new CommandFailed(
        `${err.message}; or use its HTTP API (--url) instead of --data-dir`,
        EXIT_FAILED,
      );
    }
    if (err instanceof DataDirFormatError) throw new CommandFailed(err.message, EXIT_FAILED);
    throw err;
  }
  try {
    return await use(broker);
  } finally {
    await broker.close();
  }
}

async function readDefinitionsFile(file: string): Promise<string> {
  if (file !== '-') {
    const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
      throw new CommandFailed(`cannot read ${file}: ${err.code ?? err.message}`, EXIT_FAILED);
    });
    if (info.size > DEFINITIONS_MAX_BYTES)
      throw new CommandFailed(
        `${file} is larger than ${DEFINITIONS_MAX_BYTES / 1024 / 1024} MiB`,
        EXIT_FAILED,
      );
  }
  const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  return text;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > DEFINITIONS_MAX_BYTES)
      throw new CommandFailed(
        `the input is larger than ${DEFINITIONS_MAX_BYTES / 1024 / 1024} MiB`,
        EXIT_FAILED,
      );
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** "3 created, 1 updated, 2 unchanged" per kind of item, for what an import did. */
export function formatImportReport(report: ImportReport): string {
  const lines = Object.entries(report.counts)
    .filter(([, c]: [string, ImportCounts]) => c.created + c.updated + c.unchanged > 0)
    .map(
      ([category, c]) =>
        `  ${category.replaceAll('_', ' ')}: ${c.created} created, ${c.updated} updated, ${c.unchanged} unchanged`,
    );
  return lines.length === 0 ? '  (the file defines nothing)\n' : `${lines.join('\n')}\n`;
}

/** Users an export carries without a password hash (config-file users): the new broker needs passwords set. */
function passwordlessUsers(definitions: unknown): string[] {
  const users = (definitions as { users?: unknown }).users;
  if (!Array.isArray(users)) return [];
  return users
    .filter(
      (u) =>
        typeof u === 'object' && u !== null && (u as { password_hash?: unknown }).password_hash === undefined,
    )
    .map((u) => String((u as { name?: unknown }).name));
}

function buildProgram(io: ResolvedIo, run: ActionRunner): Command {
  const program = new Command('eventter definitions')
    .description(
      "export and import a broker's topology (vhosts, users, permissions, limits, policies, exchanges, queues, bindings) in RabbitMQ's definitions format",
    )
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError()
    .addHelpText(
      'after',
      `
Examples:
  eventter definitions export defs.json                 the running broker's definitions (HTTP API)
  eventter definitions export --vhost shop shop.json    one vhost's queues, exchanges, bindings, policies
  eventter definitions import rabbitmq-export.json      apply a RabbitMQ export to the running broker
  eventter definitions import --data-dir ./data defs.json   apply to a stopped broker's data directory

An import reads and checks the whole file (and it against the broker) before changing anything: a
refused file changes nothing, and every problem is listed. Importing the same file again changes nothing.
Exit codes: 0 done, 1 refused or failed, 2 bad command line. See docs/definitions.md.`,
    );
  addConnectionOptions(program);
  const connection = () => connectionFrom(program, io.env);
  const targetOptions = (command: Command) =>
    command
      .addOption(new Option('--vhost <vhost>', "one vhost's part only (RabbitMQ's per-vhost definitions)"))
      .addOption(
        new Option(
          '--data-dir <dir>',
          "work on a stopped broker's data directory instead of a running broker's HTTP API",
        ),
      );
  const client = () =>
    new ManagementClient(connection(), io.fetch, {
      maxResponseBytes: MAX_EXPORT_BYTES,
      timeoutMs: HTTP_TIMEOUT_MS,
    });
  const checkTarget = (opts: Target) => {
    const flags = program.opts<{ url?: string }>();
    if (opts.dataDir !== undefined && flags.url !== undefined)
      throw new CommandFailed('give --url or --data-dir, not both', EXIT_USAGE);
  };

  targetOptions(
    program
      .command('export')
      .description('write the definitions as JSON to FILE, or to stdout')
      .argument('[file]', 'where to write (default: stdout)'),
  ).action((file: string | undefined, opts: Target) =>
    run(async () => {
      checkTarget(opts);
      let definitions: unknown;
      if (opts.dataDir !== undefined) {
        definitions = await withDataDir(opts.dataDir, async (broker) => {
          const result = broker.definitions.export(opts.vhost);
          if (!result) throw new CommandFailed(`no vhost '${opts.vhost}' in ${opts.dataDir}`, EXIT_FAILED);
          return result.definitions;
        });
      } else {
        definitions = (await client().request('GET', definitionsPath(opts.vhost))).json;
      }
      const text = `${JSON.stringify(definitions, null, 2)}\n`;
      if (file === undefined || file === '-') io.stdout(text);
      else {
        // It holds password hashes: readable by the owner only.
        await writeFile(file, text, { mode: 0o600 });
        io.stderr(`exported definitions to ${file}\n`);
      }
      const passwordless = passwordlessUsers(definitions);
      if (passwordless.length > 0) {
        io.stderr(
          `note: exported without a password hash (config-file users, or users without a password): ${passwordless.join(', ')}\n`,
        );
      }
    }),
  );

  targetOptions(
    program
      .command('import')
      .description(
        'apply a definitions file (RabbitMQ or EventterMQ): all of it after checking all of it, or nothing',
      )
      .argument('<file>', 'the definitions JSON file ("-" reads stdin)'),
  ).action((file: string, opts: Target) =>
    run(async () => {
      checkTarget(opts);
      const text = await readDefinitionsFile(file);
      try {
        const parsed = parseDefinitionsText(text);
        if (opts.dataDir === undefined) {
          await client().request('POST', definitionsPath(opts.vhost), parsed);
          io.stdout(`imported definitions from ${file}\n`);
          return;
        }
        const report = await withDataDir(opts.dataDir, async (broker) => {
          if (opts.vhost !== undefined && !broker.definitions.hasVhost(opts.vhost))
            throw new CommandFailed(`no vhost '${opts.vhost}' in ${opts.dataDir}`, EXIT_FAILED);
          return broker.definitions.import(parsed, opts.vhost, {
            user: userInfo().username,
            from: LOCAL_DATA_DIR,
          });
        });
        for (const warning of report.warnings) io.stderr(`warning: ${warning}\n`);
        io.stdout(`imported definitions from ${file}:\n${formatImportReport(report)}`);
      } catch (err) {
        if (err instanceof DefinitionsError) throw new CommandFailed(err.message, EXIT_FAILED);
        throw err;
      }
    }),
  );

  return program;
}

/** Runs `eventter definitions <argv...>`; resolves to the process exit code. Never throws for user errors. */
export function runDefinitionsCommand(argv: string[], io: CommandIo = {}): Promise<number> {
  const resolved = resolveIo(io);
  return runProgram('eventter definitions', argv, resolved, (run) => buildProgram(resolved, run));
}
