import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PermissionPatternError } from '../../src/core/permission-pattern.js';
import { UserAdminError, UserRegistry } from '../../src/core/users.js';
import { MetadataStore } from '../../src/store/metadata-store.js';
import { rabbitSha256 as rabbitSha256With } from '../helpers/rabbit-hash.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function store(dir?: string): Promise<{ meta: MetadataStore; dir: string }> {
  const d = dir ?? (await mkdtemp(join(tmpdir(), 'users-')));
  if (!dir) dirs.push(d);
  return { meta: await MetadataStore.open(d, { fsync: false }), dir: d };
}

const rabbitSha256 = (password: string) => rabbitSha256With(password, Buffer.from([1, 2, 3, 4]));

describe('user registry', () => {
  it('creates guest once on a new data directory, with full permissions on / from loopback only', async () => {
    const { meta, dir } = await store();
    const users = await UserRegistry.open(meta, [], { createDefaultUser: true, loopbackUsers: ['guest'] });
    const guest = await users.authenticate('guest', 'guest', '127.0.0.1');
    assert.deepEqual([...(guest?.tags ?? [])], ['administrator']);
    assert.equal(guest?.permissions('/')?.allows('configure', 'anything'), true);
    assert.equal(await users.authenticate('guest', 'guest', '10.1.2.3'), undefined);
    assert.equal(await users.deleteUser('guest'), true);
    await meta.close();
    // Deleted stays deleted: the default user is made once, not at every start.
    const again = await store(dir);
    const reopened = await UserRegistry.open(again.meta, [], {
      createDefaultUser: true,
      loopbackUsers: ['guest'],
    });
    assert.equal(reopened.getUser('guest'), undefined);
    await again.meta.close();
  });

  it('removes a stored guest when the default user is switched off', async () => {
    const { meta, dir } = await store();
    await UserRegistry.open(meta, [], { createDefaultUser: true });
    await meta.close();
    const again = await store(dir);
    const users = await UserRegistry.open(again.meta, [], { createDefaultUser: false });
    assert.equal(users.getUser('guest'), undefined);
    assert.equal(again.meta.entries('permission\u0000').length, 0);
    await again.meta.close();
  });

  it('stores users with scrypt hashes, tags and permissions, and finds them after a restart', async () => {
    const { meta, dir } = await store();
    const users = await UserRegistry.open(meta, [], { createDefaultUser: false });
    assert.equal(
      await users.putUser('alice', { password: 's3cret', tags: ['management', 'management', ' '] }),
      'created',
    );
    await users.setPermissions('alice', '/', { configure: '^alice-', write: '.*', read: '^(alice|shared)-' });
    await users.setTopicPermissions('alice', '/', 'amq.topic', { write: '^{username}\\.', read: '.*' });
    const stored = JSON.stringify(meta.entries('user\u0000'));
    assert.doesNotMatch(stored, /s3cret/);
    assert.match(stored, /scrypt:/);
    await meta.close();

    const again = await store(dir);
    const reopened = await UserRegistry.open(again.meta, [], { createDefaultUser: false });
    const alice = await reopened.authenticate('alice', 's3cret', '10.0.0.9');
    assert.ok(alice);
    assert.deepEqual([...alice.tags], ['management']);
    const perms = alice.permissions('/');
    assert.equal(perms?.allows('configure', 'alice-jobs'), true);
    assert.equal(perms?.allows('configure', 'bob-jobs'), false);
    assert.equal(perms?.allows('read', 'shared-x'), true);
    assert.equal(alice.permissions('other'), undefined);
    const topic = alice.topicPermissions('/', 'amq.topic');
    assert.equal(topic?.allows('write', 'alice.sensor'), true);
    assert.equal(topic?.allows('write', 'bob.sensor'), false);
    assert.equal(await reopened.authenticate('alice', 'wrong', '10.0.0.9'), undefined);
    await again.meta.close();
  });

  it('applies permission changes to a logged-in principal at once', async () => {
    const { meta } = await store();
    const users = await UserRegistry.open(meta, [], { createDefaultUser: false });
    await users.putUser('app', { password: 'p' });
    const app = await users.authenticate('app', 'p', '10.0.0.1');
    assert.equal(app?.permissions('/'), undefined);
    await users.setPermissions('app', '/', { configure: '', write: '.*', read: '.*' });
    assert.equal(app?.permissions('/')?.allows('configure', 'q'), false);
    assert.equal(app?.permissions('/')?.allows('write', 'q'), true);
    await users.clearPermissions('app', '/');
    assert.equal(app?.permissions('/'), undefined);
    await meta.close();
  });

  it('refuses unsafe patterns, bad names and tags, and unknown users, storing nothing', async () => {
    const { meta } = await store();
    const users = await UserRegistry.open(meta, [], { createDefaultUser: false });
    await users.putUser('u', { password: 'p' });
    await assert.rejects(
      users.setPermissions('u', '/', { configure: '(a+)+', write: '', read: '' }),
      PermissionPatternError,
    );
    await assert.rejects(
      users.setPermissions('ghost', '/', { configure: '', write: '', read: '' }),
      UserAdminError,
    );
    await assert.rejects(users.putUser('', { password: 'p' }), UserAdminError);
    await assert.rejects(users.putUser('a\u0000b', { password: 'p' }), UserAdminError);
    await assert.rejects(users.putUser('x'.repeat(256), { password: 'p' }), UserAdminError);
    await assert.rejects(users.putUser('t', { password: 'p', tags: ['has space'] }), UserAdminError);
    await assert.rejects(users.putUser('h', { passwordHash: 'md5:abc' }), UserAdminError);
    assert.equal(meta.entries('permission\u0000').length, 0);
    assert.deepEqual(
      users.listUsers().map((u) => u.name),
      ['u'],
    );
    await meta.close();
  });

  it('keeps config-file users read-only, with full permissions on their vhosts', async () => {
    const { meta } = await store();
    const users = await UserRegistry.open(
      meta,
      [{ name: 'ops', password: 'pw', vhosts: ['/', 'shop'], loopbackOnly: false, tags: ['administrator'] }],
      { createDefaultUser: false },
    );
    const ops = await users.authenticate('ops', 'pw', '10.0.0.1');
    assert.equal(ops?.permissions('shop')?.allows('configure', 'x'), true);
    await assert.rejects(users.putUser('ops', { password: 'new' }), /defined in the config file/);
    await assert.rejects(users.deleteUser('ops'), /defined in the config file/);
    assert.equal(users.getUser('ops')?.source, 'config');
    assert.equal(meta.entries('user\u0000').length, 0);
    await meta.close();
  });

  it('verifies a RabbitMQ sha256 hash and replaces it with scrypt at the first login', async () => {
    const { meta } = await store();
    const users = await UserRegistry.open(meta, [], { createDefaultUser: false });
    await users.putUser('moved', { passwordHash: `rabbit-sha256:${rabbitSha256('from-rabbit')}` });
    assert.equal(await users.authenticate('moved', 'wrong', '10.0.0.1'), undefined);
    assert.ok(await users.authenticate('moved', 'from-rabbit', '10.0.0.1'));
    assert.match(users.passwordHashOf('moved') ?? '', /^scrypt:/);
    assert.ok(await users.authenticate('moved', 'from-rabbit', '10.0.0.1'));
    await meta.close();
  });

  it('drops the permissions of a deleted vhost', async () => {
    const { meta } = await store();
    const users = await UserRegistry.open(meta, [], { createDefaultUser: false });
    await users.putUser('u', { password: 'p' });
    await users.setPermissions('u', 'gone', { configure: '.*', write: '.*', read: '.*' });
    await users.setTopicPermissions('u', 'gone', 'amq.topic', { write: '.*', read: '.*' });
    await users.forgetVhost('gone');
    assert.deepEqual(users.listPermissions({ user: 'u' }), []);
    assert.deepEqual(users.listTopicPermissions({ user: 'u' }), []);
    assert.equal(meta.entries('topic-permission\u0000').length, 0);
    await meta.close();
  });
});

