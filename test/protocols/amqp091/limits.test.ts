import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ChannelModel } from 'amqplib';
import {
  connect,
  connectionClosed,
  expectChannelClose,
  expectConnectionClose,
  openChannel,
  waitFor,
} from '../../helpers/amqp-client.js';
import { type InProcessBroker, startInProcessBroker } from '../../helpers/in-process-broker.js';
import { type CloseReason, decodeClose, RawAmqpClient } from '../../helpers/raw-amqp-client.js';
import { ReplyCode } from '../../helpers/reply-codes.js';

/** Vhost and user limits, the per-channel consumer limit and vhost deletion, with RabbitMQ 3.10's errors. */

let b: InProcessBroker;
const FULL = { configure: '.*', write: '.*', read: '.*' };

before(async () => {
  b = await startInProcessBroker({ limits: { maxConsumersPerChannel: 2 } });
});

after(async () => {
  await b.close();
});

/** A vhost guest may use, with the given limits. */
async function vhostWithLimits(name: string, limits: Record<string, number>): Promise<void> {
  await b.broker.putVhost(name, { limits });
  await b.broker.users.setPermissions('guest', name, FULL);
}

/** Runs the handshake up to connection.open and returns the server's answer: undefined for open-ok. */
async function openOutcome(opts: {
  user?: string;
  pass?: string;
  vhost: string;
}): Promise<CloseReason | undefined> {
  const raw = await RawAmqpClient.connect(b.port);
  try {
    await raw.handshake({ ...opts, skipOpenOk: true });
    const m = await raw.readMethod();
    assert.ok(m, 'the server closed the socket without an answer to connection.open');
    if (m.classId === 10 && m.methodId === 41) return undefined;
    assert.deepEqual([m.classId, m.methodId], [10, 50], 'expected open-ok or connection.close');
    return decodeClose(m.args);
  } finally {
    raw.destroy();
  }
}

/** Runs an operation that should make the server close the connection; rejects with the close error. */
function closedBy(conn: ChannelModel, operation: () => Promise<unknown>): Promise<never> {
  const closed = connectionClosed(conn);
  operation().catch(() => {}); // amqplib reports the close here only as "channel ended"
  return closed;
}

async function closeAndForget(conn: ChannelModel, vhost: string): Promise<void> {
  await conn.close();
  await waitFor(() => b.broker.connections.connectionsIn(vhost) === 0, `${vhost} to have no connections`);
}

describe('vhost limits', () => {
  test('max-connections: one more is refused at connection.open with 530', async () => {
    await vhostWithLimits('lim-conn', { 'max-connections': 1 });
    const first = await connect(b.url('guest', 'guest', 'lim-conn'));
    assert.deepEqual(await openOutcome({ vhost: 'lim-conn' }), {
      replyCode: ReplyCode.NOT_ALLOWED,
      replyText:
        "NOT_ALLOWED - access to vhost 'lim-conn' refused for user 'guest': connection limit (1) is reached",
      classId: 10,
      methodId: 40,
    });
    // Other vhosts are not affected, and a freed slot can be taken again.
    assert.equal(await openOutcome({ vhost: '/' }), undefined);
    await closeAndForget(first, 'lim-conn');
    assert.equal(await openOutcome({ vhost: 'lim-conn' }), undefined);
  });

  test('max-connections 0 admits nobody; a negative limit is none', async () => {
    await vhostWithLimits('lim-zero', { 'max-connections': 0 });
    assert.match(
      (await openOutcome({ vhost: 'lim-zero' }))?.replyText ?? '',
      /connection limit \(0\) is reached/,
    );
    await b.broker.putVhost('lim-zero', { limits: { 'max-connections': -1 } });
    assert.equal(await openOutcome({ vhost: 'lim-zero' }), undefined);
  });

  test('max-queues: a new queue beyond the limit is 406; existing ones can be re-declared', async () => {
    await vhostWithLimits('lim-q', { 'max-queues': 2 });
    const conn = await connect(b.url('guest', 'guest', 'lim-q'));
    try {
      const ch = await openChannel(conn);
      await ch.assertQueue('q1', { durable: false });
      await ch.assertQueue('q2', { durable: true });
      const err = await expectChannelClose(
        ch.assertQueue('q3', { durable: false }),
        ReplyCode.PRECONDITION_FAILED,
      );
      assert.match(
        err.message,
        /PRECONDITION_FAILED - cannot declare queue 'q3': queue limit in vhost 'lim-q' \(2\) is reached/,
      );
      const again = await openChannel(conn);
      await again.assertQueue('q1', { durable: false });
      const named = await expectChannelClose(again.assertQueue('', { exclusive: true }), 406);
      assert.match(
        named.message,
        /cannot declare queue 'amq\.gen-[^']+': queue limit in vhost 'lim-q' \(2\) is reached/,
      );
      const third = await openChannel(conn);
      await third.deleteQueue('q2');
      await third.assertQueue('q3', { durable: false });
      await third.close();
    } finally {
      await conn.close();
    }
  });
});

