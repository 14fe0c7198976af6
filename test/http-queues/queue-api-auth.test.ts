import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type InProcessApi, openInProcessApi } from './in-process-api.js';

/**
 * HTTP Basic with the broker's users and RabbitMQ's permission rules (Zaqar leaves auth to keystone; we
 * don't): 401 without a valid login, guest from loopback only, 403 without the permission an operation needs.
 */

let api: InProcessApi;

before(async () => {
  api = await openInProcessApi(['/', 'shop', 'empty']);
  const users = api.broker.users;
  await users.putUser('producer', { password: 'p' });
  await users.setPermissions('producer', 'shop', { configure: '^$', write: '.*', read: '^$' });
  await users.putUser('worker', { password: 'w' });
  await users.setPermissions('worker', 'shop', { configure: '^$', write: '^$', read: '^jobs$' });
  await users.putUser('admin', { password: 'a' });
  await users.setPermissions('admin', 'shop', { configure: '.*', write: '.*', read: '.*' });
  await users.putUser('stranger', { password: 's' });
});
after(() => api.close());

const shop = { 'x-project-id': 'shop' };

describe('HTTP queue API: authentication', () => {
  it('answers 401 with WWW-Authenticate and a JSON body without a valid login', async () => {
    for (const auth of [null, 'guest:wrong', 'nobody:x']) {
      const res = await api.request({ method: 'GET', url: '/v2/queues', auth });
      assert.equal(res.status, 401, `auth ${auth}`);
      assert.match(String(res.headers['www-authenticate']), /^Basic realm=/);
      const body = res.body as { title: string; description: string };
      assert.equal(body.title, 'Unauthorized');
      assert.equal(typeof body.description, 'string');
    }
    const malformed = await api.request({
      method: 'GET',
      url: '/v2/queues',
      auth: null,
      headers: { authorization: 'Bearer abc' },
    });
    assert.equal(malformed.status, 401);
  });

  it('lets guest in from loopback only', async () => {
    const remote = await api.request({ method: 'GET', url: '/v2/queues', remoteAddress: '192.0.2.10' });
    assert.equal(remote.status, 401);
    const local = await api.request({ method: 'GET', url: '/v2/queues', remoteAddress: '127.0.0.1' });
    assert.equal(local.status, 200);
    const producer = await api.request({
      method: 'GET',
      url: '/v2/queues',
      auth: 'producer:p',
      headers: shop,
      remoteAddress: '192.0.2.10',
    });
    assert.equal(producer.status, 200);
  });

  it('authenticates before it checks headers (a stranger learns nothing from a 400)', async () => {
    const res = await api.request({
      method: 'GET',
      url: '/v2/queues',
      auth: null,
      headers: { 'client-id': undefined },
    });
    assert.equal(res.status, 401);
  });
});

describe('HTTP queue API: projects are vhosts', () => {
  it('works in vhost / without X-Project-ID and in the named vhost with it', async () => {
    const put = await api.request({ method: 'PUT', url: '/v2/queues/in-default' });
    assert.equal(put.status, 201);
    assert.ok(api.broker.vhost('/')?.findQueue('in-default'));
    const shopPut = await api.request({
      method: 'PUT',
      url: '/v2/queues/in-shop',
      auth: 'admin:a',
      headers: shop,
    });
    assert.equal(shopPut.status, 201);
    assert.ok(api.broker.vhost('shop')?.findQueue('in-shop'));
    assert.equal(api.broker.vhost('/')?.findQueue('in-shop'), undefined);
  });

  it('refuses a project the user has no access to, and one that does not exist, with 403', async () => {
    const noAccess = await api.request({
      method: 'GET',
      url: '/v2/queues',
      auth: 'stranger:s',
      headers: shop,
    });
    assert.equal(noAccess.status, 403);
    assert.deepEqual(Object.keys(noAccess.body as object).sort(), ['description', 'title']);
    const missing = await api.request({
      method: 'GET',
      url: '/v2/queues',
      headers: { 'x-project-id': 'nowhere' },
    });
    assert.equal(missing.status, 403);
  });
});

