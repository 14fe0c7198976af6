import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AdminCommandIo } from '../../src/cli/admin-command.js';
import { runPermissionsCommand } from '../../src/cli/permissions-command.js';
import { PasswordsDiffer } from '../../src/cli/read-password.js';
import { runUsersCommand } from '../../src/cli/users-command.js';
import { runVhostsCommand } from '../../src/cli/vhosts-command.js';
import { type AdminCommand, runIn } from '../helpers/admin-cli.js';
import { auditLogs, type ManagementFixture, openManagementFixture } from '../helpers/management-fixture.js';

let fx: ManagementFixture;
let url: string;

before(async () => {
  fx = await openManagementFixture();
  url = await fx.listen();
});
after(async () => {
  await fx.close();
});

const online = (
  command: AdminCommand,
  argv: string[],
  io: Partial<AdminCommandIo> & { password?: string } = {},
) => runIn(command, argv, { env: { EVENTTER_HTTP_URL: url }, ...io });

describe('eventter users (running broker)', () => {
  it('adds, lists, retags, changes the password of and deletes a user', async () => {
    const add = await online(runUsersCommand, ['add', 'alice', '--tags', 'management,policymaker'], {
      password: 'pw-1',
    });
    assert.deepEqual([add.code, add.stdout, add.stderr], [0, "created user 'alice'\n", '']);
    assert.ok(await fx.broker.users.authenticate('alice', 'pw-1', '127.0.0.1'));

    const list = await online(runUsersCommand, ['list']);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /^name +tags +limits\n/);
    assert.match(list.stdout, /^alice +management,policymaker\n/m);
    const json = JSON.parse((await online(runUsersCommand, ['list', '--json'])).stdout);
    assert.deepEqual(
      json.find((u: { name: string }) => u.name === 'alice'),
      { name: 'alice', tags: ['management', 'policymaker'], limits: {} },
    );

    const tags = await online(runUsersCommand, ['tags', 'alice', 'monitoring', 'a,b']);
    assert.deepEqual([tags.code, tags.stdout], [0, "tags of user 'alice': monitoring, a, b\n"]);
    assert.deepEqual(fx.broker.users.getUser('alice')?.tags, ['monitoring', 'a', 'b']);
    assert.ok(await fx.broker.users.authenticate('alice', 'pw-1', '127.0.0.1'), 'tags keep the password');

    const passwd = await online(runUsersCommand, ['passwd', 'alice', '--new-password', 'pw-2']);
    assert.deepEqual([passwd.code, passwd.stdout], [0, "changed the password of user 'alice'\n"]);
    assert.equal(await fx.broker.users.authenticate('alice', 'pw-1', '127.0.0.1'), undefined);
    assert.ok(await fx.broker.users.authenticate('alice', 'pw-2', '127.0.0.1'));

    const del = await online(runUsersCommand, ['delete', 'alice']);
    assert.deepEqual([del.code, del.stdout], [0, "deleted user 'alice'\n"]);
    assert.equal(fx.broker.users.getUser('alice'), undefined);

    const events = auditLogs(fx).filter((r) => r.user === 'alice');
    assert.deepEqual(
      events.map((r) => [r.event, r.by, r.from]),
      [
        ['user.created', 'guest', '127.0.0.1'],
        ['user.updated', 'guest', '127.0.0.1'],
        ['user.updated', 'guest', '127.0.0.1'],
        ['user.deleted', 'guest', '127.0.0.1'],
      ],
    );
  });

  it('takes a password hash, or none', async () => {
    const hash = 'rabbit-sha256:bIeepe+Che6661ZD1QypyeqtdtvQtwqg1m8pCEBuQ29Uvt9s'; // "guest"
    assert.equal((await online(runUsersCommand, ['add', 'moved', '--password-hash', hash])).code, 0);
    assert.ok(await fx.broker.users.authenticate('moved', 'guest', '127.0.0.1'));
    assert.equal((await online(runUsersCommand, ['add', 'cert', '--without-password'])).code, 0);
    assert.equal(fx.broker.users.passwordHashOf('cert'), undefined);
  });

  it('fails with exit code 1 on refusals and 2 on bad input', async () => {
    const cases: Array<[string[], number, RegExp, string?]> = [
      [['add', 'guest'], 1, /user 'guest' already exists/],
      [['delete', 'ghost'], 1, /no user 'ghost'/],
      [['passwd', 'ghost', '--new-password', 'x'], 1, /no user 'ghost'/],
      [['tags', 'ghost', 'x'], 1, /no user 'ghost'/],
      [['add', 'x', '--new-password', ''], 2, /the password must be 1\.\.1024 bytes/],
      [['add', 'x', '--password-hash', 'md5:abc'], 2, /--password-hash must look like scrypt/],
      [['add', 'x', '--new-password', 'a', '--without-password'], 2, /give one of/],
      [['add', 'x', '--tags', 'a b'], 1, /bad tag "a b"/, 'pw'],
      [['add', 'x', '--data-dir', '/tmp', '--url', url], 2, /give --data-dir or --url, not both/],
      [['list', '--user', 'bob', '--password', 'secret'], 1, /403: Not administrator user/],
      [['list', '--password', 'wrong'], 1, /401: Login failed/],
      [['frobnicate'], 2, /unknown command 'frobnicate'/],
      [[], 2, /Usage: eventter users/],
    ];
    for (const [argv, code, message, password] of cases) {
      const run = await online(runUsersCommand, argv, { password });
      assert.equal(run.code, code, argv.join(' '));
      assert.match(run.stderr + run.stdout, message, argv.join(' '));
    }
    assert.equal(fx.broker.users.getUser('x'), undefined);
  });

  it('stops at a mistyped password confirmation (2) or Ctrl-C (130)', async () => {
    const differ = await online(runUsersCommand, ['add', 'y'], {
      readPassword: async () => {
        throw new PasswordsDiffer('the passwords do not match');
      },
    });
    assert.deepEqual([differ.code, differ.stderr], [2, 'eventter users: the passwords do not match\n']);
    const { PromptInterrupted } = await import('../../src/cli/read-password.js');
    const interrupted = await online(runUsersCommand, ['add', 'y'], {
      readPassword: async () => {
        throw new PromptInterrupted('interrupted');
      },
    });
    assert.equal(interrupted.code, 130);
    assert.equal(fx.broker.users.getUser('y'), undefined);
  });
});