describe('user limits', () => {
  test('max-connections: counted over all vhosts, refused with 530 at connection.open', async () => {
    await b.addUser('one-conn', 'pw', FULL, { limits: { 'max-connections': 1 } });
    const first = await connect(b.url('one-conn', 'pw'));
    assert.deepEqual(await openOutcome({ user: 'one-conn', pass: 'pw', vhost: '/' }), {
      replyCode: ReplyCode.NOT_ALLOWED,
      replyText: "NOT_ALLOWED - connection refused for user 'one-conn': user connection limit (1) is reached",
      classId: 10,
      methodId: 40,
    });
    await first.close();
    await waitFor(
      () => b.broker.connections.connectionsOf('one-conn') === 0,
      'the connection to be released',
    );
    assert.equal(await openOutcome({ user: 'one-conn', pass: 'pw', vhost: '/' }), undefined);
  });

  test('max-channels: counted over all the user’s connections; one more closes the connection with 530', async () => {
    await b.addUser('two-ch', 'pw', FULL, { limits: { 'max-channels': 2 } });
    const a = await connect(b.url('two-ch', 'pw'));
    const c = await connect(b.url('two-ch', 'pw'));
    try {
      const first = await a.createChannel();
      await c.createChannel();
      const err = await expectConnectionClose(
        closedBy(c, () => c.createChannel()),
        ReplyCode.NOT_ALLOWED,
      );
      assert.match(
        err.message,
        /NOT_ALLOWED - number of channels opened for user 'two-ch' has reached the maximum allowed user limit of \(2\)/,
      );
      // Closing channels (and the connection that held one) gives the slots back.
      await waitFor(
        () => b.broker.connections.channelsOf('two-ch') === 1,
        'the closed connection’s channel back',
      );
      await first.close();
      await a.createChannel();
      await a.createChannel();
    } finally {
      await a.close().catch(() => {});
      await c.close().catch(() => {});
    }
  });
});

describe('consumers per channel (limits.maxConsumersPerChannel)', () => {
  test('one more consumer than the limit closes the connection with 530; a reused tag is reported first', async () => {
    const conn = await connect(b.url('guest', 'guest'));
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.consume(queue, () => {}, { consumerTag: 'c1' });
    await ch.consume(queue, () => {}, { consumerTag: 'c2' });
    // Another channel has its own allowance.
    const other = await openChannel(conn);
    await other.consume(queue, () => {});
    const reused = await expectConnectionClose(
      closedBy(conn, () => ch.consume(queue, () => {}, { consumerTag: 'c1' })),
      530,
    );
    assert.match(reused.message, /attempt to reuse consumer tag 'c1'/);

    const conn2 = await connect(b.url('guest', 'guest'));
    const ch2 = await openChannel(conn2);
    const { queue: q2 } = await ch2.assertQueue('', { exclusive: true });
    await ch2.consume(q2, () => {});
    const { consumerTag } = await ch2.consume(q2, () => {});
    const err = await expectConnectionClose(
      closedBy(conn2, () => ch2.consume(q2, () => {})),
      ReplyCode.NOT_ALLOWED,
    );
    assert.match(err.message, /NOT_ALLOWED - reached maximum \(2\) of consumers per channel/);
    assert.match(consumerTag, /^amq\.ctag-/);
  });
});

describe('vhost deletion', () => {
  test("closes the vhost's connections with 320 CONNECTION_FORCED; other vhosts' stay", async () => {
    await vhostWithLimits('doomed', {});
    const doomed = await connect(b.url('guest', 'guest', 'doomed'));
    const survivor = await connect(b.url('guest', 'guest'));
    const closed = connectionClosed(doomed).catch((err: Error & { code?: number }) => err);
    await b.broker.deleteVhost('doomed');
    const err = await closed;
    assert.equal(err.code, ReplyCode.CONNECTION_FORCED);
    assert.match(err.message, /CONNECTION_FORCED - vhost 'doomed' is deleted/);
    const ch = await openChannel(survivor);
    await ch.checkQueue((await ch.assertQueue('', { exclusive: true })).queue);
    await survivor.close();
    assert.equal(b.broker.connections.connectionsIn('doomed'), 0);
    assert.deepEqual(await openOutcome({ vhost: 'doomed' }), {
      replyCode: ReplyCode.NOT_ALLOWED,
      replyText: 'NOT_ALLOWED - vhost doomed not found',
      classId: 10,
      methodId: 40,
    });
  });

  test('a deleted vhost’s raw connection gets connection.close 320 naming no method', async () => {
    await vhostWithLimits('doomed-raw', {});
    const raw = await RawAmqpClient.connect(b.port);
    try {
      await raw.handshake({ vhost: 'doomed-raw' });
      await b.broker.deleteVhost('doomed-raw');
      assert.deepEqual(await raw.readConnectionClose(), {
        replyCode: ReplyCode.CONNECTION_FORCED,
        replyText: "CONNECTION_FORCED - vhost 'doomed-raw' is deleted",
        classId: 0,
        methodId: 0,
      });
    } finally {
      raw.destroy();
    }
  });
});

describe('user deletion', () => {
  test("closes the user's connections with 320 CONNECTION_FORCED, as RabbitMQ does", async () => {
    await b.addUser('leaving', 'pw', FULL);
    const conn = await connect(b.url('leaving', 'pw'));
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.consume(queue, () => {});
    const closed = connectionClosed(conn).catch((err: Error & { code?: number }) => err);
    await b.broker.users.deleteUser('leaving');
    const err = await closed;
    assert.equal(err.code, ReplyCode.CONNECTION_FORCED);
    assert.match(err.message, /CONNECTION_FORCED - user 'leaving' is deleted/);
    assert.equal(b.broker.connections.connectionsOf('leaving'), 0);
  });
});
