/**
 * `eventter vhosts list|add|delete`: virtual hosts, on a running broker (HTTP API) or a stopped one's data
 * directory (--data-dir).
 */
import type { VhostRow } from './admin-backend.js';
import { type AdminCommandIo, notAnOption, runAdminCommand, splitTags } from './admin-command.js';
import { CommandFailed, EXIT_FAILED } from './management-client.js';

const ADD_HELP = `
Through the HTTP API the user running the command gets full permissions on the new vhost (as with
RabbitMQ's HTTP API); with --data-dir nobody does (as with rabbitmqctl add_vhost): grant them with
\`eventter permissions set\`.
`;

export function runVhostsCommand(argv: string[], io: AdminCommandIo = {}): Promise<number> {
  return runAdminCommand('eventter vhosts', 'manage virtual hosts', argv, io, (program, ctx) => {
    program
      .command('list')
      .description('list vhosts (with message counts on a running broker)')
      .option('--json', 'print JSON instead of a table')
      .action((opts: { json?: boolean }) =>
        ctx.run(async (backend) => {
          ctx.print<VhostRow>(await backend.listVhosts(), opts.json, {
            header: ['name', 'messages', 'tags', 'description'],
            cells: (v) => [
              v.name,
              v.messages === undefined ? '' : String(v.messages),
              v.tags.join(','),
              v.description,
            ],
            empty: 'no vhosts',
          });
        }),
      );

    program
      .command('add')
      .description('create a vhost')
      .argument('<name>', 'vhost name (up to 255 bytes)')
      .option('--description <text>', 'what the vhost is for', notAnOption)
      .option('--tags <tags>', 'comma-separated tags', notAnOption)
      .addHelpText('after', ADD_HELP)
      .action((name: string, opts: { description?: string; tags?: string }) =>
        ctx.run(async (backend) => {
          if ((await backend.listVhosts()).some((v) => v.name === name)) {
            throw new CommandFailed(`vhost '${name}' already exists`, EXIT_FAILED);
          }
          const tags = splitTags(opts.tags === undefined ? [] : [opts.tags]);
          await backend.putVhost(name, { description: opts.description ?? '', tags });
          ctx.io.stdout(`created vhost '${name}'\n`);
        }),
      );

    program
      .command('delete')
      .description(
        'delete a vhost with everything in it: queues, streams and their messages, exchanges, policies, permissions',
      )
      .argument('<name>', 'vhost name')
      .action((name: string) =>
        ctx.run(async (backend) => {
          if (!(await backend.deleteVhost(name))) throw new CommandFailed(`no vhost '${name}'`, EXIT_FAILED);
          ctx.io.stdout(`deleted vhost '${name}'\n`);
        }),
      );
  });
}
