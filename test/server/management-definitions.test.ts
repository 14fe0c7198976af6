import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Broker } from '../../src/core/broker.js';
import type { DefinitionsJson } from '../../src/core/definitions-format.js';
import { managementApp, openBroker, populate, removeBrokerDirs } from '../core/definitions-helpers.js';

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const GUEST = basic('guest', 'guest');
const ALICE = basic('alice', 'alice-secret'); // management tag, not administrator

let broker: Broker;
let app: FastifyInstance;

before(async () => {
  broker = await openBroker();
  await populate(broker);
  app = managementApp(broker);
  await app.ready();
});

after(async () => {
  await app.close();
  await broker.close();
  await removeBrokerDirs();
});

const get = (url: string, authorization = GUEST) =>
  app.inject({ method: 'GET', url, headers: { authorization } });
const post = (url: string, body: unknown, authorization = GUEST) =>
  app.inject({
    method: 'POST',
    url,
    headers: { authorization, 'content-type': 'application/json' },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('management API: definitions', () => {
  it('GET /api/definitions answers the whole broker; ?download names an attachment', async () => {
    const res = await get('/api/definitions');
    assert.equal(res.statusCode, 200);
    const body = res.json() as DefinitionsJson;
    assert.equal(body.product_name, 'EventterMQ');
    assert.deepEqual(
      body.vhosts.map((v) => v.name),
      ['/', 'empty', 'shop'],
    );
    assert.deepEqual(body, broker.definitions.export()?.definitions);
    const download = await get('/api/definitions?download=rabbit%20defs.json');
    assert.equal(download.headers['content-disposition'], 'attachment; filename="rabbit_defs.json"');
  });

  it('GET /api/definitions/:vhost answers one vhost, 404 for a missing one', async () => {
    const res = await get('/api/definitions/shop');
    assert.equal(res.statusCode, 200);
    const body = res.json() as { queues: Array<{ name: string; vhost?: string }>; users?: unknown };
    assert.equal(body.users, undefined);
    assert.equal(body.queues.length, 5);
    assert.equal(body.queues[0].vhost, undefined);
    const missing = await get('/api/definitions/nowhere');
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), { error: 'not_found', reason: 'vhost_not_found' });
  });

  it('only administrators may export or import (403, as every tag refusal of the management API)', async () => {
    for (const res of [await get('/api/definitions', ALICE), await post('/api/definitions', {}, ALICE)]) {
      assert.equal(res.statusCode, 403);
      assert.deepEqual(res.json(), { error: 'not_authorised', reason: 'Not administrator user' });
    }
    const anonymous = await app.inject({ method: 'GET', url: '/api/definitions' });
    assert.equal(anonymous.statusCode, 401);
  });

  it('POST imports (204), idempotently; a vhost import goes into the named vhost', async () => {
    const file = {
      vhosts: [{ name: 'posted' }],
      queues: [{ name: 'inbox', vhost: 'posted', durable: true, auto_delete: false, arguments: {} }],
      permissions: [{ user: 'alice', vhost: 'posted', configure: '.*', write: '.*', read: '.*' }],
    };
    assert.equal((await post('/api/definitions', file)).statusCode, 204);
    assert.equal((await post('/api/definitions', file)).statusCode, 204);
    assert.ok(broker.vhost('posted')?.findQueue('inbox'));
    const vhostFile = { queues: [{ name: 'copied', durable: true }] };
    assert.equal((await post('/api/definitions/empty', vhostFile)).statusCode, 204);
    assert.ok(broker.vhost('empty')?.findQueue('copied'));
    assert.equal((await post('/api/definitions', '')).statusCode, 204, 'an empty body is an empty file');
  });

  it('POST refuses a bad file with 400 naming every problem, and changes nothing', async () => {
    const before = JSON.stringify(broker.definitions.export()?.definitions);
    const res = await post('/api/definitions', {
      vhosts: [{ name: 'never' }],
      exchanges: [{ name: 'ring', vhost: 'shop', type: 'x-consistent-hash' }],
      users: [{ name: 'mallory', password_hash: 'abc', hashing_algorithm: 'bcrypt', tags: [] }],
    });
    assert.equal(res.statusCode, 400);
    const { error, reason } = res.json() as { error: string; reason: string };
    assert.equal(error, 'bad_request');
    assert.match(reason, /\(2 problems\)/);
    assert.match(
      reason,
      /exchange 'ring' in vhost 'shop': exchange type 'x-consistent-hash' is not supported/,
    );
    assert.match(reason, /user 'mallory': hashing algorithm "bcrypt" is not supported/);
    assert.equal(JSON.stringify(broker.definitions.export()?.definitions), before);

    const notJson = await post('/api/definitions', '{"queues": [');
    assert.equal(notJson.statusCode, 400);
    assert.match((notJson.json() as { reason: string }).reason, /not valid JSON/);
    const missing = await post('/api/definitions/nowhere', {});
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), { error: 'not_found', reason: 'vhost_not_found' });
  });

  it('takes a file larger than the other routes allow (up to the definitions bound)', async () => {
    const queues = Array.from({ length: 3000 }, (_, i) => ({
      name: `bulk-${String(i).padStart(4, '0')}-${'x'.repeat(40)}`,
      vhost: 'empty',
      durable: false,
      arguments: { 'x-note': 'y'.repeat(100) },
    }));
    const payload = JSON.stringify({ queues });
    assert.ok(payload.length > 256 * 1024);
    assert.equal((await post('/api/definitions', payload)).statusCode, 204);
    assert.ok(broker.vhost('empty')?.findQueue(queues[2999].name));
  });
});
