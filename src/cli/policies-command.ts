/**
 * `eventter policies set|list|clear`: manages policies through the management HTTP API of a running broker.
 * Exit codes: 0 done, 1 the broker refused or could not be reached, 2 bad command line.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

export const POLICIES_EXIT_OK = 0;
export const POLICIES_EXIT_FAILED = 1;
export const POLICIES_EXIT_USAGE = 2;

const DEFAULT_URL = 'http://127.0.0.1:15672';
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** Where the command reads and writes; the defaults are the process's. Tests pass their own. */
export interface PoliciesCommandIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
}

interface Connection {
  url: string;
  user: string;
  password: string;
}

interface PolicyRow {
  vhost: string;
  name: string;
  pattern: string;
  'apply-to': string;
  priority: number;
  definition: Record<string, unknown>;
}

/** A failure already explained to the user; carries the exit code. */
class CommandFailed extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function parsePriority(value: string): number {
  if (!/^-?\d{1,15}$/.test(value)) throw new InvalidArgumentError('must be an integer');
  return Number(value);
}

function parseDefinition(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CommandFailed(
      `the definition is not valid JSON: ${(err as Error).message}`,
      POLICIES_EXIT_USAGE,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CommandFailed(
      'the definition must be a JSON object, e.g. \'{"max-length":1000}\'',
      POLICIES_EXIT_USAGE,
    );
  }
  return value as Record<string, unknown>;
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

class ManagementClient {
  constructor(
    private readonly connection: Connection,
    private readonly fetchImpl: typeof fetch,
  ) {}

  /** Sends one request; resolves to the parsed JSON body (undefined when empty), throws CommandFailed. */
  async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    let base: URL;
    try {
      base = new URL(this.connection.url);
    } catch {
      throw new CommandFailed(`invalid --url ${JSON.stringify(this.connection.url)}`, POLICIES_EXIT_USAGE);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new CommandFailed(`--url must be http:// or https://, got ${base.protocol}`, POLICIES_EXIT_USAGE);
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
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new CommandFailed(`cannot reach the broker at ${base.origin}: ${cause}`, POLICIES_EXIT_FAILED);
    }
    const text = await response.text();
    if (text.length > MAX_RESPONSE_BYTES) throw new CommandFailed('the broker sent an oversized reply', 1);
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
      throw new CommandFailed(`${response.status}: ${detail}`, POLICIES_EXIT_FAILED);
    }
    return { status: response.status, json };
  }
}

