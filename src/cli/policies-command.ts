/**
 * `eventter policies set|list|clear`: manages policies through the management HTTP API of a running broker.
 * Exit codes: 0 done, 1 the broker refused or could not be reached, 2 bad command line.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  addConnectionOptions,
  CommandFailed,
  type CommandIo,
  connectionFrom,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  formatTable,
  ManagementClient,
  type ResolvedIo,
  resolveIo,
  runProgram,
  segment,
} from './management-client.js';

export const POLICIES_EXIT_OK = EXIT_OK;
export const POLICIES_EXIT_FAILED = EXIT_FAILED;
export const POLICIES_EXIT_USAGE = EXIT_USAGE;

export { formatTable };

/** Where the command reads and writes; the defaults are the process's. Tests pass their own. */
export type PoliciesCommandIo = CommandIo;

interface PolicyRow {
  vhost: string;
  name: string;
  pattern: string;
  'apply-to': string;
  priority: number;
  definition: Record<string, unknown>;
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

const policyPath = (vhost: string, name?: string) =>
  `api/policies/${segment(vhost)}${name === undefined ? '' : `/${segment(name)}`}`;

function buildProgram(io: ResolvedIo, run: (action: () => Promise<void>) => Promise<void>): Command {
  const program = addConnectionOptions(
    new Command('eventter policies')
      .description('manage policies (RabbitMQ-style) on a running broker through its HTTP API')
      .helpOption('-h, --help', 'show help')
      .exitOverride()
      .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
      .showHelpAfterError(),
  );
  const client = () => new ManagementClient(connectionFrom(program, io.env), io.fetch);
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
        const rows = await client().list<PolicyRow>(path);
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
export function runPoliciesCommand(argv: string[], io: PoliciesCommandIo = {}): Promise<number> {
  const resolved = resolveIo(io);
  return runProgram('eventter policies', argv, resolved, (run) => buildProgram(resolved, run));
}
