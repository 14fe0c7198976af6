/**
 * What the admin commands (`eventter policies`, `eventter definitions`) share: the management HTTP API client,
 * the connection flags and their environment variables, and how a command turns failures into exit codes
 * (0 done, 1 the broker refused or could not be reached, 2 bad command line).
 */
import { type Command, CommanderError } from 'commander';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export const DEFAULT_URL = 'http://127.0.0.1:15672';
const REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** Where a command reads and writes; the defaults are the process's. Tests pass their own. */
export interface CommandIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
}

export interface Connection {
  url: string;
  user: string;
  password: string;
}

/** A failure already explained to the user; carries the exit code. */
export class CommandFailed extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export class ManagementClient {
  constructor(
    private readonly connection: Connection,
    private readonly fetchImpl: typeof fetch,
    private readonly options: { maxResponseBytes?: number; timeoutMs?: number } = {},
  ) {}

  /**
   * Sends one request (a string body is sent as it is, anything else as JSON); resolves to the parsed JSON
   * reply (undefined when empty), throws CommandFailed.
   */
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
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new CommandFailed(`cannot reach the broker at ${base.origin}: ${cause}`, EXIT_FAILED);
    }
    const text = await response.text();
    if (text.length > (this.options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES))
      throw new CommandFailed('the broker sent an oversized reply', EXIT_FAILED);
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
      throw new CommandFailed(`${response.status}: ${detail}`, EXIT_FAILED);
    }
    return { status: response.status, json };
  }
}

/** Adds --url, --user and --password; the returned function reads them (falling back to the environment). */
export function addConnectionOptions(program: Command, env: NodeJS.ProcessEnv): () => Connection {
  program
    .option('--url <url>', `management HTTP API (env EVENTTER_HTTP_URL, default ${DEFAULT_URL})`)
    .option('--user <name>', 'user name (env EVENTTER_USER, default guest)')
    .option('--password <password>', 'password (env EVENTTER_PASSWORD, default guest)');
  return () => {
    const opts = program.opts<{ url?: string; user?: string; password?: string }>();
    return {
      url: opts.url ?? env.EVENTTER_HTTP_URL ?? DEFAULT_URL,
      user: opts.user ?? env.EVENTTER_USER ?? 'guest',
      password: opts.password ?? env.EVENTTER_PASSWORD ?? 'guest',
    };
  };
}

/**
 * Runs `eventter <name> <argv...>` with the program `build` makes; resolves to the exit code and never throws
 * for user errors. `build` wraps each action in the `run` it is given, which reports a CommandFailed.
 */
export async function runAdminCommand(
  name: string,
  argv: string[],
  io: CommandIo,
  build: (io: Required<CommandIo>, run: (action: () => Promise<void>) => Promise<void>) => Command,
): Promise<number> {
  const resolved: Required<CommandIo> = {
    stdout: io.stdout ?? ((t) => process.stdout.write(t)),
    stderr: io.stderr ?? ((t) => process.stderr.write(t)),
    env: io.env ?? process.env,
    fetch: io.fetch ?? fetch,
  };
  let exitCode = EXIT_OK;
  const run = async (action: () => Promise<void>) => {
    try {
      await action();
    } catch (err) {
      if (!(err instanceof CommandFailed)) throw err;
      resolved.stderr(`eventter ${name}: ${err.message}\n`);
      exitCode = err.exitCode;
    }
  };
  const program = build(resolved, run);
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
