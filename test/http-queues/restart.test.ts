import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startBroker } from '../helpers/broker-under-test.js';
import { OTHER_CLIENT_ID, QueueApiClient } from './queue-api-client.js';

/**
 * Message ids come from the queue's store id and the log offset, so they name the same messages after a
 * restart; queue metadata is stored with the queue; claims and delays are saved at a graceful shutdown.
 * After kill -9 those are gone: the messages are ready at once (delivered again, never lost).
 */
test('ids, metadata, claims (with their grace) and delays survive a graceful restart', async () => {
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
  assert.equal(claim.messages[0].ttl, 600, 'outlives the claim: no grace');
  await api.put('/v2/queues/slow', { _default_message_delay: 600 });
  const [delayed] = await api.postMessages('slow', [{ body: 'later' }]);
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
      ids.slice(1),
      'the claimed message is still claimed',
    );
    const kept = await again.get(`/v2/queues/durable/claims/${claim.claimId}`);
    assert.equal(kept.status, 200);
    assert.deepEqual(
      (kept.body as { ttl: number; messages: Array<{ id: string }> }).messages.map((m) => m.id),
      [ids[0]],
    );
    const done = await again.delete(`/v2/queues/durable/messages/${ids[0]}?claim_id=${claim.claimId}`);
    assert.equal(done.status, 204);
    const slow = again.as(OTHER_CLIENT_ID);
    assert.deepEqual((await slow.get('/v2/queues/slow/messages')).body, { messages: [], links: [] });
    const early = (await slow.get('/v2/queues/slow/messages?include_delayed=true')).body as {
      messages: Array<{ id: string }>;
    };
    assert.deepEqual(
      early.messages.map((m) => m.id),
      [delayed],
      'still delayed',
    );
    // New messages continue the offsets: no id is ever reused.
    const [next] = await again.postMessages('durable', [{ body: 4 }]);
    assert.ok(!ids.includes(next));
  } finally {
    await second.stop();
  }
});

test('after kill -9, claimed messages are ready again and nothing is lost', async () => {
  const first = await startBroker();
  const api = new QueueApiClient(`http://127.0.0.1:${first.httpPort}`, undefined);
  const ids = await api.postMessages('crashy', [{ body: 'a' }, { body: 'b' }]);
  const claim = await api.claim('crashy', { ttl: 300, grace: 60 }, 1);
  assert.equal(claim.messages.length, 1);
  await first.kill9();
  const second = await startBroker({ dataDir: first.dataDir });
  try {
    const again = new QueueApiClient(`http://127.0.0.1:${second.httpPort}`, undefined);
    const listed = await again.as(OTHER_CLIENT_ID).get('/v2/queues/crashy/messages');
    assert.deepEqual(
      (listed.body as { messages: Array<{ id: string }> }).messages.map((m) => m.id),
      ids,
    );
    assert.equal((await again.get(`/v2/queues/crashy/claims/${claim.claimId}`)).status, 404);
  } finally {
    await second.stop();
  }
});
