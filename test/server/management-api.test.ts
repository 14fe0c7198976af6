import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { PolicyRegistry } from '../../src/core/policies.js';
import { UserRegistry } from '../../src/core/users.js';
import { buildHttpApp } from '../../src/server/http-server.js';
import { createLogger } from '../../src/server/logger.js';
import { MANAGEMENT_MAX_BODY_BYTES, registerManagementRoutes } from '../../src/server/management-api.js';
import { MetadataStore } from '../../src/store/metadata-store.js';

const logger = createLogger('silent');
const users = new UserRegistry([
  { name: 'guest', password: 'guest', vhosts: ['/', 'shop'], loopbackOnly: true },
  { name: 'bob', password: 'secret', vhosts: ['shop'], loopbackOnly: false },
]);
const VHOSTS = new Set(['/', 'shop', 'empty']);

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const GUEST = basic('guest', 'guest');
const BOB = basic('bob', 'secret');

let root: string;
let dirCount = 0;
let app: FastifyInstance;
let store: MetadataStore;
let policies: PolicyRegistry;
const remoteAddresses: Array<string | undefined> = [];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'eventter-mgmt-'));
});
after(async () => {
  await app?.close();
  await store?.close();
  await rm(root, { recursive: true, force: true });
});

beforeEach(async () => {
  await app?.close();
  await store?.close();
  store = await MetadataStore.open(join(root, `meta-${dirCount++}`), { fsync: false });
  policies = new PolicyRegistry(store);
  app = buildHttpApp({ logger, health: () => ({ status: 'ok', uptimeSeconds: 0 }) });
  registerManagementRoutes(app, {
    policies,
    authenticate: (user, password, remoteAddress) => {
      remoteAddresses.push(remoteAddress);
      return users.authenticate(user, password, remoteAddress);
    },
    vhostExists: (vhost) => VHOSTS.has(vhost),
    logger,
  });
  await app.ready();
});

