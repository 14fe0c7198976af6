/**
 * `eventter users list|add|delete|passwd|tags`: the broker's users, on a running broker (HTTP API) or a
 * stopped one's data directory (--data-dir). See admin-command.ts for the flags shared with the other
 * admin commands.
 */
import { Option } from 'commander';
import { passwordHashProblem } from '../core/password-hash.js';
import type { AdminBackend, NewUser, UserRow } from './admin-backend.js';
import {
  type AdminCommandIo,
  type AdminContext,
  checkPassword,
  notAnOption,
  runAdminCommand,
  splitTags,
} from './admin-command.js';
import { CommandFailed, EXIT_FAILED, EXIT_USAGE } from './management-client.js';

const PASSWORD_HELP = `
The new password is asked for at a terminal (twice, not echoed); otherwise the first line of stdin
is read (e.g. < secret.txt). --new-password puts it on the command line, where other users of the
machine can see it in the process list. --password-hash takes a hash made by \`eventter hash-password\`
(scrypt:...) or a RabbitMQ hash as rabbit-sha256:<base64> (also rabbit-sha512:, rabbit-md5:).
--without-password makes a user that can only log in with a TLS client certificate (EXTERNAL).
`;

interface PasswordFlags {
  newPassword?: string;
  passwordHash?: string;
  withoutPassword?: boolean;
}

function passwordOptions() {
  return [
    new Option('--new-password <password>', 'the password, on the command line (visible to ps)').argParser(
      notAnOption,
    ),
    new Option('--password-hash <hash>', 'a stored hash instead of a password').argParser(notAnOption),
    new Option('--without-password', 'no password: EXTERNAL (client certificate) logins only'),
  ];
}

/** The password fields of a change from the flags, or from the prompt / stdin when none is given. */
async function passwordOf(flags: PasswordFlags, ctx: AdminContext, label: string): Promise<NewUser> {
  const given = [flags.newPassword, flags.passwordHash, flags.withoutPassword].filter((f) => f !== undefined);
  if (given.length > 1) {
    throw new CommandFailed('give one of --new-password, --password-hash, --without-password', EXIT_USAGE);
  }
  if (flags.withoutPassword) return { passwordHash: '' };
  if (flags.passwordHash !== undefined) {
    const problem = passwordHashProblem(flags.passwordHash);
    if (problem) throw new CommandFailed(`--password-hash ${problem}`, EXIT_USAGE);
    return { passwordHash: flags.passwordHash };
  }
  if (flags.newPassword !== undefined) {
    checkPassword(flags.newPassword);
    return { password: flags.newPassword };
  }
  return { password: await ctx.readPassword(label) };
}

async function findUser(backend: AdminBackend, name: string): Promise<UserRow | undefined> {
  return (await backend.listUsers()).find((u) => u.name === name);
}

const noUser = (name: string) => new CommandFailed(`no user '${name}'`, EXIT_FAILED);

export function runUsersCommand(argv: string[], io: AdminCommandIo = {}): Promise<number> {
  return runAdminCommand(
    'eventter users',
    "manage the broker's users (RabbitMQ's model: password, tags)",
    argv,
    io,
    (program, ctx) => {
      program
        .command('list')
        .description('list users with their tags and limits')
        .option('--json', 'print JSON instead of a table')
        .action((opts: { json?: boolean }) =>
          ctx.run(async (backend) => {
            ctx.print(await backend.listUsers(), opts.json, {
              header: ['name', 'tags', 'limits'],
              cells: (u) => [
                u.name,
                u.tags.join(','),
                Object.entries(u.limits)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(','),
              ],
              empty: 'no users',
            });
          }),
        );

      const add = program
        .command('add')
        .description('create a user (asks for its password)')
        .argument('<name>', 'user name')
        .option(
          '--tags <tags>',
          'comma-separated tags, e.g. administrator or management,policymaker',
          notAnOption,
        );
      for (const option of passwordOptions()) add.addOption(option);
      add
        .addHelpText('after', PASSWORD_HELP)
        .action((name: string, opts: PasswordFlags & { tags?: string }) =>
          ctx.run(async (backend) => {
            if (await findUser(backend, name))
              throw new CommandFailed(`user '${name}' already exists`, EXIT_FAILED);
            const user = await passwordOf(opts, ctx, `Password for ${name}`);
            await backend.putUser(name, {
              ...user,
              tags: splitTags(opts.tags === undefined ? [] : [opts.tags]),
            });
            ctx.io.stdout(`created user '${name}'\n`);
          }),
        );

      program
        .command('delete')
        .description('delete a user and its permissions')
        .argument('<name>', 'user name')
        .action((name: string) =>
          ctx.run(async (backend) => {
            if (!(await backend.deleteUser(name))) throw noUser(name);
            ctx.io.stdout(`deleted user '${name}'\n`);
          }),
        );

      const passwd = program
        .command('passwd')
        .description("change a user's password (asks for it)")
        .argument('<name>', 'user name');
      for (const option of passwordOptions()) passwd.addOption(option);
      passwd.addHelpText('after', PASSWORD_HELP).action((name: string, opts: PasswordFlags) =>
        ctx.run(async (backend) => {
          if (!(await findUser(backend, name))) throw noUser(name);
          await backend.putUser(name, await passwordOf(opts, ctx, `New password for ${name}`));
          ctx.io.stdout(`changed the password of user '${name}'\n`);
        }),
      );

      program
        .command('tags')
        .description("replace a user's tags (none: remove them all)")
        .argument('<name>', 'user name')
        .argument(
          '[tags...]',
          'tags, separate or comma-separated: administrator, management, policymaker, monitoring',
        )
        .action((name: string, tags: string[]) =>
          ctx.run(async (backend) => {
            if (!(await findUser(backend, name))) throw noUser(name);
            const list = splitTags(tags);
            await backend.putUser(name, { tags: list });
            ctx.io.stdout(`tags of user '${name}': ${list.length === 0 ? '(none)' : list.join(', ')}\n`);
          }),
        );
    },
  );
}