const policyPath = (vhost: string, name?: string) =>
  `api/policies/${encodeURIComponent(vhost)}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;

function buildProgram(
  io: Required<PoliciesCommandIo>,
  run: (action: () => Promise<void>) => Promise<void>,
): Command {
  const program = new Command('eventter policies')
    .description('manage policies (RabbitMQ-style) on a running broker through its HTTP API')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError()
    .option('--url <url>', `management HTTP API (env EVENTTER_HTTP_URL, default ${DEFAULT_URL})`)
    .option('--user <name>', 'user name (env EVENTTER_USER, default guest)')
    .option('--password <password>', 'password (env EVENTTER_PASSWORD, default guest)');

  const connection = (): Connection => {
    const opts = program.opts<{ url?: string; user?: string; password?: string }>();
    return {
      url: opts.url ?? io.env.EVENTTER_HTTP_URL ?? DEFAULT_URL,
      user: opts.user ?? io.env.EVENTTER_USER ?? 'guest',
      password: opts.password ?? io.env.EVENTTER_PASSWORD ?? 'guest',
    };
  };
  const client = () => new ManagementClient(connection(), io.fetch);
  const vhostOption = () => new Option('--vhost <vhost>', 'virtual host').default('/');

  program
    .command('set')
    .description('create or replace a policy')
    .argument('<name>', 'policy name')
    .argument('<pattern>', 'regular expression matched against queue / exchange names')
    .argument('<definition>', 'JSON object, e.g. \'{"message-ttl":60000,"max-length":1000}\'')
    .addOption(vhostOption())
    .addOption(
      new Option('--priority <n>', 'the highest priority matching policy applies').argParser(parsePriority),
    )
    .addOption(
      new Option('--apply-to <kind>', 'what the policy applies to').choices(['queues', 'exchanges', 'all']),
    )
    .action((name: string, pattern: string, definitionText: string, opts: Record<string, unknown>) =>
      run(async () => {
        const definition = parseDefinition(definitionText);
        const body: Record<string, unknown> = { pattern, definition, priority: opts.priority ?? 0 };
        if (opts.applyTo !== undefined) body['apply-to'] = opts.applyTo;
        const vhost = opts.vhost as string;
        const { status } = await client().request('PUT', policyPath(vhost, name), body);
        io.stdout(`${status === 201 ? 'created' : 'updated'} policy '${name}' in vhost '${vhost}'\n`);
      }),
    );

  program
    .command('list')
    .description('list policies as a table')
    .addOption(vhostOption())
    .option('--all-vhosts', 'list the policies of every vhost the user may use')
    .option('--json', 'print JSON instead of a table')
    .action((opts: { vhost: string; allVhosts?: boolean; json?: boolean }) =>
      run(async () => {
        const path = opts.allVhosts ? 'api/policies' : policyPath(opts.vhost);
        const { json } = await client().request('GET', path);
        if (!Array.isArray(json))
          throw new CommandFailed('the broker sent an unexpected reply', POLICIES_EXIT_FAILED);
        const rows = json as PolicyRow[];
        if (opts.json) {
          io.stdout(`${JSON.stringify(rows, null, 2)}\n`);
          return;
        }
        if (rows.length === 0) {
          io.stdout(opts.allVhosts ? 'no policies\n' : `no policies in vhost '${opts.vhost}'\n`);
          return;
        }
        io.stdout(
          formatTable(
            ['vhost', 'name', 'pattern', 'apply-to', 'priority', 'definition'],
            rows.map((p) => [
              String(p.vhost),
              String(p.name),
              String(p.pattern),
              String(p['apply-to']),
              String(p.priority),
              JSON.stringify(p.definition),
            ]),
          ),
        );
      }),
    );

  program
    .command('clear')
    .description('delete a policy')
    .argument('<name>', 'policy name')
    .addOption(vhostOption())
    .action((name: string, opts: { vhost: string }) =>
      run(async () => {
        await client().request('DELETE', policyPath(opts.vhost, name));
        io.stdout(`cleared policy '${name}' in vhost '${opts.vhost}'\n`);
      }),
    );

  return program;
}

/** Runs `eventter policies <argv...>`; resolves to the process exit code. Never throws for user errors. */
export async function runPoliciesCommand(argv: string[], io: PoliciesCommandIo = {}): Promise<number> {
  const resolved: Required<PoliciesCommandIo> = {
    stdout: io.stdout ?? ((t) => process.stdout.write(t)),
    stderr: io.stderr ?? ((t) => process.stderr.write(t)),
    env: io.env ?? process.env,
    fetch: io.fetch ?? fetch,
  };
  let exitCode = POLICIES_EXIT_OK;
  const run = async (action: () => Promise<void>) => {
    try {
      await action();
    } catch (err) {
      if (!(err instanceof CommandFailed)) throw err;
      resolved.stderr(`eventter policies: ${err.message}\n`);
      exitCode = err.exitCode;
    }
  };
  const program = buildProgram(resolved, run);
  if (argv.length === 0) {
    program.outputHelp();
    return POLICIES_EXIT_USAGE;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    // Help and version are "errors" to commander; anything else is a usage mistake it already printed.
    return err.exitCode === 0 ? POLICIES_EXIT_OK : POLICIES_EXIT_USAGE;
  }
  return exitCode;
}
