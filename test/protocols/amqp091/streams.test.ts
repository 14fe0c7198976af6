import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Channel, ConsumeMessage } from 'amqplib';
import { connect, openChannel, openConfirmChannel, sleep, waitFor } from '../../helpers/amqp-client.js';
import { isExternalBroker, startBroker } from '../../helpers/broker-under-test.js';

const SKIP_REASON = 'needs the EventterMQ process and its data directory';

/** Consumes from a stream with prefetch and acks, until `n` messages arrived. */
async function readStream(
  ch: Channel,
  stream: string,
  offset: unknown,
  n: number,
): Promise<ConsumeMessage[]> {
  await ch.prefetch(100);
  const got: ConsumeMessage[] = [];
  const { consumerTag } = await ch.consume(
    stream,
    (m) => {
      if (!m) return;
      got.push(m);
      ch.ack(m);
    },
    { arguments: { 'x-stream-offset': offset } },
  );
  await waitFor(() => got.length >= n, `${n} messages from ${stream}`, 10_000);
  await sleep(100); // nothing more may arrive
  await ch.cancel(consumerTag);
  return got;
}

const offsets = (ms: ConsumeMessage[]) => ms.map((m) => Number(m.properties.headers?.['x-stream-offset']));
const bodies = (ms: ConsumeMessage[]) => ms.map((m) => m.content.toString());

