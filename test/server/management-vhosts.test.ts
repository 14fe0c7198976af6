import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AUDIT_VHOST } from '../../src/core/audit-stream.js';
import { Message } from '../../src/core/message.js';
import { auditLogs, type ManagementFixture, openManagementFixture } from '../helpers/management-fixture.js';

let fx: ManagementFixture;

beforeEach(async () => {
  fx = await openManagementFixture();
});
afterEach(async () => {
  await fx.close();
});

const names = (reply: { json: Array<{ name: string }> }) => reply.json.map((v) => v.name);

describe('management API: vhosts', () => {
  it("lists vhosts in RabbitMQ's shape, with message counts", async () => {
    const owner = {};
    const { queue } = await fx.broker.vhost('shop')!.declareQueue('q', { durable: false, owner });
    queue.enqueue(new Message('', 'q', Buffer.alloc(0), Buffer.from('x'), false, 0, -1, Date.now()));
    const list = await fx.request('GET', '/api/vhosts');
    assert.equal(list.status, 200);
    assert.deepEqual(names(list), ['/', 'empty', AUDIT_VHOST, 'shop']);
    const shop = list.json.find((v: { name: string }) => v.name === 'shop');
    const node = Object.keys(shop.cluster_state)[0];
    assert.match(node, /^eventter@/);
    assert.deepEqual(shop, {
      name: 'shop',
      description: '',
      tags: [],
      default_queue_type: 'classic',
      metadata: { description: '', tags: [] },
      tracing: false,
      cluster_state: { [node]: 'running' },
      messages: 1,
      messages_ready: 1,
      messages_unacknowledged: 0,
    });
  });

  it('shows each user the vhosts it may see', async () => {
    assert.deepEqual(names(await fx.request('GET', '/api/vhosts', { auth: 'bob:secret' })), ['shop']);
    assert.deepEqual(names(await fx.request('GET', '/api/vhosts', { auth: 'mon:m' })), [
      '/',
      'empty',
      AUDIT_VHOST,
      'shop',
    ]);
  });

  it('creates (201) a vhost with full permissions for its creator, updates (204) and deletes it', async () => {
    const created = await fx.request('PUT', '/api/vhosts/orders', {
      body: { description: 'order flow', tags: 'prod,eu' },
    });
    assert.equal(created.status, 201);
    const one = (await fx.request('GET', '/api/vhosts/orders')).json;
    assert.deepEqual(
      [one.description, one.tags, one.metadata],
      ['order flow', ['prod', 'eu'], { description: 'order flow', tags: ['prod', 'eu'] }],
    );
    assert.deepEqual((await fx.request('GET', '/api/permissions/orders/guest')).json, {
      user: 'guest',
      vhost: 'orders',
      configure: '.*',
      write: '.*',
      read: '.*',
    });
    assert.ok(fx.broker.vhost('orders'), 'the broker serves the new vhost');

    // As in RabbitMQ, a PUT replaces description and tags (absent ones become empty).
    assert.equal((await fx.request('PUT', '/api/vhosts/orders', { body: { tags: ['x'] } })).status, 204);
    const updated = (await fx.request('GET', '/api/vhosts/orders')).json;
    assert.deepEqual([updated.description, updated.tags], ['', ['x']]);

    // An empty body creates one too (curl -X PUT).
    assert.equal((await fx.request('PUT', '/api/vhosts/bare')).status, 201);

    assert.equal((await fx.request('DELETE', '/api/vhosts/orders')).status, 204);
    assert.equal(fx.broker.vhost('orders'), undefined);
    assert.equal((await fx.request('GET', '/api/vhosts/orders')).status, 404);
    assert.deepEqual(fx.broker.users.listPermissions({ vhost: 'orders' }), []);
    assert.deepEqual((await fx.request('DELETE', '/api/vhosts/orders')).json, {
      error: 'not_found',
      reason: "no vhost 'orders'",
    });
    assert.deepEqual(
      auditLogs(fx).map((r) => [r.event, r.vhost, r.user]),
      [
        ['vhost.created', 'orders', undefined],
        ['permission.set', 'orders', 'guest'],
        ['vhost.updated', 'orders', undefined],
        ['vhost.created', 'bare', undefined],
        ['permission.set', 'bare', 'guest'],
        ['vhost.deleted', 'orders', undefined],
      ],
    );
  });

  it('refuses bad names and bodies with 400 and the reason', async () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['a'.repeat(256), {}, /at most 255 bytes/],
      ['bad%00name', {}, /control characters/],
      ['ok', { description: 5 }, /description must be a string/],
      ['ok', { description: 'x'.repeat(1025) }, /at most 1024 characters/],
      ['ok', { tags: [1] }, /tags must be/],
      ['ok', '[]', /must be a JSON object/],
    ];
    for (const [name, body, reason] of cases) {
      const response = await fx.request('PUT', `/api/vhosts/${name}`, { body });
      assert.equal(response.status, 400, `${name.slice(0, 10)} ${JSON.stringify(body).slice(0, 40)}`);
      assert.match(response.json.reason, reason);
    }
    assert.equal(fx.broker.vhost('ok'), undefined);
  });

  it('needs the administrator tag to read one, create or delete', async () => {
    for (const [method, url] of [
      ['GET', '/api/vhosts/shop'],
      ['PUT', '/api/vhosts/new'],
      ['DELETE', '/api/vhosts/shop'],
      ['PUT', '/api/vhost-limits/shop/max-queues'],
      ['DELETE', '/api/vhost-limits/shop/max-queues'],
    ]) {
      for (const auth of ['bob:secret', 'pol:p', 'mon:m']) {
        const response = await fx.request(method, url, {
          auth,
          body: method === 'PUT' ? { value: 1 } : undefined,
        });
        assert.equal(response.status, 403, `${auth} ${method} ${url}`);
        assert.equal(response.json.reason, 'Not administrator user');
      }
    }
    assert.ok(fx.broker.vhost('shop'));
  });
});

