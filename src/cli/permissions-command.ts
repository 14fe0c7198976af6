/**
 * `eventter permissions list|set|clear|list-topic|set-topic|clear-topic`: users' permissions per vhost
 * (configure, write, read patterns) and topic permissions per exchange (write, read patterns over routing
 * keys), on a running broker (HTTP API) or a stopped one's data directory (--data-dir).
 */
import { Option } from 'commander';
import type { PermissionRow, TopicPermissionRow } from './admin-backend.js';
import { type AdminCommandIo, notAnOption, runAdminCommand } from './admin-command.js';
import { CommandFailed, EXIT_FAILED } from './management-client.js';

const PATTERN_HELP = `
Patterns are regular expressions matched against resource names (an empty one, '', matches nothing;
'.*' everything). As in RabbitMQ: configure covers declaring and deleting queues and exchanges, write
publishing to an exchange and binding a queue to it, read consuming from a queue and binding from an
exchange. Topic permissions narrow publishing (write) and binding (read) on a topic exchange by routing
key; {username} and {vhost} in a topic pattern stand for the user's name and the vhost.

Examples:
  eventter permissions set app '^app\\.' '^app\\.' '^app\\.' --vhost shop
  eventter permissions set reader '' '' '.*' --vhost eventter.audit
  eventter permissions set-topic app amq.topic '^{username}\\.' '.*'
`;

interface Filter {
  vhost?: string;
  for?: string;
  json?: boolean;
}

const vhostOption = () => new Option('--vhost <vhost>', 'virtual host').default('/').argParser(notAnOption);
const filterOptions = () => [
  new Option('--vhost <vhost>', 'only this vhost').argParser(notAnOption),
  new Option('--for <user>', 'only this user').argParser(notAnOption),
  new Option('--json', 'print JSON instead of a table'),
];

function matches(row: { user: string; vhost: string }, filter: Filter): boolean {
  return (
    (filter.vhost === undefined || row.vhost === filter.vhost) &&
    (filter.for === undefined || row.user === filter.for)
  );
}

export function runPermissionsCommand(argv: string[], io: AdminCommandIo = {}): Promise<number> {
  return runAdminCommand(
    'eventter permissions',
    "manage users' permissions and topic permissions per vhost",
    argv,
    io,
    (program, ctx) => {
      program.addHelpText('after', PATTERN_HELP);

      const list = program.command('list').description('list permissions (every vhost unless --vhost)');
      for (const option of filterOptions()) list.addOption(option);
      list.action((opts: Filter) =>
        ctx.run(async (backend) => {
          const rows = (await backend.listPermissions()).filter((r) => matches(r, opts));
          ctx.print<PermissionRow>(rows, opts.json, {
            header: ['vhost', 'user', 'configure', 'write', 'read'],
            cells: (r) => [r.vhost, r.user, r.configure, r.write, r.read],
            empty: 'no permissions',
          });
        }),
      );

      program
        .command('set')
        .description("set a user's permissions in a vhost (replaces them)")
        .argument('<user>', 'user name')
        .argument('<configure>', 'pattern of the queues and exchanges the user may declare and delete')
        .argument('<write>', 'pattern of the exchanges the user may publish to (and bind queues to)')
        .argument('<read>', 'pattern of the queues the user may consume from (and exchanges bind from)')
        .addOption(vhostOption())
        .action((user: string, configure: string, write: string, read: string, opts: { vhost: string }) =>
          ctx.run(async (backend) => {
            await backend.setPermissions({ user, vhost: opts.vhost, configure, write, read });
            ctx.io.stdout(`set permissions of user '${user}' in vhost '${opts.vhost}'\n`);
          }),
        );

      program
        .command('clear')
        .description("remove a user's permissions in a vhost (its access to the vhost)")
        .argument('<user>', 'user name')
        .addOption(vhostOption())
        .action((user: string, opts: { vhost: string }) =>
          ctx.run(async (backend) => {
            if (!(await backend.clearPermissions(user, opts.vhost))) {
              throw new CommandFailed(
                `user '${user}' has no permissions in vhost '${opts.vhost}'`,
                EXIT_FAILED,
              );
            }
            ctx.io.stdout(`cleared permissions of user '${user}' in vhost '${opts.vhost}'\n`);
          }),
        );

      const listTopic = program.command('list-topic').description('list topic permissions');
      for (const option of filterOptions()) listTopic.addOption(option);
      listTopic.action((opts: Filter) =>
        ctx.run(async (backend) => {
          const rows = (await backend.listTopicPermissions()).filter((r) => matches(r, opts));
          ctx.print<TopicPermissionRow>(rows, opts.json, {
            header: ['vhost', 'user', 'exchange', 'write', 'read'],
            cells: (r) => [r.vhost, r.user, r.exchange, r.write, r.read],
            empty: 'no topic permissions',
          });
        }),
      );

      program
        .command('set-topic')
        .description("set a user's topic permissions on one exchange")
        .argument('<user>', 'user name')
        .argument('<exchange>', 'the topic exchange, e.g. amq.topic')
        .argument('<write>', 'pattern of the routing keys the user may publish with')
        .argument('<read>', 'pattern of the routing keys the user may bind queues with')
        .addOption(vhostOption())
        .action((user: string, exchange: string, write: string, read: string, opts: { vhost: string }) =>
          ctx.run(async (backend) => {
            await backend.setTopicPermissions({ user, vhost: opts.vhost, exchange, write, read });
            ctx.io.stdout(
              `set topic permissions of user '${user}' on exchange '${exchange}' in vhost '${opts.vhost}'\n`,
            );
          }),
        );

      program
        .command('clear-topic')
        .description("remove a user's topic permissions in a vhost (all, or one exchange's)")
        .argument('<user>', 'user name')
        .addOption(new Option('--exchange <name>', "only this exchange's").argParser(notAnOption))
        .addOption(vhostOption())
        .action((user: string, opts: { vhost: string; exchange?: string }) =>
          ctx.run(async (backend) => {
            const where = `${opts.exchange === undefined ? '' : ` on exchange '${opts.exchange}'`} in vhost '${opts.vhost}'`;
            if (!(await backend.clearTopicPermissions(user, opts.vhost, opts.exchange))) {
              throw new CommandFailed(`user '${user}' has no topic permissions${where}`, EXIT_FAILED);
            }
            ctx.io.stdout(`cleared topic permissions of user '${user}'${where}\n`);
          }),
        );
    },
  );
}
