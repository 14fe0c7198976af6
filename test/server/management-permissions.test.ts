import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { auditLogs, type ManagementFixture, openManagementFixture } from '../helpers/management-fixture.js';

let fx: ManagementFixture;

beforeEach(async () => {
  fx = await openManagementFixture();
  await fx.request('PUT', '/api/users/alice', { body: { password: 'a', tags: 'management' } });
  fx.logs.length = 0;
});
afterEach(async () => {
  await fx.close();
});

describe('management API: permissions', () => {
  it('sets (201, then 204), shows, lists and clears permissions; they apply at once', async () => {
    const body = { configure: '^alice\\.', write: '.*', read: '' };
    assert.equal((await fx.request('PUT', '/api/permissions/shop/alice', { body })).status, 201);
    assert.equal(
      (await fx.request('PUT', '/api/permissions/shop/alice', { body: { ...body, read: '.*' } })).status,
      204,
    );
    const entry = { user: 'alice', vhost: 'shop', configure: '^alice\\.', write: '.*', read: '.*' };
    assert.deepEqual((await fx.request('GET', '/api/permissions/shop/alice')).json, entry);
    const all = (await fx.request('GET', '/api/permissions')).json;
    assert.ok(all.some((e: typeof entry) => JSON.stringify(e) === JSON.stringify(entry)));
    assert.deepEqual((await fx.request('GET', '/api/vhosts/shop/permissions')).json, [
      entry,
      { user: 'bob', vhost: 'shop', configure: '.*', write: '.*', read: '.*' },
      { user: 'guest', vhost: 'shop', configure: '.*', write: '.*', read: '.*' },
      { user: 'pol', vhost: 'shop', configure: '.*', write: '.*', read: '.*' },
    ]);
    const alice = fx.broker.users.principal('alice')!;
    assert.equal(alice.permissions('shop')?.allows('configure', 'alice.q'), true);
    assert.equal(alice.permissions('shop')?.allows('configure', 'bob.q'), false);

    assert.equal((await fx.request('DELETE', '/api/permissions/shop/alice')).status, 204);
    assert.equal(alice.permissions('shop'), undefined);
    const gone = await fx.request('GET', '/api/permissions/shop/alice');
    assert.deepEqual([gone.status, gone.json.error], [404, 'not_found']);
    assert.equal((await fx.request('DELETE', '/api/permissions/shop/alice')).status, 404);

    assert.deepEqual(
      auditLogs(fx).map((r) => [r.event, r.by, r.user, r.vhost, JSON.stringify(r.details ?? null)]),
      [
        ['permission.set', 'guest', 'alice', 'shop', JSON.stringify(body)],
        ['permission.set', 'guest', 'alice', 'shop', JSON.stringify({ ...body, read: '.*' })],
        ['permission.cleared', 'guest', 'alice', 'shop', 'null'],
      ],
    );
  });

  it('answers 404 for an unknown user or vhost', async () => {
    const body = { configure: '.*', write: '.*', read: '.*' };
    const cases: Array<[string, string, string]> = [
      ['PUT', '/api/permissions/ghost/alice', "no vhost 'ghost'"],
      ['PUT', '/api/permissions/shop/ghost', "no user 'ghost'"],
      ['GET', '/api/permissions/ghost/alice', "no vhost 'ghost'"],
      ['DELETE', '/api/permissions/shop/ghost', "no user 'ghost'"],
      ['GET', '/api/vhosts/ghost/permissions', "no vhost 'ghost'"],
      ['PUT', '/api/topic-permissions/ghost/alice', "no vhost 'ghost'"],
      ['GET', '/api/topic-permissions/shop/ghost', "no user 'ghost'"],
      ['GET', '/api/vhosts/ghost/topic-permissions', "no vhost 'ghost'"],
    ];
    for (const [method, url, reason] of cases) {
      const response = await fx.request(method, url, { body: method === 'PUT' ? body : undefined });
      assert.equal(response.status, 404, `${method} ${url}`);
      assert.deepEqual(response.json, { error: 'not_found', reason });
    }
  });

  it('refuses bad bodies and unsafe patterns with 400 and the reason', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ configure: '.*', write: '.*' }, /read is required/],
      [{ configure: 1, write: '.*', read: '.*' }, /configure must be a string/],
      ['"text"', /must be a JSON object/],
      [{ configure: '(', write: '.*', read: '.*' }, /is not a valid regular expression/],
      [{ configure: '(a+)+$', write: '.*', read: '.*' }, /repeats a group that itself repeats/],
      [{ configure: 'x'.repeat(1025), write: '.*', read: '.*' }, /longer than 1024 characters/],
    ];
    for (const [body, reason] of cases) {
      const response = await fx.request('PUT', '/api/permissions/shop/alice', { body });
      assert.equal(response.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(response.json.error, 'bad_request');
      assert.match(response.json.reason, reason);
    }
    assert.deepEqual(fx.broker.users.listPermissions({ user: 'alice' }), []);
    assert.deepEqual(auditLogs(fx), []);
  });

  it('needs the administrator tag', async () => {
    for (const [method, url] of [
      ['GET', '/api/permissions'],
      ['GET', '/api/permissions/shop/bob'],
      ['PUT', '/api/permissions/shop/bob'],
      ['DELETE', '/api/permissions/shop/bob'],
      ['GET', '/api/vhosts/shop/permissions'],
      ['GET', '/api/topic-permissions'],
      ['PUT', '/api/topic-permissions/shop/bob'],
      ['DELETE', '/api/topic-permissions/shop/bob'],
    ]) {
      const response = await fx.request(method, url, {
        auth: 'bob:secret',
        body: method === 'PUT' ? { configure: '.*', write: '.*', read: '.*', exchange: 'x' } : undefined,
      });
      assert.equal(response.status, 403, `${method} ${url}`);
      assert.equal(response.json.reason, 'Not administrator user');
    }
    assert.equal(fx.broker.users.principal('bob')?.permissions('shop')?.source.read, '.*');
  });
});