describe('management API: vhost limits', () => {
  it('sets, lists and clears limits (negative = none)', async () => {
    assert.deepEqual((await fx.request('GET', '/api/vhost-limits')).json, []);
    assert.equal(
      (await fx.request('PUT', '/api/vhost-limits/shop/max-connections', { body: { value: 10 } })).status,
      204,
    );
    await fx.request('PUT', '/api/vhost-limits/shop/max-queues', { body: { value: 0 } });
    const expected = [{ vhost: 'shop', value: { 'max-connections': 10, 'max-queues': 0 } }];
    assert.deepEqual((await fx.request('GET', '/api/vhost-limits')).json, expected);
    assert.deepEqual((await fx.request('GET', '/api/vhost-limits/shop')).json, expected);
    assert.deepEqual(fx.broker.vhostInfo('shop')?.limits, expected[0].value);
    assert.deepEqual((await fx.request('GET', '/api/vhost-limits', { auth: 'bob:secret' })).json, expected);
    assert.equal((await fx.request('GET', '/api/vhost-limits/%2F', { auth: 'bob:secret' })).status, 403);

    await fx.request('PUT', '/api/vhost-limits/shop/max-queues', { body: { value: -1 } });
    assert.equal((await fx.request('DELETE', '/api/vhost-limits/shop/max-connections')).status, 204);
    assert.deepEqual((await fx.request('GET', '/api/vhost-limits/shop')).json, []);
    assert.deepEqual(
      auditLogs(fx).map((r) => [r.event, r.vhost, r.limit, JSON.stringify(r.details ?? null)]),
      [
        ['vhost-limit.set', 'shop', 'max-connections', '{"value":10}'],
        ['vhost-limit.set', 'shop', 'max-queues', '{"value":0}'],
        ['vhost-limit.cleared', 'shop', 'max-queues', 'null'],
        ['vhost-limit.cleared', 'shop', 'max-connections', 'null'],
      ],
    );
  });

  it('refuses unknown limits, bad values and unknown vhosts', async () => {
    const cases: Array<[string, unknown, number, RegExp]> = [
      ['shop/max-foo', { value: 1 }, 400, /unknown vhost limit 'max-foo'/],
      ['shop/max-channels', { value: 1 }, 400, /unknown vhost limit 'max-channels'/],
      ['shop/max-queues', { value: 'x' }, 400, /must be an integer/],
      ['shop/max-queues', {}, 400, /value is required/],
      ['ghost/max-queues', { value: 1 }, 404, /no vhost 'ghost'/],
    ];
    for (const [path, body, status, reason] of cases) {
      const response = await fx.request('PUT', `/api/vhost-limits/${path}`, { body });
      assert.equal(response.status, status, path);
      assert.match(response.json.reason, reason);
    }
    assert.equal((await fx.request('GET', '/api/vhost-limits/ghost')).status, 404);
  });
});
