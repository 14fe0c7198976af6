import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { pino } from 'pino';
import { runPermissionsCommand } from '../../src/cli/permissions-command.js';
import { runUsersCommand } from '../../src/cli/users-command.js';
import { runVhostsCommand } from '../../src/cli/vhosts-command.js';
import { LOCAL_DATA_DIR } from '../../src/core/audit.js';
import { pendingAuditEvents } from '../../src/core/audit-outbox.js';
import { Broker, defaultBrokerOptions } from '../../src/core/broker.js';
import { MetadataStore } from '../../src/store/metadata-store.js';
import { type AdminCommand, runIn } from '../helpers/admin-cli.js';
import { adminApi, logRecords } from '../helpers/admin-http.js';
import { isExternalBroker, startBroker } from '../helpers/broker-under-test.js';
import { runCli } from '../helpers/cli-process.js';

const silent = pino({ level: 'silent' });
let root: string;
let count = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'eventter-admin-offline-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A data directory a broker has started on once (guest stored, vhost / seeded), then stopped. */
async function usedDataDir(): Promise<string> {
  const dataDir = join(root, `data-${count++}`);
  const broker = await Broker.open({ ...defaultBrokerOptions, dataDir, fsync: false }, silent);
  await broker.close();
  return dataDir;
}

const openBroker = (dataDir: string) =>
  Broker.open({ ...defaultBrokerOptions, dataDir, fsync: false }, silent);

const offline = (command: AdminCommand, dataDir: string, argv: string[], password?: string) =>
  runIn(command, [...argv, '--data-dir', dataDir], { osUser: 'ops', password });

describe('admin commands on a stopped broker (--data-dir)', () => {
  let held: Broker | undefined;
  afterEach(async () => {
    await held?.close();
    held = undefined;
  });

  it('change users, permissions and vhosts, which the broker serves at its next start', async () => {
    const dataDir = await usedDataDir();
    const steps: Array<[AdminCommand, string[], string, string?]> = [
      [runUsersCommand, ['add', 'app', '--tags', 'management'], "created user 'app'\n", 'app-pw'],
      [runVhostsCommand, ['add', 'orders', '--description', 'orders'], "created vhost 'orders'\n"],
      [
        runPermissionsCommand,
        ['set', 'app', '.*', '.*', '.*', '--vhost', 'orders'],
        "set permissions of user 'app' in vhost 'orders'\n",
      ],
      [
        runPermissionsCommand,
        ['set-topic', 'app', 'amq.topic', '^a', '.*', '--vhost', 'orders'],
        "set topic permissions of user 'app' on exchange 'amq.topic' in vhost 'orders'\n",
      ],
      [runUsersCommand, ['tags', 'app', 'monitoring'], "tags of user 'app': monitoring\n"],
      [runVhostsCommand, ['add', 'scratch'], "created vhost 'scratch'\n"],
      [runVhostsCommand, ['delete', 'scratch'], "deleted vhost 'scratch'\n"],
    ];
    for (const [command, argv, stdout, password] of steps) {
      const run = await offline(command, dataDir, argv, password);
      assert.deepEqual([run.code, run.stdout, run.stderr], [0, stdout, ''], argv.join(' '));
    }
    const users = await offline(runUsersCommand, dataDir, ['list', '--json']);
    assert.deepEqual(JSON.parse(users.stdout), [
      { name: 'app', tags: ['monitoring'], limits: {} },
      { name: 'guest', tags: ['administrator'], limits: {} },
    ]);
    const vhosts = await offline(runVhostsCommand, dataDir, ['list']);
    assert.match(vhosts.stdout, /^orders +orders$/m);
    assert.doesNotMatch(vhosts.stdout, /scratch/);
    const perms = await offline(runPermissionsCommand, dataDir, ['list', '--for', 'app', '--json']);
    assert.deepEqual(JSON.parse(perms.stdout), [
      { user: 'app', vhost: 'orders', configure: '.*', write: '.*', read: '.*' },
    ]);

    // The events wait in the metadata store, by the OS account from "local data-dir".
    const meta = await MetadataStore.open(join(dataDir, 'meta'), { fsync: false });
    const pending = pendingAuditEvents(meta).map((p) => p.event);
    await meta.close();
    assert.deepEqual(
      pending.map((e) => [e.event, e.by, e.from]),
      [
        ['user.created', 'ops', LOCAL_DATA_DIR],
        ['vhost.created', 'ops', LOCAL_DATA_DIR],
        ['permission.set', 'ops', LOCAL_DATA_DIR],
        ['topic-permission.set', 'ops', LOCAL_DATA_DIR],
        ['user.updated', 'ops', LOCAL_DATA_DIR],
        ['vhost.created', 'ops', LOCAL_DATA_DIR],
        ['vhost.deleted', 'ops', LOCAL_DATA_DIR],
      ],
    );

    // The broker serves them, and moves the events to its audit stream at start.
    held = await openBroker(dataDir);
    const app = await held.authenticate('app', 'app-pw', '10.0.0.1');
    assert.equal(app?.permissions('orders')?.allows('configure', 'q'), true);
    assert.equal(held.vhost('scratch'), undefined);
    assert.equal(held.vhostInfo('orders')?.description, 'orders');
    const stream = held.vhost('eventter.audit')?.findQueue('audit');
    assert.equal(stream?.messageCount, pending.length);
  });

  it('refuses while a broker holds the data directory, and names the way out', async () => {
    const dataDir = await usedDataDir();
    held = await openBroker(dataDir);
    for (const [command, argv] of [
      [runUsersCommand, ['list']],
      [runPermissionsCommand, ['set', 'guest', '', '', '']],
      [runVhostsCommand, ['delete', '/']],
    ] as Array<[AdminCommand, string[]]>) {
      const run = await offline(command, dataDir, argv);
      assert.equal(run.code, 1, argv.join(' '));
      assert.match(run.stderr, /is in use by process \d+ \(another broker\?\)/);
      assert.match(run.stderr, /leave out --data-dir to go through its HTTP API/);
    }
    assert.ok(held.vhost('/'), 'nothing changed');
  });

  it('refuses a missing directory, one no broker started on, and unknown names', async () => {
    const missing = await offline(runUsersCommand, join(root, 'none'), ['list']);
    assert.deepEqual(
      [missing.code, missing.stderr],
      [1, `eventter users: no data directory at ${join(root, 'none')}\n`],
    );
    const fresh = await offline(runUsersCommand, root, ['list']);
    assert.equal(fresh.code, 1);
    assert.match(fresh.stderr, /is not an EventterMQ data directory \(no FORMAT file\)/);

    const dataDir = await usedDataDir();
    const cases: Array<[AdminCommand, string[], RegExp]> = [
      [runPermissionsCommand, ['set', 'ghost', '.*', '.*', '.*'], /no user 'ghost'/],
      [runPermissionsCommand, ['set', 'guest', '.*', '.*', '.*', '--vhost', 'ghost'], /no vhost 'ghost'/],
      [runPermissionsCommand, ['set', 'guest', '(a|b)*', '.*', '.*'], /repeats a group/],
      [runUsersCommand, ['delete', 'ghost'], /no user 'ghost'/],
      [runVhostsCommand, ['delete', 'ghost'], /no vhost 'ghost'/],
      [runVhostsCommand, ['add', '/'], /vhost '\/' already exists/],
    ];
    for (const [command, argv, message] of cases) {
      const run = await offline(command, dataDir, argv);
      assert.equal(run.code, 1, argv.join(' '));
      assert.match(run.stderr, message, argv.join(' '));
    }
  });
});