describe('management API: topic permissions', () => {
  it('sets per exchange, lists, and clears one exchange or all', async () => {
    const put = (exchange: string, write: string) =>
      fx.request('PUT', '/api/topic-permissions/shop/alice', { body: { exchange, write, read: '.*' } });
    assert.equal((await put('amq.topic', '^a\\.')).status, 201);
    assert.equal((await put('events', '^{username}\\.')).status, 204);
    const entries = [
      { user: 'alice', vhost: 'shop', exchange: 'amq.topic', write: '^a\\.', read: '.*' },
      { user: 'alice', vhost: 'shop', exchange: 'events', write: '^{username}\\.', read: '.*' },
    ];
    assert.deepEqual((await fx.request('GET', '/api/topic-permissions/shop/alice')).json, entries);
    assert.deepEqual((await fx.request('GET', '/api/topic-permissions')).json, entries);
    assert.deepEqual((await fx.request('GET', '/api/vhosts/shop/topic-permissions')).json, entries);
    const topic = fx.broker.users.principal('alice')!.topicPermissions('shop', 'events');
    assert.equal(topic?.allows('write', 'alice.x'), true);
    assert.equal(topic?.allows('write', 'bob.x'), false);

    const one = await fx.request('DELETE', '/api/topic-permissions/shop/alice?exchange=events');
    assert.equal(one.status, 204);
    assert.deepEqual((await fx.request('GET', '/api/topic-permissions/shop/alice')).json, [entries[0]]);
    assert.equal((await fx.request('DELETE', '/api/topic-permissions/shop/alice')).status, 204);
    assert.equal((await fx.request('GET', '/api/topic-permissions/shop/alice')).status, 404);
    assert.equal((await fx.request('DELETE', '/api/topic-permissions/shop/alice')).status, 404);
    assert.deepEqual(
      auditLogs(fx).map((r) => [r.event, r.exchange]),
      [
        ['topic-permission.set', 'amq.topic'],
        ['topic-permission.set', 'events'],
        ['topic-permission.cleared', 'events'],
        ['topic-permission.cleared', undefined],
      ],
    );
  });

  it('refuses bad bodies with 400', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ write: '.*', read: '.*' }, /exchange is required/],
      [{ exchange: 'x', write: '(', read: '.*' }, /not a valid regular expression/],
      [{ exchange: 'x'.repeat(256), write: '.*', read: '.*' }, /at most 255 bytes/],
    ];
    for (const [body, reason] of cases) {
      const response = await fx.request('PUT', '/api/topic-permissions/shop/alice', { body });
      assert.equal(response.status, 400, JSON.stringify(body).slice(0, 60));
      assert.match(response.json.reason, reason);
    }
    const twice = await fx.request('DELETE', '/api/topic-permissions/shop/alice?exchange=a&exchange=b');
    assert.equal(twice.status, 400);
  });
});