describe('logins under load', () => {
  /** A registry whose login gate runs one scrypt check at a time and lets one more wait per address. */
  async function tightRegistry() {
    const { meta } = await store();
    const users = await UserRegistry.open(meta, [], {
      createDefaultUser: true,
      loopbackUsers: ['guest'],
      loginGate: { maxConcurrent: 1, maxWaitingPerAddress: 1 },
    });
    await users.putUser('app', { password: 'right' });
    return { users, meta };
  }

  it('says why a login was refused', async () => {
    const { users, meta } = await tightRegistry();
    assert.equal(
      (await users.login('nobody', 'x', '127.0.0.1')).refused,
      "user 'nobody' - invalid credentials",
    );
    assert.equal(
      (await users.login('app', 'wrong', '127.0.0.1')).refused,
      "user 'app' - invalid credentials",
    );
    assert.equal(
      (await users.login('guest', 'guest', '10.0.0.1')).refused,
      "user 'guest' can only connect via localhost",
    );
    assert.match(
      (await users.login('u'.repeat(256), 'x', '127.0.0.1')).refused ?? '',
      /user name longer than 255/,
    );
    assert.match(
      (await users.login('app', 'p'.repeat(1025), '127.0.0.1')).refused ?? '',
      /password longer than 1024/,
    );
    assert.equal((await users.login('app', 'right', '127.0.0.1')).principal?.name, 'app');
    await meta.close();
  });

  it('refuses unchecked the logins an address has queued beyond the gate’s bound, not other addresses’', async () => {
    const { users, meta } = await tightRegistry();
    const results = await Promise.all([
      users.login('app', 'wrong-1', '10.0.0.1'), // checking
      users.login('app', 'wrong-2', '10.0.0.1'), // waiting
      users.login('app', 'wrong-3', '10.0.0.1'), // one too many
      users.login('app', 'right', '10.0.0.2'),
    ]);
    assert.deepEqual(
      results.map((r) => r.refused ?? r.principal.name),
      [
        "user 'app' - invalid credentials",
        "user 'app' - invalid credentials",
        "user 'app' - too many logins waiting from 10.0.0.1",
        'app',
      ],
    );
    await meta.close();
  });

  it('answers a repeated wrong password and simultaneous identical logins without queueing more checks', async () => {
    const { users, meta } = await tightRegistry();
    await users.login('app', 'wrong-a', '10.0.0.1');
    const results = await Promise.all([
      users.login('app', 'wrong-b', '10.0.0.1'), // checking
      users.login('app', 'wrong-c', '10.0.0.1'), // waiting: the gate is full for this address now
      users.login('app', 'wrong-a', '10.0.0.1'), // remembered: no check needed
    ]);
    assert.equal(results[2].refused, "user 'app' - invalid credentials");
    // A pool of connections logging in at once: one check for all of them.
    const pool = await Promise.all(Array.from({ length: 5 }, () => users.login('app', 'right', '10.0.0.3')));
    assert.deepEqual(
      pool.map((r) => r.principal?.name),
      ['app', 'app', 'app', 'app', 'app'],
    );
    await meta.close();
  });

  it('forgets remembered wrong passwords when the password changes', async () => {
    const { users, meta } = await tightRegistry();
    assert.equal((await users.login('app', 'next', '127.0.0.1')).principal, undefined);
    await users.putUser('app', { password: 'next' });
    assert.equal((await users.login('app', 'next', '127.0.0.1')).principal?.name, 'app');
    await meta.close();
  });
});
