import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChannelModel } from 'amqplib';
import { connect, openChannel, openConfirmChannel } from '../helpers/amqp-client.js';
import { type BrokerUnderTest, startBroker } from '../helpers/broker-under-test.js';
import { CLIENT_ID, OTHER_CLIENT_ID, QueueApiClient } from './queue-api-client.js';

/**
 * One broker: an HTTP queue is an ordinary queue. Messages POSTed over HTTP reach amqplib consumers, messages
 * published over AMQP are listed and claimed over HTTP, and both protocols' holds exclude each other.
 */

let broker: BrokerUnderTest;
let conn: ChannelModel;
let http: QueueApiClient;

before(async () => {
  broker = await startBroker();
  conn = await connect(broker.url);
  http = new QueueApiClient(`http://127.0.0.1:${broker.httpPort}`, undefined);
});
after(async () => {
  await conn?.close().catch(() => {});
  await broker?.stop();
});

interface Listed {
  id: string;
  href: string;
  ttl: number;
  body: unknown;
}

async function listAll(queue: string): Promise<Listed[]> {
  const res = await http
    .as(OTHER_CLIENT_ID)
    .get(`/v2/queues/${queue}/messages?include_claimed=true&limit=20`);
  assert.equal(res.status, 200);
  return (res.body as { messages: Listed[] }).messages;
}

async function stats(queue: string): Promise<{ claimed: number; free: number; total: number }> {
  const res = await http.get(`/v2/queues/${queue}/stats`);
  const { claimed, free, total } = (
    res.body as { messages: { claimed: number; free: number; total: number } }
  ).messages;
  return { claimed, free, total };
}