describe('eventter permissions (running broker)', () => {
  it('sets, lists, filters and clears permissions and topic permissions', async () => {
    await online(runUsersCommand, ['add', 'app', '--new-password', 'p']);
    const set = await online(runPermissionsCommand, ['set', 'app', '^app\\.', '.*', '', '--vhost', 'shop']);
    assert.deepEqual([set.code, set.stdout], [0, "set permissions of user 'app' in vhost 'shop'\n"]);
    assert.deepEqual(fx.broker.users.listPermissions({ user: 'app' }), [
      { user: 'app', vhost: 'shop', configure: '^app\\.', write: '.*', read: '' },
    ]);
    const list = await online(runPermissionsCommand, ['list', '--for', 'app']);
    assert.equal(list.stdout, 'vhost  user  configure  write  read\nshop   app   ^app\\.     .*\n');
    const json = JSON.parse(
      (await online(runPermissionsCommand, ['list', '--vhost', 'shop', '--json'])).stdout,
    );
    assert.deepEqual(
      json.map((r: { user: string }) => r.user),
      ['app', 'bob', 'guest', 'pol'],
    );
    assert.equal(
      (await online(runPermissionsCommand, ['list', '--vhost', 'empty'])).stdout,
      'no permissions\n',
    );

    const topic = await online(runPermissionsCommand, [
      'set-topic',
      'app',
      'amq.topic',
      '^{username}\\.',
      '.*',
      '--vhost',
      'shop',
    ]);
    assert.equal(topic.code, 0, topic.stderr);
    const topics = await online(runPermissionsCommand, ['list-topic', '--json']);
    assert.deepEqual(JSON.parse(topics.stdout), [
      { user: 'app', vhost: 'shop', exchange: 'amq.topic', write: '^{username}\\.', read: '.*' },
    ]);
    const clearTopic = await online(runPermissionsCommand, [
      'clear-topic',
      'app',
      '--exchange',
      'amq.topic',
      '--vhost',
      'shop',
    ]);
    assert.equal(
      clearTopic.stdout,
      "cleared topic permissions of user 'app' on exchange 'amq.topic' in vhost 'shop'\n",
    );
    assert.equal((await online(runPermissionsCommand, ['list-topic'])).stdout, 'no topic permissions\n');

    const clear = await online(runPermissionsCommand, ['clear', 'app', '--vhost', 'shop']);
    assert.deepEqual([clear.code, clear.stdout], [0, "cleared permissions of user 'app' in vhost 'shop'\n"]);
    assert.deepEqual(fx.broker.users.listPermissions({ user: 'app' }), []);
  });

  it('reports unsafe patterns, unknown names and missing entries with exit code 1', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['set', 'bob', '(a+)+', '.*', '.*', '--vhost', 'shop'], /400: pattern "\(a\+\)\+" repeats a group/],
      [['set', 'ghost', '.*', '.*', '.*'], /404: no user 'ghost'/],
      [['set', 'bob', '.*', '.*', '.*', '--vhost', 'ghost'], /404: no vhost 'ghost'/],
      [['clear', 'bob', '--vhost', 'empty'], /user 'bob' has no permissions in vhost 'empty'/],
      [['clear-topic', 'bob', '--vhost', 'shop'], /user 'bob' has no topic permissions in vhost 'shop'/],
    ];
    for (const [argv, message] of cases) {
      const run = await online(runPermissionsCommand, argv);
      assert.equal(run.code, 1, argv.join(' '));
      assert.match(run.stderr, message, argv.join(' '));
    }
    const missing = await online(runPermissionsCommand, ['set', 'bob', '.*']);
    assert.equal(missing.code, 2);
  });
});