describe('HTTP queue API: permissions as in RabbitMQ', () => {
  before(async () => {
    await api.request({ method: 'PUT', url: '/v2/queues/jobs', auth: 'admin:a', headers: shop });
    await api.request({ method: 'PUT', url: '/v2/queues/other', auth: 'admin:a', headers: shop });
  });

  const as = (
    auth: string,
    method: 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    payload?: object,
  ) => api.request({ method, url, auth, headers: shop, payload });

  it('creating and deleting a queue need configure', async () => {
    assert.equal((await as('producer:p', 'PUT', '/v2/queues/new-one')).status, 403);
    assert.equal((await as('worker:w', 'DELETE', '/v2/queues/jobs')).status, 403);
    assert.equal((await as('admin:a', 'PUT', '/v2/queues/new-one')).status, 201);
    assert.equal((await as('admin:a', 'DELETE', '/v2/queues/new-one')).status, 204);
  });

  it('posting needs write on the default exchange; creating the queue on the way needs configure', async () => {
    const post = { messages: [{ body: 1 }] };
    assert.equal((await as('producer:p', 'POST', '/v2/queues/jobs/messages', post)).status, 201);
    assert.equal((await as('worker:w', 'POST', '/v2/queues/jobs/messages', post)).status, 403);
    const lazy = await as('producer:p', 'POST', '/v2/queues/not-yet/messages', post);
    assert.equal(lazy.status, 403);
    assert.equal(api.broker.vhost('shop')?.findQueue('not-yet'), undefined);
  });

  it('claiming, listing, reading and deleting messages need read on the queue', async () => {
    assert.equal((await as('worker:w', 'POST', '/v2/queues/jobs/claims', {})).status, 201);
    assert.equal((await as('worker:w', 'GET', '/v2/queues/jobs/messages')).status, 200);
    assert.equal((await as('worker:w', 'POST', '/v2/queues/other/claims', {})).status, 403);
    assert.equal((await as('worker:w', 'GET', '/v2/queues/other/messages')).status, 403);
    assert.equal((await as('producer:p', 'POST', '/v2/queues/jobs/claims', {})).status, 403);
    assert.equal((await as('producer:p', 'DELETE', '/v2/queues/jobs/messages?pop=1')).status, 403);
    assert.equal((await as('producer:p', 'POST', '/v2/queues/jobs/purge')).status, 403);
  });

  it('refusals carry RabbitMQ-style reasons in {title, description}', async () => {
    const res = await as('worker:w', 'POST', '/v2/queues/other/claims', {});
    assert.deepEqual(res.body, {
      title: 'Not authorized',
      description: "access to queue 'other' in vhost 'shop' refused for user 'worker'",
    });
  });
});

describe('HTTP queue API: ping, health, OPTIONS', () => {
  it('answers ping and HEAD ping with 204, health with the vhost’s message volume', async () => {
    assert.equal((await api.request({ method: 'GET', url: '/v2/ping' })).status, 204);
    assert.equal((await api.request({ method: 'HEAD', url: '/v2/ping' })).status, 204);
    await api.request({
      method: 'POST',
      url: '/v2/queues/volume/messages',
      payload: { messages: [{ body: 1 }] },
    });
    const health = await api.request({ method: 'GET', url: '/v2/health' });
    assert.equal(health.status, 200);
    const body = health.body as {
      storage_reachable: boolean;
      message_volume: { free: number; total: number };
    };
    assert.equal(body.storage_reachable, true);
    assert.ok(body.message_volume.free >= 1);
    assert.equal((await api.request({ method: 'GET', url: '/v2/ping', auth: null })).status, 401);
  });

  it('lists a resource’s methods for OPTIONS, and in the Allow header of a 405', async () => {
    const options = await api.request({ method: 'OPTIONS', url: '/v2/queues/any/claims/x' });
    assert.equal(options.status, 200);
    assert.equal(options.headers.allow, 'GET, PATCH, DELETE, OPTIONS');
    const wrong = await api.request({ method: 'PUT', url: '/v2/queues/any/stats' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.allow, 'GET, OPTIONS');
  });
});
