import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MANAGEMENT_MAX_BODY_BYTES } from '../../src/server/management-api.js';
import {
  auditLogs,
  basic,
  type ManagementFixture,
  openManagementFixture,
} from '../helpers/management-fixture.js';

let fx: ManagementFixture;

beforeEach(async () => {
  fx = await openManagementFixture();
});
afterEach(async () => {
  await fx.close();
});

const policyBody = { pattern: '.*', definition: { 'max-length': 1 } };

describe('management API: authentication and tags', () => {
  it('answers 401 with WWW-Authenticate without credentials, with bad ones, or a malformed header', async () => {
    for (const authorization of [
      undefined,
      basic('guest:wrong'),
      basic('nobody:x'),
      'Bearer abc',
      'Basic !!',
    ]) {
      const response = await fx.app.inject({
        method: 'GET',
        url: '/api/policies',
        headers: authorization === undefined ? {} : { authorization },
      });
      assert.equal(response.statusCode, 401, String(authorization));
      assert.match(response.headers['www-authenticate'] as string, /^Basic realm=/);
      assert.deepEqual(response.json(), { error: 'not_authorized', reason: 'Login failed' });
    }
  });

  it('checks credentials before reading the body', async () => {
    const response = await fx.request('PUT', '/api/policies/%2F/p', {
      auth: 'guest:wrong',
      body: '{not json',
    });
    assert.equal(response.status, 401);
  });

  it('keeps loopback-only users local: the client address reaches the login', async () => {
    // guest is loopback-only; inject connects from 127.0.0.1, so it logs in.
    assert.equal((await fx.request('GET', '/api/whoami')).status, 200);
  });

  it('refuses users without a management tag with 403, on every route', async () => {
    for (const url of ['/api/whoami', '/api/policies', '/api/vhosts', '/api/users', '/api/vhost-limits']) {
      const response = await fx.request('GET', url, { auth: 'plain:x' });
      assert.equal(response.status, 403, url);
      assert.deepEqual(response.json, { error: 'not_authorised', reason: 'Not management user' });
    }
  });

  it('answers 403 when the user lacks the vhost', async () => {
    const attempts = [
      fx.request('GET', '/api/policies/%2F', { auth: 'pol:p' }),
      fx.request('GET', '/api/policies/%2F/p', { auth: 'pol:p' }),
      fx.request('PUT', '/api/policies/%2F/p', { auth: 'pol:p', body: policyBody }),
      fx.request('DELETE', '/api/policies/%2F/p', { auth: 'pol:p' }),
    ];
    for (const response of await Promise.all(attempts)) {
      assert.equal(response.status, 403);
      assert.deepEqual(response.json, {
        error: 'access_refused',
        reason: "user 'pol' has no access to vhost '/'",
      });
    }
    assert.deepEqual(fx.broker.policies.list(), []);
  });

  it('lets policymakers and administrators change policies, management users only list them', async () => {
    const byManager = await fx.request('PUT', '/api/policies/shop/p', {
      auth: 'bob:secret',
      body: policyBody,
    });
    assert.equal(byManager.status, 403);
    assert.deepEqual(byManager.json, { error: 'not_authorised', reason: 'Not policymaker user' });
    assert.equal((await fx.request('GET', '/api/policies/shop/p', { auth: 'bob:secret' })).status, 403);
    assert.equal((await fx.request('DELETE', '/api/policies/shop/p', { auth: 'bob:secret' })).status, 403);

    const byPolicymaker = await fx.request('PUT', '/api/policies/shop/p', {
      auth: 'pol:p',
      body: policyBody,
    });
    assert.equal(byPolicymaker.status, 201);
    assert.equal((await fx.request('GET', '/api/policies/shop/p', { auth: 'pol:p' })).status, 200);
    const listed = await fx.request('GET', '/api/policies/shop', { auth: 'bob:secret' });
    assert.deepEqual(
      listed.json.map((p: { name: string }) => p.name),
      ['p'],
    );
    // Administrators reach every vhost, permissions or not ('empty' has none for guest).
    assert.equal((await fx.request('PUT', '/api/policies/empty/q', { body: policyBody })).status, 201);
    // Monitoring users have no permissions in any vhost: they list nothing.
    assert.deepEqual((await fx.request('GET', '/api/policies', { auth: 'mon:m' })).json, []);
  });
});

