import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startBroker } from '../helpers/broker-under-test.js';
import { OTHER_CLIENT_ID, QueueApiClient } from './queue-api-client.js';

/**
 * Message ids come from the queue's store id and the log offset, so they name the same messages after a
 * restart; queue metadata is stored with the queue. Claims are not kept yet: after a restart their messages
 * are ready again (delivered at least once, never lost).
 */
test('message ids and queue metadata survive a graceful restart; claimed messages come back ready', async () => {
  const first = await startBroker();
  const api = new QueueApiClient(`http://127.0.0.1:${first.httpPort}`, undefined);
  await api.put('/v2/queues/durable', { team: 'ops', _default_message_ttl: 600 });
  const ids = await api.postMessages('durable', [
    { body: 'one' },
    { body: { two: 2 } },
    { body: 3, ttl: 900 },
  ]);
  const claim = await api.claim('durable', { ttl: 300, grace: 60 }, 1);
  assert.equal(claim.messages[0].id, ids[0]);
  assert.equal(await first.stop(), 0);

  const second = await startBroker({ dataDir: first.dataDir });
  try {
    const again = new QueueApiClient(`http://127.0.0.1:${second.httpPort}`, undefined);
    const metadata = (await again.get('/v2/queues/durable')).body as Record<string, unknown>;
    assert.equal(metadata.team, 'ops');
    assert.equal(metadata._default_message_ttl, 600);
    const byId = await again.get(`/v2/queues/durable/messages?ids=${ids.join(',')}`);
    assert.equal(byId.status, 200);
    assert.deepEqual(
      (byId.body as { messages: Array<{ id: string; body: unknown; ttl: number }> }).messages.map((m) => [
        m.id,
        m.body,
        m.ttl,
      ]),
      [
        [ids[0], 'one', 600],
        [ids[1], { two: 2 }, 600],
        [ids[2], 3, 900],
      ],
    );
    const listed = await again.as(OTHER_CLIENT_ID).get('/v2/queues/durable/messages');
    assert.deepEqual(
      (listed.body as { messages: Array<{ id: string }> }).messages.map((m) => m.id),
      ids,
      'the claimed message is ready again',
    );
    assert.equal((await again.get(`/v2/queues/durable/claims/${claim.claimId}`)).status, 404);
    // New messages continue the offsets: no id is ever reused.
    const [next] = await again.postMessages('durable', [{ body: 4 }]);
    assert.ok(!ids.includes(next));
  } finally {
    await second.stop();
  }
});
