import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { messageIdOf } from '../../src/core/message-id.js';
import { type ApiRequest, type InProcessApi, openInProcessApi } from './in-process-api.js';

/**
 * Whatever a client sends, the answer is a 4xx with a JSON {title, description} (406 excepted: that client
 * accepts no JSON), never a 500, and the broker keeps serving.
 */

let api: InProcessApi;

before(async () => {
  api = await openInProcessApi();
  await api.request({ method: 'PUT', url: '/v2/queues/target' });
  // Kept out of the routes the body battery hits (some of those bodies are valid claims and purges).
  await api.request({
    method: 'POST',
    url: '/v2/queues/kept/messages',
    payload: { messages: [{ body: 'keep' }] },
  });
});
after(() => api.close());

async function expectClientError(request: ApiRequest, status?: number, orSuccess = false): Promise<void> {
  const res = await api.request(request);
  const what = `${request.method} ${request.url.slice(0, 80)} ${String(request.payload).slice(0, 40)}`;
  if (orSuccess && res.status >= 200 && res.status < 300) return;
  assert.ok(res.status >= 400 && res.status < 500, `${what}: ${res.status} ${JSON.stringify(res.body)}`);
  if (status !== undefined) assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
  if (res.status === 406) return;
  const body = res.body as { title?: unknown; description?: unknown };
  assert.equal(typeof body?.title, 'string', `${what}: title in ${JSON.stringify(res.body)}`);
  assert.equal(typeof body?.description, 'string', `${what}: description in ${JSON.stringify(res.body)}`);
}

const BODY_ROUTES: Array<[ApiRequest['method'], string, Record<string, string>?]> = [
  ['PUT', '/v2/queues/target'],
  ['PATCH', '/v2/queues/target', { 'content-type': 'application/openstack-messaging-v2.0-json-patch' }],
  ['POST', '/v2/queues/target/messages'],
  ['POST', '/v2/queues/target/claims'],
  ['PATCH', '/v2/queues/target/claims/6b4d3c2a-1f0e-4d9c-8b7a-695847362514'],
  ['POST', '/v2/queues/target/purge'],
];

const MALFORMED: Array<string | Buffer> = [
  '{',
  '{"a":}',
  '"text"',
  '42',
  'null',
  'true',
  '[',
  '{"messages": [',
  Buffer.from([0xff, 0xfe, 0x00, 0x7b]),
  Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]), // invalid UTF-8 inside a key
  '{"messages": [{"body": 1, "ttl": 123456789012345678901234567890}]}',
  '{"messages": [{"body": 9007199254740993}]}',
  `{"messages": [{"body": ${'['.repeat(600)}${']'.repeat(600)}}]}`,
  `${'['.repeat(50_000)}${']'.repeat(50_000)}`,
  '{"messages": "all of them"}',
  '{"messages": [1, "two", null]}',
  '{"messages": [[]]}',
  '{"messages": [{"body": 1, "ttl": {"a": 1}}]}',
  '{"ttl": "soon", "grace": []}',
  '[{"op": 1, "path": 2}]',
  '[{"op": "add", "path": 2, "value": 1}]',
  '{"resource_types": "messages"}',
  '{"resource_types": [1, {}]}',
  '{"__proto__": {"polluted": true}}',
];

