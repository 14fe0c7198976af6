import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import {
  connect,
  connectionClosed,
  expectConnectionClose,
  openChannel,
  sleep,
  withConnection,
} from '../../helpers/amqp-client.js';
import { type BrokerUnderTest, startBroker } from '../../helpers/broker-under-test.js';
import { methods, RawAmqpClient } from '../../helpers/raw-amqp-client.js';
import { ReplyCode } from '../../helpers/reply-codes.js';
import { uniqueName } from '../../helpers/unique-name.js';

let broker: BrokerUnderTest;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

function urlWith(
  params: Record<string, string | number>,
  creds?: { user: string; pass: string },
  vhost?: string,
) {
  const u = new URL(broker.url);
  if (creds) {
    u.username = creds.user;
    u.password = creds.pass;
  }
  if (vhost !== undefined) u.pathname = `/${encodeURIComponent(vhost)}`;
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, String(v));
  return u.toString();
}

describe('connection', () => {
  test('connects, opens a channel, closes cleanly', async () => {
    const conn = await connect(broker.url);
    let closeErr: unknown = 'not closed';
    conn.on('close', (err) => {
      closeErr = err;
    });
    const ch = await openChannel(conn);
    await ch.close();
    await conn.close();
    assert.equal(closeErr, undefined, 'a client-initiated close carries no error');
  });

  test('bad credentials are refused with 403 ACCESS_REFUSED', async () => {
    // amqplib announces authentication_failure_close, so the server must answer with connection.close 403
    // rather than just dropping the socket.
    await assert.rejects(
      amqp.connect(urlWith({}, { user: 'guest', pass: 'wrong-password' })),
      (err: Error) => {
        assert.match(err.message, /403/);
        assert.match(err.message, /ACCESS.REFUSED/);
        return true;
      },
    );
  });

  test('bad credentials over the wire: connection.close 403 after start-ok', async () => {
    const raw = await RawAmqpClient.connect(broker.amqpPort);
    try {
      await raw.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
      await raw.expectMethod(10, 10);
      await raw.write(methods.startOk('guest', 'nope'));
      const close = await raw.readConnectionClose();
      // The raw client announces authentication_failure_close, so a close is due (not a dropped socket).
      assert.ok(close, 'expected connection.close');
      assert.equal(close.replyCode, ReplyCode.ACCESS_REFUSED);
      // RabbitMQ 3.10 names no failing method here (class 0, method 0), so those are not asserted.
    } finally {
      raw.destroy();
    }
  });

  test('unknown vhost is refused with 530 NOT_ALLOWED', async () => {
    await assert.rejects(amqp.connect(urlWith({}, undefined, uniqueName('no-such-vhost'))));
    // amqplib hides the reply code during the handshake, so read it off the wire.
    const raw = await RawAmqpClient.connect(broker.amqpPort);
    try {
      await raw.handshake({ vhost: uniqueName('no-such-vhost'), skipOpenOk: true });
      const close = await raw.readConnectionClose();
      assert.ok(close, 'expected connection.close');
      assert.equal(close.replyCode, ReplyCode.NOT_ALLOWED);
      assert.equal(close.classId, 10);
      assert.equal(close.methodId, 40, 'the close names connection.open as the failing method');
    } finally {
      raw.destroy();
    }
  });

  test('heartbeat=1 is negotiated and an idle connection stays alive', async () => {
    const conn = await connect(urlWith({ heartbeat: 1 }));
    try {
      const internals = conn.connection as unknown as { heartbeat: number };
      assert.equal(internals.heartbeat, 1);
      let closed = false;
      conn.on('close', () => {
        closed = true;
      });
      // amqplib drops the connection if it hears nothing for two intervals, so surviving 3.5 s idle proves the
      // server sends heartbeats; the server must also accept ours and not time us out.
      await sleep(3_500);
      assert.equal(closed, false);
      const ch = await openChannel(conn);
      const q = await ch.assertQueue('', { exclusive: true });
      assert.match(q.queue, /^amq\.gen-/);
    } finally {
      await conn.close().catch(() => {});
    }
  });

  test('server proposes sane tune values', async () => {
    const raw = await RawAmqpClient.connect(broker.amqpPort);
    try {
      const tune = await raw.handshake();
      assert.ok(tune.frameMax === 0 || tune.frameMax >= 4096, `frame_max ${tune.frameMax}`);
      assert.ok(tune.channelMax === 0 || tune.channelMax >= 1, `channel_max ${tune.channelMax}`);
    } finally {
      raw.destroy();
    }
  });

  test('frame_max is negotiated down to what the client asks and large content is split to fit', async () => {
    const conn = await connect(urlWith({ frameMax: 4096 }));
    try {
      assert.equal((conn.connection as unknown as { frameMax: number }).frameMax, 4096);
      const ch = await openChannel(conn);
      const { queue } = await ch.assertQueue('', { exclusive: true });
      const body = Buffer.alloc(20_000);
      for (let i = 0; i < body.length; i++) body[i] = i % 251;
      ch.sendToQueue(queue, body);
      // A delivery must also be split by the server into <= 4096-byte frames, or amqplib fails the connection.
      const got = await waitForGet(ch, queue);
      assert.ok(got);
      assert.deepEqual(got.content, body);
    } finally {
      await conn.close().catch(() => {});
    }
  });

  test('channel_max: opening a channel above the negotiated maximum closes the connection with 530', async () => {
    const conn = await connect(urlWith({ channelMax: 2 }));
    try {
      const internals = conn.connection as unknown as { channelMax: number };
      assert.equal(internals.channelMax, 2);
      await openChannel(conn);
      await openChannel(conn);
      const closed = connectionClosed(conn);
      // amqplib refuses locally; lift its limit so the server gets to see channel 3.
      internals.channelMax = 10;
      const third = conn.createChannel();
      third.catch(() => {});
      // RabbitMQ 3.10: connection.close 530 NOT_ALLOWED "number of channels opened (2) has reached the
      // negotiated channel_max (2)".
      const err = await expectConnectionClose(closed, ReplyCode.NOT_ALLOWED);
      assert.match(err.message, /channel_max/);
    } finally {
      await conn.close().catch(() => {});
    }
  });

  test('server properties advertise the capabilities clients rely on', async () => {
    await withConnection(broker.url, async (conn) => {
      const props = conn.connection.serverProperties as unknown as Record<string, unknown>;
      const caps = props.capabilities as Record<string, unknown>;
      assert.ok(caps && typeof caps === 'object', 'capabilities table present');
      for (const cap of [
        'publisher_confirms',
        'exchange_exchange_bindings',
        'basic.nack',
        'consumer_cancel_notify',
        'connection.blocked',
        'authentication_failure_close',
        'per_consumer_qos',
      ]) {
        assert.equal(caps[cap], true, `capability ${cap}`);
      }
      // Product name is deliberately not asserted: EventterMQ may call itself what it likes.
      assert.equal(typeof props.version, 'string');
    });
  });

  test('many channels on one connection work independently', async () => {
    await withConnection(broker.url, async (conn) => {
      const channels = await Promise.all(Array.from({ length: 20 }, () => openChannel(conn)));
      const { queue } = await channels[0].assertQueue('', { exclusive: true });
      for (const [i, ch] of channels.entries()) ch.sendToQueue(queue, Buffer.from(String(i)));
      for (const ch of channels) await ch.close();
      const ch = await openChannel(conn);
      const q = await waitForCount(ch, queue, 20);
      assert.equal(q, 20);
    });
  });
});

async function waitForGet(ch: amqp.Channel, queue: string) {
  for (let i = 0; i < 250; i++) {
    const m = await ch.get(queue, { noAck: true });
    if (m) return m;
    await sleep(20);
  }
  return false;
}

async function waitForCount(ch: amqp.Channel, queue: string, n: number) {
  for (let i = 0; i < 250; i++) {
    const q = await ch.checkQueue(queue);
    if (q.messageCount >= n) return q.messageCount;
    await sleep(20);
  }
  return -1;
}
