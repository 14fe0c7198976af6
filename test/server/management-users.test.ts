import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { auditLogs, type ManagementFixture, openManagementFixture } from '../helpers/management-fixture.js';

let fx: ManagementFixture;

beforeEach(async () => {
  fx = await openManagementFixture();
});
afterEach(async () => {
  await fx.close();
});

// RabbitMQ 3.10's hash of "guest" (rabbit_password_hashing_sha256), from its own GET /api/users.
const RABBIT_GUEST_HASH = 'bIeepe+Che6661ZD1QypyeqtdtvQtwqg1m8pCEBuQ29Uvt9s';

describe('management API: whoami', () => {
  it('shows the logged-in user and its tags to any management user', async () => {
    assert.deepEqual((await fx.request('GET', '/api/whoami')).json, {
      name: 'guest',
      tags: ['administrator'],
    });
    assert.deepEqual((await fx.request('GET', '/api/whoami', { auth: 'mon:m' })).json, {
      name: 'mon',
      tags: ['monitoring'],
    });
  });
});

describe('management API: users', () => {
  it('creates (201), updates (204), shows and deletes a user; never a plain password', async () => {
    const created = await fx.request('PUT', '/api/users/alice', {
      body: { password: 's3cret', tags: 'management,policymaker' },
    });
    assert.equal(created.status, 201);
    const alice = (await fx.request('GET', '/api/users/alice')).json;
    assert.deepEqual(Object.keys(alice).sort(), [
      'hashing_algorithm',
      'limits',
      'name',
      'password_hash',
      'tags',
    ]);
    assert.equal(alice.name, 'alice');
    assert.deepEqual(alice.tags, ['management', 'policymaker']);
    assert.deepEqual(alice.limits, {});
    assert.equal(alice.hashing_algorithm, 'eventter_password_hashing_scrypt');
    assert.match(alice.password_hash, /^scrypt:/);
    assert.ok(!JSON.stringify(alice).includes('s3cret'));
    assert.equal((await fx.request('GET', '/api/whoami', { auth: 'alice:s3cret' })).status, 200);

    // Tags as an array; without a password the old one stays.
    const updated = await fx.request('PUT', '/api/users/alice', { body: { tags: ['monitoring'] } });
    assert.equal(updated.status, 204);
    assert.deepEqual((await fx.request('GET', '/api/whoami', { auth: 'alice:s3cret' })).json, {
      name: 'alice',
      tags: ['monitoring'],
    });

    const names = (await fx.request('GET', '/api/users')).json.map((u: { name: string }) => u.name);
    assert.deepEqual(names, ['alice', 'bob', 'guest', 'mon', 'plain', 'pol']);

    assert.equal((await fx.request('DELETE', '/api/users/alice')).status, 204);
    assert.equal((await fx.request('GET', '/api/users/alice')).status, 404);
    assert.equal((await fx.request('GET', '/api/whoami', { auth: 'alice:s3cret' })).status, 401);
    assert.deepEqual((await fx.request('DELETE', '/api/users/alice')).json, {
      error: 'not_found',
      reason: "no user 'alice'",
    });
  });

  it("takes RabbitMQ's password hashes and shows them back in RabbitMQ's form", async () => {
    const put = await fx.request('PUT', '/api/users/moved', {
      body: {
        password_hash: RABBIT_GUEST_HASH,
        hashing_algorithm: 'rabbit_password_hashing_sha256',
        tags: 'management',
      },
    });
    assert.equal(put.status, 201);
    const shown = (await fx.request('GET', '/api/users/moved')).json;
    assert.equal(shown.password_hash, RABBIT_GUEST_HASH);
    assert.equal(shown.hashing_algorithm, 'rabbit_password_hashing_sha256');
    assert.equal((await fx.request('GET', '/api/whoami', { auth: 'moved:guest' })).status, 200);

    // Our own scrypt hash round-trips: GET, then PUT the same fields back, and the password still works.
    await fx.request('PUT', '/api/users/round', { body: { password: 'trip', tags: 'management' } });
    const exported = (await fx.request('GET', '/api/users/round')).json;
    await fx.request('DELETE', '/api/users/round');
    const reimported = await fx.request('PUT', '/api/users/round', {
      body: {
        password_hash: exported.password_hash,
        hashing_algorithm: exported.hashing_algorithm,
        tags: 'management',
      },
    });
    assert.equal(reimported.status, 201);
    assert.equal((await fx.request('GET', '/api/whoami', { auth: 'round:trip' })).status, 200);

    // An empty hash: no password at all (EXTERNAL logins only).
    await fx.request('PUT', '/api/users/certonly', { body: { password_hash: '', tags: '' } });
    assert.equal((await fx.request('GET', '/api/users/certonly')).json.password_hash, '');
  });

  it('refuses bad input with 400 and the reason', async () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['alice', [1], /must be a JSON object/],
      ['alice', '{"password":', /not valid JSON/],
      ['alice', { password: 'a', password_hash: 'b', tags: '' }, /not both/],
      ['alice', { password: '', tags: '' }, /a password must be 1\.\.1024 bytes/],
      ['alice', { password: 'x'.repeat(1025), tags: '' }, /a password must be 1\.\.1024 bytes/],
      ['alice', { password: 7, tags: '' }, /password must be a string/],
      ['alice', { password: 'p', tags: 5 }, /tags must be a comma-separated string or an array/],
      ['alice', { password: 'p', tags: ['a b'] }, /bad tag "a b"/],
      ['alice', { password_hash: '!!!', tags: '' }, /password_hash is not base64/],
      ['alice', { password_hash: 'AAAA', tags: '' }, /rabbit-sha256 hash must decode to 36 bytes/],
      [
        'alice',
        { password_hash: 'AAAA', hashing_algorithm: 'nope', tags: '' },
        /unknown hashing_algorithm "nope"/,
      ],
      ['a'.repeat(256), { password: 'p', tags: '' }, /at most 255 characters/],
      ['bad%01name', { password: 'p', tags: '' }, /control characters/],
      ['guest', { password: 'p', tags: '' }, /defined in the config file/],
    ];
    for (const [name, body, reason] of cases) {
      const response = await fx.request('PUT', `/api/users/${name}`, { body });
      assert.equal(response.status, 400, `${name}: ${JSON.stringify(body)}`);
      assert.equal(response.json.error, 'bad_request');
      assert.match(response.json.reason, reason);
    }
    assert.equal((await fx.request('DELETE', '/api/users/guest')).status, 400);
    assert.equal(fx.broker.users.getUser('alice'), undefined);
    assert.deepEqual(auditLogs(fx), []);
  });

  it('answers 404 for unknown users on every user route', async () => {
    for (const url of [
      '/api/users/ghost',
      '/api/users/ghost/permissions',
      '/api/users/ghost/topic-permissions',
      '/api/user-limits/ghost',
    ]) {
      const response = await fx.request('GET', url);
      assert.equal(response.status, 404, url);
      assert.deepEqual(response.json, { error: 'not_found', reason: "no user 'ghost'" });
    }
    assert.equal(
      (await fx.request('PUT', '/api/user-limits/ghost/max-channels', { body: { value: 1 } })).status,
      404,
    );
  });

  it('lists a user with its permissions, and the users without any', async () => {
    await fx.request('PUT', '/api/users/alice', { body: { password: 'a', tags: '' } });
    await fx.request('PUT', '/api/permissions/shop/alice', {
      body: { configure: '', write: '.*', read: '^r' },
    });
    await fx.request('PUT', '/api/topic-permissions/shop/alice', {
      body: { exchange: 'amq.topic', write: '^a', read: '.*' },
    });
    assert.deepEqual((await fx.request('GET', '/api/users/alice/permissions')).json, [
      { user: 'alice', vhost: 'shop', configure: '', write: '.*', read: '^r' },
    ]);
    assert.deepEqual((await fx.request('GET', '/api/users/alice/topic-permissions')).json, [
      { user: 'alice', vhost: 'shop', exchange: 'amq.topic', write: '^a', read: '.*' },
    ]);
    const without = (await fx.request('GET', '/api/users/without-permissions')).json;
    assert.deepEqual(
      without.map((u: { name: string }) => u.name),
      ['mon'],
    );
  });

  it('needs the administrator tag', async () => {
    for (const [method, url] of [
      ['GET', '/api/users'],
      ['GET', '/api/users/guest'],
      ['PUT', '/api/users/x'],
      ['DELETE', '/api/users/bob'],
      ['GET', '/api/users/bob/permissions'],
      ['PUT', '/api/user-limits/bob/max-channels'],
    ]) {
      for (const auth of ['bob:secret', 'pol:p', 'mon:m']) {
        const response = await fx.request(method, url, {
          auth,
          body: method === 'PUT' ? { value: 1 } : undefined,
        });
        assert.equal(response.status, 403, `${auth} ${method} ${url}`);
        assert.deepEqual(response.json, { error: 'not_authorised', reason: 'Not administrator user' });
      }
    }
  });

  it('audits user changes without the password', async () => {
    await fx.request('PUT', '/api/users/alice', { body: { password: 'hunter2', tags: 'management' } });
    await fx.request('PUT', '/api/users/alice', { body: { password: 'hunter3', tags: 'management' } });
    await fx.request('PUT', '/api/users/alice', { body: { tags: '' } });
    await fx.request('DELETE', '/api/users/alice');
    const lines = auditLogs(fx);
    assert.deepEqual(
      lines.map((r) => [r.event, r.by, r.user, (r.details as { password?: string } | undefined)?.password]),
      [
        ['user.created', 'guest', 'alice', 'set'],
        ['user.updated', 'guest', 'alice', 'set'],
        ['user.updated', 'guest', 'alice', 'unchanged'],
        ['user.deleted', 'guest', 'alice', undefined],
      ],
    );
    const text = JSON.stringify(fx.logs);
    assert.ok(!text.includes('hunter'), 'no password in the log');
    assert.ok(!text.includes('scrypt:'), 'no hash in the log');
  });
});

