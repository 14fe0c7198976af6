/**
 * What the admin commands (`eventter policies`, `users`, `permissions`, `vhosts`) share to talk to a running
 * broker's management HTTP API: where and as whom (flags, then EVENTTER_HTTP_URL / EVENTTER_USER /
 * EVENTTER_PASSWORD, then http://127.0.0.1:15672 as guest/guest), requests with RabbitMQ-shaped error
 * replies turned into one-line messages, exit codes and table output.
 */
import { type Command, CommanderError } from 'commander';

export const EXIT_OK = 0;
/** The broker refused, could not be reached, or the data directory could not be used. */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** Ctrl-C at a password prompt. */
export const EXIT_INTERRUPTED = 130;

export const DEFAULT_MANAGEMENT_URL = 'http://127.0.0.1:15672';
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** Where a command reads and writes; the defaults are the process's. Tests pass their own. */
export interface CommandIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
}

export interface ManagementConnection {
  url: string;
  user: string;
  password: string;
}

/** A failure already explained to the user; carries the exit code (and the HTTP status, if any). */
export class CommandFailed extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** Adds --url, --user and --password (the management API's address and login) to a command. */
export function addConnectionOptions(program: Command): Command {
  return program
    .option('--url <url>', `management HTTP API (env EVENTTER_HTTP_URL, default ${DEFAULT_MANAGEMENT_URL})`)
    .option('--user <name>', 'user name (env EVENTTER_USER, default guest)')
    .option('--password <password>', 'password (env EVENTTER_PASSWORD, default guest)');
}

/** The connection from a command's options, then the environment, then the defaults. */
export function connectionFrom(program: Command, env: NodeJS.ProcessEnv): ManagementConnection {
  const opts = program.opts<{ url?: string; user?: string; password?: string }>();
  return {
    url: opts.url ?? env.EVENTTER_HTTP_URL ?? DEFAULT_MANAGEMENT_URL,
    user: opts.user ?? env.EVENTTER_USER ?? 'guest',
    password: opts.password ?? env.EVENTTER_PASSWORD ?? 'guest',
  };
}

/** Formats rows as an aligned text table with a header line. */
export function formatTable(header: readonly string[], rows: readonly string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export class ManagementClient {
  constructor(
    private readonly connection: ManagementConnection,
    private readonly fetchImpl: typeof fetch,
    /** Larger or slower replies than a listing's (a definitions export): raise the bounds. */
    private readonly bounds: { maxResponseBytes?: number; timeoutMs?: number } = {},
  ) {}

  /** Sends one request; resolves to the status and parsed JSON body (undefined when empty), throws CommandFailed. */
  async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    let base: URL;
    try {
      base = new URL(this.connection.url);
    } catch {
      throw new CommandFailed(`invalid --url ${JSON.stringify(this.connection.url)}`, EXIT_USAGE);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new CommandFailed(`--url must be http:// or https://, got ${base.protocol}`, EXIT_USAGE);
    }
    const url = new URL(path, base.href.endsWith('/') ? base.href : `${base.href}/`);
    const token = Buffer.from(`${this.connection.user}:${this.connection.password}`).toString('base64');
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method,
        headers: {
          authorization: `Basic ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.bounds.timeoutMs ?? REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new CommandFailed(`cannot reach the broker at ${base.origin}: ${cause}`, EXIT_FAILED);
    }
    const text = await response.text();
    if (text.length > (this.bounds.maxResponseBytes ?? MAX_RESPONSE_BYTES))
      throw new CommandFailed('the broker sent an oversized reply', 1);
    let json: unknown;
    if (text.length > 0) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (!response.ok) {
      const reason = (json as { reason?: unknown } | undefined)?.reason;
      const detail = typeof reason === 'string' ? reason : `${response.status} ${response.statusText}`.trim();
      throw new CommandFailed(`${response.status}: ${detail}`, EXIT_FAILED, response.status);
    }
    return { status: response.status, json };
  }

  /** GET of a list; throws CommandFailed when the reply is not an array. */
  async list<T>(path: string): Promise<T[]> {
    const { json } = await this.request('GET', path);
    if (!Array.isArray(json)) throw new CommandFailed('the broker sent an unexpected reply', EXIT_FAILED);
    return json as T[];
  }
}

/** A path segment: names may hold '/', '%', spaces. */
export const segment = (name: string) => encodeURIComponent(name);

export type ResolvedIo = Required<CommandIo>;

export function resolveIo(io: CommandIo): ResolvedIo {
  return {
    stdout: io.stdout ?? ((t) => process.stdout.write(t)),
    stderr: io.stderr ?? ((t) => process.stderr.write(t)),
    env: io.env ?? process.env,
    fetch: io.fetch ?? fetch,
  };
}

/** Runs one action of a command, turning CommandFailed into a message on stderr and an exit code. */
export type ActionRunner = (action: () => Promise<void>) => Promise<void>;

/**
 * Parses argv with the program `build` makes and runs the chosen action; resolves to the exit code. Never
 * throws for user errors: usage mistakes exit 2 (commander printed them), help exits 0.
 */
export async function runProgram(
  name: string,
  argv: string[],
  io: ResolvedIo,
  build: (run: ActionRunner) => Command,
): Promise<number> {
  let exitCode = EXIT_OK;
  const run: ActionRunner = async (action) => {
    try {
      await action();
    } catch (err) {
      if (!(err instanceof CommandFailed)) throw err;
      io.stderr(`${name}: ${err.message}\n`);
      exitCode = err.exitCode;
    }
  };
  const program = build(run);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    // Help and version are "errors" to commander; anything else is a usage mistake it already printed.
    return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  return exitCode;
}