test('a stream keeps messages after they are read; consumers start at first, an offset, next, or a time', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  let broker = await startBroker();
  const { dataDir } = broker;
  try {
    let conn = await connect(broker.url);
    const pub = await openConfirmChannel(conn);
    await pub.assertQueue('events', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    for (let i = 0; i < 50; i++)
      pub.sendToQueue('events', Buffer.from(`e${i}`), { headers: { n: i, tags: ['a', 'b'] } });
    await pub.waitForConfirms();
    const afterFirst = Date.now();
    await sleep(20);

    const all = await readStream(await openChannel(conn), 'events', 'first', 50);
    assert.deepEqual(
      bodies(all),
      Array.from({ length: 50 }, (_, i) => `e${i}`),
    );
    assert.deepEqual(
      offsets(all),
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.deepEqual(
      all[3].properties.headers?.tags,
      ['a', 'b'],
      'array headers survive (RabbitMQ 3.10 drops them)',
    );
    assert.equal(all[0].fields.redelivered, false);

    const again = await readStream(await openChannel(conn), 'events', 'first', 50);
    assert.equal(again.length, 50, 'reading does not remove: a second reader sees everything');

    const from40 = await readStream(await openChannel(conn), 'events', 40, 10);
    assert.deepEqual(offsets(from40), [40, 41, 42, 43, 44, 45, 46, 47, 48, 49]);

    // A consumer at 'next' sees only what is published after it subscribed; one at a time sees from then.
    const nextCh = await openChannel(conn);
    await nextCh.prefetch(10);
    const fresh: ConsumeMessage[] = [];
    await nextCh.consume(
      'events',
      (m) => {
        if (!m) return;
        fresh.push(m);
        nextCh.ack(m);
      },
      { arguments: { 'x-stream-offset': 'next' } },
    );
    await sleep(100);
    for (let i = 50; i < 55; i++) pub.sendToQueue('events', Buffer.from(`e${i}`));
    await pub.waitForConfirms();
    await waitFor(() => fresh.length >= 5, 'the 5 new messages');
    assert.deepEqual(bodies(fresh), ['e50', 'e51', 'e52', 'e53', 'e54']);
    const byTime = await readStream(
      await openChannel(conn),
      'events',
      { '!': 'timestamp', value: Math.floor(afterFirst / 1000) + 1 },
      0,
    );
    assert.ok(byTime.every((m) => Number(m.properties.headers?.['x-stream-offset']) >= 50));

    // Restart: everything is still there, at the same offsets.
    await conn.close();
    assert.equal(await broker.stop(), 0);
    broker = await startBroker({ dataDir });
    conn = await connect(broker.url);
    const afterRestart = await readStream(await openChannel(conn), 'events', 'first', 55);
    assert.deepEqual(
      offsets(afterRestart),
      Array.from({ length: 55 }, (_, i) => i),
    );
    await conn.close();
  } finally {
    await broker.kill9();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('stream refusals: no prefetch, no-ack, basic.get, purge, non-durable, unsupported arguments', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  const broker = await startBroker();
  try {
    const setupConn = await connect(broker.url);
    await (await openChannel(setupConn)).assertQueue('s', {
      durable: true,
      arguments: { 'x-queue-type': 'stream' },
    });
    await setupConn.close();
    // A fresh connection per case: some refusals close the whole connection (540), as RabbitMQ's do.
    const code = async (op: (ch: Channel) => Promise<unknown>) => {
      const conn = await connect(broker.url);
      const closedWith = new Promise<number | undefined>((done) =>
        conn.once('close', (err?: { code?: number }) => done(err?.code)),
      );
      try {
        await op(await openChannel(conn));
        return 'ok';
      } catch (err) {
        return (err as { code?: number }).code ?? (await closedWith);
      } finally {
        await conn.close().catch(() => {});
      }
    };
    const withPrefetch = (op: (ch: Channel) => Promise<unknown>) => async (ch: Channel) => {
      await ch.prefetch(5);
      return op(ch);
    };
    const declare = (name: string, durable: boolean, args: Record<string, unknown>) => (ch: Channel) =>
      ch.assertQueue(name, { durable, arguments: { 'x-queue-type': 'stream', ...args } });
    assert.equal(await code((ch) => ch.consume('s', () => {})), 406, 'no prefetch');
    assert.equal(await code(withPrefetch((ch) => ch.consume('s', () => {}, { noAck: true }))), 540);
    assert.equal(await code((ch) => ch.get('s')), 540);
    assert.equal(await code((ch) => ch.purgeQueue('s')), 540);
    assert.equal(await code(declare('s2', false, {})), 406);
    assert.equal(await code(declare('s3', true, { 'x-max-length': 5 })), 406);
    assert.equal(await code(declare('s4', true, { 'x-max-age': '10x' })), 406);
    assert.equal(await code(declare('s5', true, { 'x-max-age': '7D' })), 'ok');
    assert.equal(
      await code(
        withPrefetch((ch) => ch.consume('s', () => {}, { arguments: { 'x-stream-offset': 'yesterday' } })),
      ),
      406,
    );
  } finally {
    await broker.kill9();
  }
});

test('retention by size deletes whole segments from the front, never newer ones', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  const broker = await startBroker();
  try {
    const conn = await connect(broker.url);
    const pub = await openConfirmChannel(conn);
    await pub.assertQueue('logs', {
      durable: true,
      arguments: {
        'x-queue-type': 'stream',
        'x-stream-max-segment-size-bytes': 20_000,
        'x-max-length-bytes': 60_000,
      },
    });
    const body = Buffer.alloc(1000, 0x61);
    for (let i = 0; i < 300; i++) pub.sendToQueue('logs', body, { messageId: String(i) });
    await pub.waitForConfirms();
    const streamDirs = fs.readdirSync(path.join(broker.dataDir, 'streams'));
    const dir = path.join(broker.dataDir, 'streams', streamDirs[0]);
    const segments = fs.readdirSync(dir).filter((n) => n.endsWith('.seg'));
    const total = segments.reduce((n, s) => n + fs.statSync(path.join(dir, s)).size, 0);
    assert.ok(
      total <= 60_000 + 20_000 + 2_000,
      `retention kept ${total} bytes in ${segments.length} segments`,
    );
    const read = await readStream(await openChannel(conn), 'logs', 'first', 1);
    const first = Number(read[0].properties.headers?.['x-stream-offset']);
    assert.ok(first > 0, 'the oldest messages are gone');
    const ids = read.map((m) => Number(m.properties.messageId));
    assert.deepEqual(
      ids,
      Array.from({ length: 300 - first }, (_, i) => first + i),
      'everything newer is there, in order',
    );
    await conn.close();
  } finally {
    await broker.kill9();
  }
});

test('an append-only stream (x-stream-append-only) cannot be deleted while it holds messages', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  const broker = await startBroker();
  try {
    const conn = await connect(broker.url);
    const ch = await openConfirmChannel(conn);
    const args = { 'x-queue-type': 'stream', 'x-stream-append-only': true };
    await ch.assertQueue('trail', { durable: true, arguments: args });
    await ch.assertQueue('empty-trail', { durable: true, arguments: args });
    ch.sendToQueue('trail', Buffer.from('login alice'));
    await ch.waitForConfirms();
    const del = await openChannel(conn);
    await assert.rejects(del.deleteQueue('trail'), (err: { code?: number }) => err.code === 406);
    const check = await openChannel(conn);
    assert.equal((await check.checkQueue('trail')).messageCount, 1, 'still there, with its message');
    await check.deleteQueue('empty-trail'); // nothing to lose: allowed
    await assert.rejects(check.checkQueue('empty-trail'), (err: { code?: number }) => err.code === 404);
    await conn.close();
  } finally {
    await broker.kill9();
  }
});

test('a policy sets a stream retention; its classic-queue keys do not apply to the stream', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  const broker = await startBroker();
  try {
    const policy = await fetch(`http://127.0.0.1:${broker.httpPort}/api/policies/%2F/logs`, {
      method: 'PUT',
      headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
      body: JSON.stringify({
        pattern: '^logs\\.',
        'apply-to': 'queues',
        definition: {
          'message-ttl': 1000,
          'max-length-bytes': 60_000,
          'stream-max-segment-size-bytes': 20_000,
        },
      }),
    });
    assert.equal(policy.status, 201);
    const conn = await connect(broker.url);
    const pub = await openConfirmChannel(conn);
    await pub.assertQueue('logs.app', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    const body = Buffer.alloc(1000, 0x62);
    for (let i = 0; i < 300; i++) pub.sendToQueue('logs.app', body, { messageId: String(i) });
    await pub.waitForConfirms();
    const read = await readStream(await openChannel(conn), 'logs.app', 'first', 1);
    const first = Number(read[0].properties.headers?.['x-stream-offset']);
    assert.ok(
      first > 0 && read.length <= 85,
      `the policy's retention applies (${read.length} kept from ${first})`,
    );
    assert.equal(Number(read[read.length - 1].properties.messageId), 299, 'the newest are kept');
    await conn.close();
  } finally {
    await broker.kill9();
  }
});