describe('HTTP queue API: bad input', () => {
  it('answers every malformed or ill-typed body with a 4xx and {title, description}', async () => {
    // Some of these are valid for some routes (any object is queue metadata): those may succeed.
    for (const [method, url, headers] of BODY_ROUTES) {
      for (const payload of MALFORMED)
        await expectClientError({ method, url, payload, headers }, undefined, true);
    }
    // Not JSON at all, or nested too deep: 400 everywhere.
    for (const [method, url, headers] of BODY_ROUTES) {
      for (const payload of MALFORMED.slice(0, 10)) {
        await expectClientError({ method, url, payload, headers }, 400);
      }
      await expectClientError({ method, url, payload: MALFORMED[13], headers }, 400);
    }
  });

  it('keeps integers JavaScript cannot hold exactly out, rather than change them', async () => {
    const res = await api.request({
      method: 'POST',
      url: '/v2/queues/target/messages',
      payload: '{"messages": [{"body": {"id": 9007199254740993}}]}',
    });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, {
      title: 'Invalid request body',
      description: 'JSON contains integer that is too large.',
    });
  });

  it('refuses oversize bodies before reading them, declared or streamed', async () => {
    const big = JSON.stringify({ messages: [{ body: 'x'.repeat(300 * 1024) }] });
    await expectClientError({ method: 'POST', url: '/v2/queues/target/messages', payload: big }, 400);
    await expectClientError(
      { method: 'PUT', url: '/v2/queues/target', payload: { blob: 'y'.repeat(70 * 1024) } },
      400,
    );
    await expectClientError(
      { method: 'POST', url: '/v2/queues/target/claims', payload: { pad: 'z'.repeat(70 * 1024) } },
      400,
    );
    // A per-queue limit below the global one.
    await api.request({
      method: 'PUT',
      url: '/v2/queues/small-posts',
      payload: { _max_messages_post_size: 100 },
    });
    await expectClientError(
      {
        method: 'POST',
        url: '/v2/queues/small-posts/messages',
        payload: { messages: [{ body: 'q'.repeat(200) }] },
      },
      400,
    );
  });

  it('answers bad headers with 400s', async () => {
    for (const clientId of ['', 'x', 'g'.repeat(32), '3381af92-2b9e-11e3-b191-71861300734c'.repeat(100)]) {
      await expectClientError({ method: 'GET', url: '/v2/queues', headers: { 'client-id': clientId } }, 400);
    }
    await expectClientError({ method: 'GET', url: '/v2/queues', headers: { 'x-project-id': '' } }, 400);
    await expectClientError(
      { method: 'PUT', url: '/v2/queues/q', headers: { 'x-project-id': 'p'.repeat(300) } },
      400,
    );
    await expectClientError({ method: 'GET', url: '/v2/queues', headers: { accept: 'image/png' } }, 406);
    await expectClientError(
      {
        method: 'GET',
        url: '/v2/queues',
        auth: null,
        headers: { authorization: `Basic ${'A'.repeat(10_000)}` },
      },
      401,
    );
  });

  it('answers bad ids, markers and limits with 4xx or an empty result, never a 500', async () => {
    const queue = api.broker.vhost('/')?.findQueue('target');
    assert.ok(queue);
    const foreign = messageIdOf('another-queue-id', 0);
    const beyond = messageIdOf(queue.id, 2 ** 52);
    for (const id of [
      'nonsense',
      foreign,
      beyond,
      'F'.repeat(24),
      'f'.repeat(24),
      '0'.repeat(24),
      `${'a'.repeat(23)}%00`,
    ]) {
      await expectClientError({ method: 'GET', url: `/v2/queues/target/messages/${id}` }, 404);
      const del = await api.request({ method: 'DELETE', url: `/v2/queues/target/messages/${id}` });
      assert.equal(del.status, 204, `delete ${id}`);
    }
    await expectClientError(
      { method: 'GET', url: `/v2/queues/target/messages?ids=${foreign},nonsense` },
      404,
    );
    for (const query of [
      'limit=99999999999999999999',
      'limit=-1',
      'limit=1e3',
      'limit=0x10',
      'echo=2',
      'include_claimed=maybe',
      `ids=${Array.from({ length: 1000 }, (_, i) => i).join(',')}`,
    ]) {
      await expectClientError({ method: 'GET', url: `/v2/queues/target/messages?${query}` }, 400);
    }
    for (const query of ['pop=99999999999999999999', 'pop=-5', 'pop=1.5', 'pop=1&ids=a']) {
      await expectClientError({ method: 'DELETE', url: `/v2/queues/target/messages?${query}` }, 400);
    }
    for (const query of ['limit=1000000', 'limit=-3', 'limit=NaN']) {
      await expectClientError({ method: 'POST', url: `/v2/queues/target/claims?${query}`, payload: {} }, 400);
      await expectClientError({ method: 'GET', url: `/v2/queues?${query}` }, 400);
    }
    const marker = await api.request({ method: 'GET', url: '/v2/queues/kept/messages?echo=true&marker=zzz' });
    assert.equal(marker.status, 200);
    assert.equal((marker.body as { messages: unknown[] }).messages.length, 1);
  });

  it('answers unknown queues, claims and paths as Zaqar does, with JSON bodies', async () => {
    await expectClientError(
      { method: 'GET', url: '/v2/queues/ghost/messages/0000000000000000000000aa' },
      404,
    );
    await expectClientError(
      { method: 'GET', url: '/v2/queues/ghost/claims/6b4d3c2a-1f0e-4d9c-8b7a-695847362514' },
      404,
    );
    await expectClientError(
      { method: 'PATCH', url: '/v2/queues/target/claims/not-a-claim', payload: { ttl: 60 } },
      404,
    );
    await expectClientError({ method: 'GET', url: '/v2/no/such/path' }, 404);
    await expectClientError({ method: 'PUT', url: '/v2/queues' }, 405);
    await expectClientError({ method: 'GET', url: `/v2/queues/${'n'.repeat(65)}` }, 400);
    await expectClientError({ method: 'GET', url: '/v2/queues/a%2Fb/stats' }, 400);
    await expectClientError({ method: 'GET', url: '/v2/queues/%E2%82%AC' }, 400);
  });

  it('stays healthy: nothing unexpected was logged and the queue still holds its message', async () => {
    assert.deepEqual(api.unexpected, []);
    const res = await api.request({ method: 'GET', url: '/v2/queues/kept/messages?echo=true' });
    assert.equal(res.status, 200);
    const bodies = (res.body as { messages: Array<{ body: unknown }> }).messages.map((m) => m.body);
    assert.deepEqual(bodies, ['keep']);
  });
});
