/**
 * The frame of `eventter users`, `eventter permissions` and `eventter vhosts`: one program per command with
 * the connection flags of `eventter policies` (a running broker, over its management HTTP API) or
 * `--data-dir DIR` (a stopped broker's data directory), table or `--json` output, and new passwords read
 * without echo at a terminal or from stdin.
 */
import { Command, InvalidArgumentError } from 'commander';
import { type AdminBackend, HttpAdminBackend } from './admin-backend.js';
import {
  type ActionRunner,
  addConnectionOptions,
  CommandFailed,
  type CommandIo,
  connectionFrom,
  EXIT_INTERRUPTED,
  EXIT_USAGE,
  formatTable,
  ManagementClient,
  type ResolvedIo,
  resolveIo,
  runProgram,
} from './management-client.js';
import { OfflineAdminBackend } from './offline-admin.js';
import { PasswordsDiffer, PromptInterrupted, readNewPassword } from './read-password.js';

/** As for `eventter hash-password`. */
export const MAX_PASSWORD_BYTES = 1024;

export interface AdminCommandIo extends CommandIo {
  /** Reads a new password (default: without echo at a terminal, asked twice; else stdin's first line). */
  readPassword?: (label: string) => Promise<string>;
  /** The account named as the author of changes made with --data-dir (default: the OS user). */
  osUser?: string;
}

export interface AdminContext {
  readonly io: ResolvedIo;
  /** Runs an action with the backend the flags choose; closes it afterwards. */
  run(action: (backend: AdminBackend) => Promise<void>): Promise<void>;
  /** Prints rows as JSON (--json) or as a table; `empty` when there are none. */
  print<T>(rows: T[], json: boolean | undefined, table: Table<T>): void;
  readPassword(label: string): Promise<string>;
}

export interface Table<T> {
  header: string[];
  cells(row: T): string[];
  empty: string;
}

export const MODES_HELP = `
A running broker is reached through its management HTTP API (--url, --user, --password, or
EVENTTER_HTTP_URL, EVENTTER_USER, EVENTTER_PASSWORD; default http://127.0.0.1:15672 as guest/guest);
the user needs the administrator tag. With --data-dir DIR the command works on a stopped broker's data
directory instead (it refuses while a broker runs on it); config-file users are not seen there.
Every change is recorded in the audit trail (docs/access-control.md).

Exit codes: 0 done, 1 refused (by the broker, or the data directory is in use or unusable),
2 bad command line, 130 interrupted at the password prompt.
`;

/** A value that starts with "--" is the next option, not a value. */
export function notAnOption(value: string): string {
  if (value.startsWith('--')) throw new InvalidArgumentError(`needs a value, but got the option ${value}.`);
  return value;
}

/** Tags as arguments or comma lists: "a,b" "c" → [a, b, c]. */
export function splitTags(values: string[]): string[] {
  return values.flatMap((v) => v.split(',')).filter((t) => t.trim() !== '');
}

/** Runs an admin command: builds its program with `define`, parses argv, resolves to the exit code. */
export function runAdminCommand(
  name: string,
  description: string,
  argv: string[],
  givenIo: AdminCommandIo,
  define: (program: Command, ctx: AdminContext) => void,
): Promise<number> {
  const io = resolveIo(givenIo);
  const readPassword =
    givenIo.readPassword ?? ((label: string) => readNewPassword(MAX_PASSWORD_BYTES, label));
  return runProgram(name, argv, io, (runner: ActionRunner) => {
    const program = addConnectionOptions(
      new Command(name)
        .description(description)
        .helpOption('-h, --help', 'show help')
        .exitOverride()
        .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
        .showHelpAfterError()
        .option('--data-dir <dir>', "work on a stopped broker's data directory instead", notAnOption),
    ).addHelpText('after', MODES_HELP);
    const backend = (): AdminBackend => {
      const dir = program.opts<{ dataDir?: string }>().dataDir;
      if (dir === undefined)
        return new HttpAdminBackend(new ManagementClient(connectionFrom(program, io.env), io.fetch));
      if (program.opts<{ url?: string }>().url !== undefined) {
        throw new CommandFailed('give --data-dir or --url, not both', EXIT_USAGE);
      }
      return new OfflineAdminBackend(dir, givenIo.osUser);
    };
    const ctx: AdminContext = {
      io,
      run: (action) =>
        runner(async () => {
          const chosen = backend();
          try {
            await action(chosen);
          } finally {
            await chosen.close();
          }
        }),
      print(rows, json, table) {
        if (json) io.stdout(`${JSON.stringify(rows, null, 2)}\n`);
        else if (rows.length === 0) io.stdout(`${table.empty}\n`);
        else io.stdout(formatTable(table.header, rows.map(table.cells)));
      },
      async readPassword(label) {
        let password: string;
        try {
          password = await readPassword(label);
        } catch (err) {
          if (err instanceof PromptInterrupted) throw new CommandFailed('interrupted', EXIT_INTERRUPTED);
          if (err instanceof PasswordsDiffer) throw new CommandFailed(err.message, EXIT_USAGE);
          throw err;
        }
        checkPassword(password);
        return password;
      },
    };
    define(program, ctx);
    return program;
  });
}

export function checkPassword(password: string): void {
  if (password.length === 0 || Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
    throw new CommandFailed(`the password must be 1..${MAX_PASSWORD_BYTES} bytes`, EXIT_USAGE);
  }
}