describe('eventter vhosts (running broker)', () => {
  it('adds (with full permissions for the caller), lists and deletes vhosts', async () => {
    const add = await online(runVhostsCommand, [
      'add',
      'orders',
      '--description',
      'order flow',
      '--tags',
      'eu',
    ]);
    assert.deepEqual([add.code, add.stdout], [0, "created vhost 'orders'\n"]);
    assert.deepEqual(fx.broker.vhostInfo('orders'), {
      name: 'orders',
      description: 'order flow',
      tags: ['eu'],
      limits: {},
    });
    assert.equal(fx.broker.users.principal('guest')?.permissions('orders')?.source.configure, '.*');
    const list = await online(runVhostsCommand, ['list']);
    assert.match(list.stdout, /^name +messages +tags +description\n/);
    assert.match(list.stdout, /^orders +0 +eu +order flow$/m);
    const json = JSON.parse((await online(runVhostsCommand, ['list', '--json'])).stdout);
    assert.deepEqual(
      json.find((v: { name: string }) => v.name === 'orders'),
      { name: 'orders', description: 'order flow', tags: ['eu'], messages: 0 },
    );
    assert.equal((await online(runVhostsCommand, ['add', 'orders'])).code, 1);
    const del = await online(runVhostsCommand, ['delete', 'orders']);
    assert.deepEqual([del.code, del.stdout], [0, "deleted vhost 'orders'\n"]);
    assert.equal(fx.broker.vhost('orders'), undefined);
    const again = await online(runVhostsCommand, ['delete', 'orders']);
    assert.deepEqual([again.code, again.stderr], [1, "eventter vhosts: 404: no vhost 'orders'\n"]);
    const long = await online(runVhostsCommand, ['add', 'v'.repeat(256)]);
    assert.equal(long.code, 1);
    assert.match(long.stderr, /at most 255 bytes/);
  });
});

describe('admin command help', () => {
  it('documents every command and subcommand with exit code 0', async () => {
    const commands: Array<[AdminCommand, string, string[]]> = [
      [runUsersCommand, 'users', ['list', 'add', 'delete', 'passwd', 'tags']],
      [
        runPermissionsCommand,
        'permissions',
        ['list', 'set', 'clear', 'list-topic', 'set-topic', 'clear-topic'],
      ],
      [runVhostsCommand, 'vhosts', ['list', 'add', 'delete']],
    ];
    for (const [command, name, subcommands] of commands) {
      const top = await runIn(command, ['--help']);
      assert.equal(top.code, 0);
      assert.match(top.stdout, new RegExp(`Usage: eventter ${name}`));
      assert.match(top.stdout, /--data-dir <dir>/);
      assert.match(top.stdout, /Exit codes: 0 done, 1 refused/);
      for (const sub of subcommands) {
        assert.match(top.stdout, new RegExp(`\\n  ${sub}\\b`), `${name} --help lists ${sub}`);
        const help = await runIn(command, [sub, '--help']);
        assert.equal(help.code, 0, `${name} ${sub} --help`);
        assert.match(help.stdout, new RegExp(`Usage: eventter ${name} ${sub}`));
      }
    }
  });
});