describe('HTTP queue API and AMQP on the same queue', () => {
  it('delivers a POSTed message to amqplib as JSON text, persistent, with its TTL and poster', async () => {
    await http.postMessages('to-amqp', [{ body: { order: 7, items: ['a'] }, ttl: 120 }]);
    const ch = await openChannel(conn);
    const got = await ch.get('to-amqp', { noAck: true });
    assert.ok(got);
    assert.deepEqual(JSON.parse(got.content.toString('utf8')), { order: 7, items: ['a'] });
    assert.equal(got.properties.contentType, 'application/json');
    assert.equal(got.properties.deliveryMode, 2);
    assert.equal(got.properties.expiration, '120000');
    assert.equal(got.properties.headers?.['x-client-id'], CLIENT_ID);
    assert.ok(Math.abs(Number(got.properties.timestamp) - Date.now() / 1000) < 30);
    assert.equal(await ch.get('to-amqp', { noAck: true }), false);
    await ch.close();
  });

  it('hands POSTed messages to a waiting amqplib consumer, which acks them', async () => {
    const ch = await openChannel(conn);
    await ch.assertQueue('consumed', { durable: true });
    await ch.prefetch(10);
    const received: unknown[] = [];
    const done = new Promise<void>((resolve) => {
      void ch.consume('consumed', (m) => {
        if (m === null) return;
        received.push(JSON.parse(m.content.toString('utf8')));
        ch.ack(m);
        if (received.length === 3) resolve();
      });
    });
    await http.postMessages('consumed', [{ body: 1 }, { body: 2 }, { body: 3 }]);
    await done;
    assert.deepEqual(received, [1, 2, 3]);
    await ch.close();
    assert.deepEqual(await stats('consumed'), { claimed: 0, free: 0, total: 0 });
  });

  it('shows AMQP-published messages over HTTP: JSON, text, binary bodies and their TTLs', async () => {
    const ch = await openConfirmChannel(conn);
    await ch.assertQueue('from-amqp', { durable: true });
    const publish = (content: Buffer, options: object) =>
      new Promise<void>((resolve, reject) =>
        ch.sendToQueue('from-amqp', content, options, (err) => (err ? reject(err) : resolve())),
      );
    await publish(Buffer.from('{"kind":"json"}'), { contentType: 'application/json', expiration: '90000' });
    await publish(Buffer.from('plain words'), { persistent: true });
    await publish(Buffer.from([0xde, 0xad, 0xbe, 0xef]), {});
    await publish(Buffer.from('{not json'), { contentType: 'application/json' });
    await ch.close();
    const listed = await listAll('from-amqp');
    assert.deepEqual(
      listed.map((m) => [m.body, m.ttl]),
      [
        [{ kind: 'json' }, 90],
        ['plain words', -1],
        [{ base64: '3q2+7w==' }, -1],
        ['{not json', -1],
      ],
    );
    // AMQP messages have no poster: echo=false (the default) shows them to everyone.
    const own = await http.get('/v2/queues/from-amqp/messages?limit=20');
    assert.equal((own.body as { messages: unknown[] }).messages.length, 4);
    // Claimed and deleted over HTTP, they are gone for AMQP too.
    const claim = await http.claim('from-amqp', { ttl: 60, grace: 60 }, 4);
    assert.equal(claim.messages.length, 4);
    for (const m of claim.messages) {
      const del = await http.delete(`/v2/queues/from-amqp/messages/${m.id}?claim_id=${claim.claimId}`);
      assert.equal(del.status, 204);
    }
    const check = await openChannel(conn);
    assert.equal((await check.checkQueue('from-amqp')).messageCount, 0);
    await check.close();
  });

  it('counts messages an AMQP consumer holds as claimed, and gives them back when its channel closes', async () => {
    await http.postMessages('shared', [{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
    const ch = await openChannel(conn);
    const held = await ch.get('shared', { noAck: false });
    assert.ok(held);
    assert.deepEqual(await stats('shared'), { claimed: 1, free: 2, total: 3 });
    const [first] = await listAll('shared');
    assert.equal(first.body, 'a');
    assert.ok(!first.href.includes('claim_id'), 'an AMQP hold has no claim id');
    const refused = await http.delete(`/v2/queues/shared/messages/${first.id}`);
    assert.equal(refused.status, 403);
    const claim = await http.claim('shared', { ttl: 60, grace: 60 }, 10);
    assert.deepEqual(
      claim.messages.map((m) => m.body),
      ['b', 'c'],
    );
    await ch.close(); // the unacked 'a' goes back
    const again = await http.claim('shared', { ttl: 60, grace: 60 }, 10);
    assert.deepEqual(
      again.messages.map((m) => m.body),
      ['a'],
    );
  });

  it('keeps HTTP-claimed messages from AMQP until the claim is released, then redelivers them', async () => {
    await http.postMessages('leased', [{ body: 'x' }]);
    const claim = await http.claim('leased', { ttl: 60, grace: 60 });
    const ch = await openChannel(conn);
    assert.equal(await ch.get('leased', { noAck: true }), false);
    assert.equal((await http.delete(`/v2/queues/leased/claims/${claim.claimId}`)).status, 204);
    const got = await ch.get('leased', { noAck: true });
    assert.ok(got);
    assert.equal(JSON.parse(got.content.toString('utf8')), 'x');
    assert.equal(got.fields.redelivered, true);
    await ch.close();
  });

  it('serves AMQP-declared queues, their TTL included; refuses exclusive queues and streams', async () => {
    const ch = await openChannel(conn);
    await ch.assertQueue('amqp-made', { durable: false, arguments: { 'x-message-ttl': 80_000 } });
    await http.postMessages('amqp-made', [{ body: 'short', ttl: 3600 }]);
    const [listed] = await listAll('amqp-made');
    assert.equal(listed.ttl, 80, 'the queue TTL is shorter than the message TTL');
    const names = (await http.get('/v2/queues?limit=20')).body as { queues: Array<{ name: string }> };
    assert.ok(names.queues.some((q) => q.name === 'amqp-made'));
    const exclusive = await ch.assertQueue('', { exclusive: true });
    const refused = await http.get(`/v2/queues/${exclusive.queue}/stats`);
    assert.ok(refused.status === 409 || refused.status === 400, `status ${refused.status}`);
    await ch.assertQueue('a-stream', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    const stream = await http.post('/v2/queues/a-stream/claims', {});
    assert.equal(stream.status, 400);
    assert.match((stream.body as { description: string }).description, /stream/);
    await ch.close();
  });
});