function put(url: string, body: unknown, authorization = GUEST, contentType = 'application/json') {
  return app.inject({
    method: 'PUT',
    url,
    headers: { authorization, 'content-type': contentType },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const get = (url: string, authorization = GUEST) =>
  app.inject({ method: 'GET', url, headers: { authorization } });

describe('management API: authentication', () => {
  it('answers 401 with WWW-Authenticate without credentials, with bad ones, or a malformed header', async () => {
    for (const authorization of [
      undefined,
      basic('guest', 'wrong'),
      basic('nobody', 'x'),
      'Bearer abc',
      'Basic !!',
    ]) {
      const response = await app.inject({
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
    const response = await put('/api/policies/%2F/p', '{not json', basic('guest', 'wrong'));
    assert.equal(response.statusCode, 401);
  });

  it('passes the client address so loopback-only users stay local', async () => {
    remoteAddresses.length = 0;
    await get('/api/policies');
    assert.deepEqual(remoteAddresses, ['127.0.0.1']);
  });

  it('answers 403 when the user lacks the vhost', async () => {
    const attempts = [
      get('/api/policies/%2F', BOB),
      get('/api/policies/%2F/p', BOB),
      put('/api/policies/%2F/p', { pattern: '.*', definition: { 'max-length': 1 } }, BOB),
      app.inject({ method: 'DELETE', url: '/api/policies/%2F/p', headers: { authorization: BOB } }),
    ];
    for (const response of await Promise.all(attempts)) {
      assert.equal(response.statusCode, 403);
      assert.deepEqual(response.json(), {
        error: 'access_refused',
        reason: "user 'bob' has no access to vhost '/'",
      });
    }
    assert.deepEqual(policies.list(), []);
  });
});

describe('management API: policies', () => {
  it('creates (201), updates (204), reads and deletes a policy in vhost /', async () => {
    const created = await put('/api/policies/%2F/ttl', {
      pattern: '^orders\\.',
      definition: { 'message-ttl': 60000, 'max-length': 100 },
      priority: 3,
      'apply-to': 'queues',
    });
    assert.equal(created.statusCode, 201);
    assert.equal(created.body, '');

    const expected = {
      vhost: '/',
      name: 'ttl',
      pattern: '^orders\\.',
      'apply-to': 'queues',
      definition: { 'message-ttl': 60000, 'max-length': 100 },
      priority: 3,
    };
    const one = await get('/api/policies/%2F/ttl');
    assert.equal(one.statusCode, 200);
    assert.deepEqual(one.json(), expected);
    assert.equal(policies.match('/', 'queue', 'orders.new')?.name, 'ttl');

    const updated = await put('/api/policies/%2F/ttl', { pattern: '.*', definition: { expires: 5000 } });
    assert.equal(updated.statusCode, 204);
    assert.deepEqual((await get('/api/policies/%2F/ttl')).json(), {
      vhost: '/',
      name: 'ttl',
      pattern: '.*',
      'apply-to': 'all',
      definition: { expires: 5000 },
      priority: 0,
    });

    const deleted = await app.inject({
      method: 'DELETE',
      url: '/api/policies/%2F/ttl',
      headers: { authorization: GUEST },
    });
    assert.equal(deleted.statusCode, 204);
    const gone = await get('/api/policies/%2F/ttl');
    assert.equal(gone.statusCode, 404);
    assert.deepEqual(gone.json(), { error: 'not_found', reason: "no policy 'ttl' in vhost '/'" });
  });

  it('lists per vhost and across the vhosts the user may use', async () => {
    await policies.set({
      vhost: '/',
      name: 'root',
      pattern: '.*',
      applyTo: 'all',
      priority: 0,
      definition: { 'max-length': 1 },
    });
    await policies.set({
      vhost: 'shop',
      name: 'cart',
      pattern: '^c',
      applyTo: 'exchanges',
      priority: 1,
      definition: { 'alternate-exchange': 'ae' },
    });
    assert.deepEqual(
      (await get('/api/policies')).json().map((p: { name: string }) => p.name),
      ['root', 'cart'],
    );
    assert.deepEqual(
      (await get('/api/policies', BOB)).json().map((p: { name: string }) => p.name),
      ['cart'],
    );
    const shop = await get('/api/policies/shop', BOB);
    assert.equal(shop.statusCode, 200);
    assert.deepEqual(shop.json(), [
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
    const response = await put('/api/policies/shop/a%2Fb%20c', {
      pattern: '.*',
      definition: { 'max-length': 1 },
    });
    assert.equal(response.statusCode, 201);
    assert.equal(policies.get('shop', 'a/b c')?.name, 'a/b c');
    assert.equal((await get('/api/policies/shop/a%2Fb%20c')).json().name, 'a/b c');
  });

  it('answers 404 for an unknown vhost or a missing policy', async () => {
    const guestOnUnknown = new UserRegistry([
      { name: 'root', password: 'r', vhosts: ['ghost'], loopbackOnly: false },
    ]);
    const ghostApp = buildHttpApp({ logger, health: () => ({ status: 'ok', uptimeSeconds: 0 }) });
    registerManagementRoutes(ghostApp, {
      policies,
      authenticate: (u, p, a) => guestOnUnknown.authenticate(u, p, a),
      vhostExists: (vhost) => VHOSTS.has(vhost),
    });
    const response = await ghostApp.inject({
      method: 'GET',
      url: '/api/policies/ghost',
      headers: { authorization: basic('root', 'r') },
    });
    assert.equal(response.statusCode, 404);
    assert.deepEqual(response.json(), { error: 'not_found', reason: "no vhost 'ghost'" });
    await ghostApp.close();

    const deleted = await app.inject({
      method: 'DELETE',
      url: '/api/policies/%2F/none',
      headers: { authorization: GUEST },
    });
    assert.equal(deleted.statusCode, 404);
    assert.equal(deleted.json().error, 'not_found');
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
      const response = await put('/api/policies/%2F/p', body);
      assert.equal(response.statusCode, 400, JSON.stringify(body));
      const json = response.json();
      assert.equal(json.error, 'bad_request');
      assert.match(json.reason, reason);
    }
    assert.deepEqual(policies.list(), []);
  });

  it('accepts RabbitMQ export fields, a string priority and any content type', async () => {
    const response = await put(
      '/api/policies/%2F/p',
      JSON.stringify({
        vhost: '/',
        name: 'p',
        pattern: '.*',
        definition: { 'max-length': 1 },
        priority: '7',
      }),
      GUEST,
      'application/x-www-form-urlencoded',
    );
    assert.equal(response.statusCode, 201);
    assert.equal(policies.get('/', 'p')?.priority, 7);
  });

  it('refuses oversized bodies with 413', async () => {
    const response = await put('/api/policies/%2F/p', {
      pattern: 'x'.repeat(MANAGEMENT_MAX_BODY_BYTES),
      definition: { 'max-length': 1 },
    });
    assert.equal(response.statusCode, 413);
    assert.equal(typeof response.json().reason, 'string');
  });

  it('leaves other routes to the application', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
    assert.equal(
      (await app.inject({ method: 'GET', url: '/api/nothing', headers: { authorization: GUEST } }))
        .statusCode,
      404,
    );
  });
});