describe('management API: user limits', () => {
  it('sets, shows and clears limits; negative means none', async () => {
    await fx.request('PUT', '/api/users/alice', { body: { password: 'a', tags: 'management' } });
    assert.deepEqual((await fx.request('GET', '/api/user-limits')).json, []);
    const set = await fx.request('PUT', '/api/user-limits/alice/max-connections', { body: { value: 3 } });
    assert.equal(set.status, 204);
    await fx.request('PUT', '/api/user-limits/alice/max-channels', { body: { value: 4 } });
    const expected = [{ user: 'alice', value: { 'max-connections': 3, 'max-channels': 4 } }];
    assert.deepEqual((await fx.request('GET', '/api/user-limits')).json, expected);
    assert.deepEqual((await fx.request('GET', '/api/user-limits/alice')).json, expected);
    assert.deepEqual((await fx.request('GET', '/api/users/alice')).json.limits, expected[0].value);
    assert.deepEqual(fx.broker.users.principal('alice')?.limits(), expected[0].value);
    // The user sees its own limits; another management user sees none of them.
    assert.deepEqual((await fx.request('GET', '/api/user-limits', { auth: 'alice:a' })).json, expected);
    assert.deepEqual((await fx.request('GET', '/api/user-limits', { auth: 'bob:secret' })).json, []);
    assert.equal((await fx.request('GET', '/api/user-limits/alice', { auth: 'bob:secret' })).status, 403);

    await fx.request('PUT', '/api/user-limits/alice/max-channels', { body: { value: -1 } });
    assert.equal((await fx.request('DELETE', '/api/user-limits/alice/max-connections')).status, 204);
    assert.equal((await fx.request('DELETE', '/api/user-limits/alice/max-connections')).status, 204);
    assert.deepEqual((await fx.request('GET', '/api/user-limits/alice')).json, []);
    assert.deepEqual(
      auditLogs(fx)
        .filter((r) => String(r.event).startsWith('user-limit'))
        .map((r) => [r.event, r.limit]),
      [
        ['user-limit.set', 'max-connections'],
        ['user-limit.set', 'max-channels'],
        ['user-limit.cleared', 'max-channels'],
        ['user-limit.cleared', 'max-connections'],
      ],
    );
  });

  it('refuses unknown limits and non-integer values', async () => {
    await fx.request('PUT', '/api/users/alice', { body: { password: 'a', tags: '' } });
    const cases: Array<[string, unknown, RegExp]> = [
      ['max-foo', { value: 1 }, /unknown user limit 'max-foo'/],
      ['max-queues', { value: 1 }, /unknown user limit 'max-queues'/],
      ['max-channels', { value: 1.5 }, /must be an integer/],
      ['max-channels', { value: '5' }, /must be an integer/],
      ['max-channels', {}, /value is required/],
    ];
    for (const [limit, body, reason] of cases) {
      const response = await fx.request('PUT', `/api/user-limits/alice/${limit}`, { body });
      assert.equal(response.status, 400, `${limit} ${JSON.stringify(body)}`);
      assert.match(response.json.reason, reason);
    }
  });
});