describe('management API: policies', () => {
  it('creates (201), updates (204), reads and deletes a policy in vhost /', async () => {
    const created = await fx.request('PUT', '/api/policies/%2F/ttl', {
      body: {
        pattern: '^orders\\.',
        definition: { 'message-ttl': 60000, 'max-length': 100 },
        priority: 3,
        'apply-to': 'queues',
      },
    });
    assert.equal(created.status, 201);
    assert.equal(created.text, '');

    const one = await fx.request('GET', '/api/policies/%2F/ttl');
    assert.equal(one.status, 200);
    assert.deepEqual(one.json, {
      vhost: '/',
      name: 'ttl',
      pattern: '^orders\\.',
      'apply-to': 'queues',
      definition: { 'message-ttl': 60000, 'max-length': 100 },
      priority: 3,
    });
    assert.equal(fx.broker.policies.match('/', 'queue', 'orders.new')?.name, 'ttl');

    const updated = await fx.request('PUT', '/api/policies/%2F/ttl', {
      body: { pattern: '.*', definition: { expires: 5000 } },
    });
    assert.equal(updated.status, 204);
    assert.deepEqual((await fx.request('GET', '/api/policies/%2F/ttl')).json, {
      vhost: '/',
      name: 'ttl',
      pattern: '.*',
      'apply-to': 'all',
      definition: { expires: 5000 },
      priority: 0,
    });

    assert.equal((await fx.request('DELETE', '/api/policies/%2F/ttl')).status, 204);
    const gone = await fx.request('GET', '/api/policies/%2F/ttl');
    assert.equal(gone.status, 404);
    assert.deepEqual(gone.json, { error: 'not_found', reason: "no policy 'ttl' in vhost '/'" });
  });

  it('records every policy change in the audit trail with the user and address', async () => {
    await fx.request('PUT', '/api/policies/shop/p', { auth: 'pol:p', body: policyBody });
    await fx.request('DELETE', '/api/policies/shop/p', { auth: 'pol:p' });
    const events = auditLogs(fx).map((r) => [r.event, r.by, r.from, r.vhost, r.policy]);
    assert.deepEqual(events, [
      ['policy.set', 'pol', '127.0.0.1', 'shop', 'p'],
      ['policy.cleared', 'pol', '127.0.0.1', 'shop', 'p'],
    ]);
    const [set] = auditLogs(fx);
    assert.deepEqual(set.details, {
      pattern: '.*',
      'apply-to': 'all',
      priority: 0,
      definition: { 'max-length': 1 },
    });
    assert.equal(set.level, 'info');
    assert.equal(set.msg, 'audit');
  });

  it('lists per vhost and across the vhosts the user may use', async () => {
    await fx.request('PUT', '/api/policies/%2F/root', { body: policyBody });
    await fx.request('PUT', '/api/policies/shop/cart', {
      body: {
        pattern: '^c',
        'apply-to': 'exchanges',
        priority: 1,
        definition: { 'alternate-exchange': 'ae' },
      },
    });
    const names = (reply: { json: Array<{ name: string }> }) => reply.json.map((p) => p.name);
    assert.deepEqual(names(await fx.request('GET', '/api/policies')), ['root', 'cart']);
    assert.deepEqual(names(await fx.request('GET', '/api/policies', { auth: 'bob:secret' })), ['cart']);
    const shop = await fx.request('GET', '/api/policies/shop', { auth: 'bob:secret' });
    assert.equal(shop.status, 200);
    assert.deepEqual(shop.json, [
      {
        vhost: 'shop',
        name: 'cart',
        pattern: '^c',
        'apply-to': 'exchanges',
        definition: { 'alternate-exchange': 'ae' },
        priority: 1,
      },
    ]);
  });

  it('decodes names with reserved characters', async () => {
    const response = await fx.request('PUT', '/api/policies/shop/a%2Fb%20c', { body: policyBody });
    assert.equal(response.status, 201);
    assert.equal(fx.broker.policies.get('shop', 'a/b c')?.name, 'a/b c');
    assert.equal((await fx.request('GET', '/api/policies/shop/a%2Fb%20c')).json.name, 'a/b c');
  });

  it('answers 404 for an unknown vhost or a missing policy', async () => {
    for (const [method, url] of [
      ['GET', '/api/policies/ghost'],
      ['PUT', '/api/policies/ghost/p'],
    ]) {
      const response = await fx.request(method, url, { body: method === 'PUT' ? policyBody : undefined });
      assert.equal(response.status, 404, url);
      assert.deepEqual(response.json, { error: 'not_found', reason: "no vhost 'ghost'" });
    }
    const deleted = await fx.request('DELETE', '/api/policies/%2F/none');
    assert.equal(deleted.status, 404);
    assert.equal(deleted.json.error, 'not_found');
  });

  it('rejects bad bodies with 400 and the reason', async () => {
    const cases: Array<[unknown, RegExp]> = [
      ['{"pattern": ', /not valid JSON/],
      ['', /must be a JSON object/],
      [[1, 2], /must be a JSON object/],
      [{ definition: { 'max-length': 1 } }, /pattern is required/],
      [{ pattern: '.*' }, /definition is required/],
      [{ pattern: '.*', definition: { 'max-lenght': 1 } }, /unknown policy key "max-lenght"/],
      [{ pattern: '.*', definition: { 'max-priority': 10 } }, /cannot be set by a policy/],
      [{ pattern: '.*', definition: { 'message-ttl': -1 } }, /not a valid message TTL/],
      [{ pattern: '.*', definition: {} }, /no policy provided/],
      [{ pattern: '(', definition: { 'max-length': 1 } }, /invalid pattern/],
      [{ pattern: '.*', definition: { 'max-length': 1 }, 'apply-to': 'streams' }, /apply-to/],
      [{ pattern: '.*', definition: { 'max-length': 1 }, priority: 'high' }, /priority/],
      [{ pattern: '.*', definition: { 'max-length': 1 }, colour: 'red' }, /unknown field "colour"/],
    ];
    for (const [body, reason] of cases) {
      const response = await fx.request('PUT', '/api/policies/%2F/p', { body });
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(response.json.error, 'bad_request');
      assert.match(response.json.reason, reason);
    }
    assert.deepEqual(fx.broker.policies.list(), []);
    assert.deepEqual(auditLogs(fx), []);
  });

  it('accepts RabbitMQ export fields, a string priority and any content type', async () => {
    const response = await fx.request('PUT', '/api/policies/%2F/p', {
      body: JSON.stringify({
        vhost: '/',
        name: 'p',
        pattern: '.*',
        definition: { 'max-length': 1 },
        priority: '7',
      }),
      contentType: 'application/x-www-form-urlencoded',
    });
    assert.equal(response.status, 201);
    assert.equal(fx.broker.policies.get('/', 'p')?.priority, 7);
  });

  it('refuses oversized bodies with 413', async () => {
    const response = await fx.request('PUT', '/api/policies/%2F/p', {
      body: { pattern: 'x'.repeat(MANAGEMENT_MAX_BODY_BYTES), definition: { 'max-length': 1 } },
    });
    assert.equal(response.status, 413);
    assert.equal(typeof response.json.reason, 'string');
  });

  it('leaves other routes to the application', async () => {
    assert.equal((await fx.app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
    assert.equal((await fx.request('GET', '/api/nothing')).status, 404);
  });
});