describe('admin commands as processes', {
  skip: isExternalBroker() && 'needs the EventterMQ process',
}, () => {
  it('a user added offline (password from stdin) logs in over AMQP after start; offline refuses meanwhile', async () => {
    const dataDir = await usedDataDir();
    const add = await runCli(['users', 'add', 'worker', '--tags', 'management', '--data-dir', dataDir], {
      input: 'w0rker-pw\nignored second line\n',
    });
    assert.deepEqual([add.code, add.stdout.trim()], [0, "created user 'worker'"], add.stderr);
    const grant = await runCli(['permissions', 'set', 'worker', '.*', '.*', '.*', '--data-dir', dataDir]);
    assert.equal(grant.code, 0, grant.stderr);

    const lines: string[] = [];
    const broker = await startBroker({ dataDir, onLogLine: (line) => lines.push(line) });
    try {
      const conn = await amqp.connect(`amqp://worker:w0rker-pw@127.0.0.1:${broker.amqpPort}/%2F`);
      const channel = await conn.createChannel();
      await channel.assertQueue('worker.jobs', { durable: false });
      await conn.close();

      // The offline changes are logged at start, with their own time and author.
      const audited = logRecords(lines).filter((r) => r.audit === true);
      assert.deepEqual(
        audited.map((r) => [r.event, r.user, r.from]),
        [
          ['user.created', 'worker', LOCAL_DATA_DIR],
          ['permission.set', 'worker', LOCAL_DATA_DIR],
        ],
      );
      const who = await adminApi(broker.httpPort, 'worker:w0rker-pw')('GET', '/api/whoami');
      assert.deepEqual(who.json, { name: 'worker', tags: ['management'] });

      const refused = await runCli(['users', 'list', '--data-dir', dataDir]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /is in use by process \d+/);
    } finally {
      await broker.stop();
    }
  });

  it('is reachable from the eventter command with --help for each command', async () => {
    for (const command of ['users', 'permissions', 'vhosts']) {
      const run = await runCli([command, '--help']);
      assert.equal(run.code, 0, command);
      assert.match(run.stdout, new RegExp(`Usage: eventter ${command}`));
    }
    const top = await runCli(['--help']);
    for (const command of ['users', 'permissions', 'vhosts'])
      assert.match(top.stdout, new RegExp(`\\n  ${command} `));
  });
});
