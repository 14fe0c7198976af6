import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect, openChannel, openConfirmChannel } from '../../helpers/amqp-client.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../../helpers/broker-under-test.js';
import {
  arg,
  FRAME_METHOD,
  methodFrame,
  methods,
  RawAmqpClient,
  type RawFrame,
} from '../../helpers/raw-amqp-client.js';
import { uniqueName } from '../../helpers/unique-name.js';

// A client's connection.close: acks before it (and, on EventterMQ, acks trailing it until the client hangs up)
// take effect before unacked messages are requeued; after close-ok the client, not the server, closes the TCP
// connection, as with RabbitMQ 3.10, which resets it only after min(heartbeat, 30 s).

let broker: BrokerUnderTest;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

const raw = {
  basicQos(channel: number, prefetch: number): Buffer {
    return methodFrame(channel, 60, 10, Buffer.concat([arg.long(0), arg.short(prefetch), arg.octet(0)]));
  },
  basicConsume(channel: number, queue: string): Buffer {
    // reserved, queue, consumer tag, bits (no-local, no-ack, exclusive, no-wait), arguments
    return methodFrame(
      channel,
      60,
      20,
      Buffer.concat([arg.short(0), arg.shortstr(queue), arg.shortstr(''), arg.octet(0), arg.emptyTable()]),
    );
  },
  basicAck(channel: number, tag: number): Buffer {
    return methodFrame(channel, 60, 80, Buffer.concat([arg.longlong(tag), arg.octet(0)]));
  },
  durableQueueDeclare(channel: number, queue: string): Buffer {
    return methodFrame(
      channel,
      50,
      10,
      Buffer.concat([arg.short(0), arg.shortstr(queue), arg.octet(0b10), arg.emptyTable()]),
    );
  },
};

/** Publishes `n` persistent messages to a fresh durable queue (confirmed) and returns its name. */
async function fillQueue(n: number): Promise<string> {
  const queue = uniqueName('client-close');
  const conn = await connect(broker.url);
  try {
    const ch = await openConfirmChannel(conn);
    await ch.assertQueue(queue, { durable: true });
    const body = Buffer.alloc(64, 'x');
    for (let i = 0; i < n; i++) ch.sendToQueue(queue, body, { persistent: true });
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
  return queue;
}

/** Ready messages in `queue` (deleting it afterwards). */
async function leftIn(queue: string): Promise<number> {
  const conn = await connect(broker.url);
  try {
    const ch = await openChannel(conn);
    const { messageCount } = await ch.checkQueue(queue);
    await ch.deleteQueue(queue);
    return messageCount;
  } finally {
    await conn.close();
  }
}

/** Raw consumer on channel 1 with prefetch `n`; returns the delivery tags of the first `n` deliveries. */
async function rawConsume(client: RawAmqpClient, queue: string, n: number): Promise<number[]> {
  await client.openChannel(1);
  await client.write(raw.basicQos(1, n));
  await client.expectMethod(60, 11);
  await client.write(raw.basicConsume(1, queue));
  await client.expectMethod(60, 21);
  const tags: number[] = [];
  while (tags.length < n) {
    const f = await client.readFrame();
    if (f === undefined) throw new Error('socket closed while consuming');
    if (isMethod(f, 60, 60)) tags.push(deliveryTag(f));
  }
  return tags;
}

function isMethod(f: RawFrame, classId: number, methodId: number): boolean {
  return (
    f.type === FRAME_METHOD && f.payload.readUInt16BE(0) === classId && f.payload.readUInt16BE(2) === methodId
  );
}

/** basic.deliver: consumer-tag (shortstr), then delivery-tag (longlong). */
function deliveryTag(f: RawFrame): number {
  const tagLength = f.payload[4];
  return Number(f.payload.readBigUInt64BE(5 + tagLength));
}

/** Reads until connection.close-ok (skipping deliveries and replies the server sent before it). */
async function readCloseOk(client: RawAmqpClient): Promise<void> {
  for (;;) {
    const f = await client.readFrame();
    if (f === undefined) throw new Error('socket closed before connection.close-ok');
    if (isMethod(f, 10, 51)) return;
  }
}

describe('client-initiated connection.close', () => {
  // amqplib interleaves channel 0 with channel frames, so up to a prefetch's worth of acks trail its
  // connection.close on the wire; RabbitMQ 3.10 discards those (83-367 of 10,000 left here), EventterMQ applies
  // them until the client hangs up.
  test('10,000 acks then conn.close() without closing the channel: nothing is redelivered', {
    skip: isExternalBroker() && 'RabbitMQ discards acks that trail connection.close',
  }, async () => {
    const n = 10_000;
    const queue = await fillQueue(n);
    const conn = await connect(broker.url);
    const ch = await openChannel(conn);
    await ch.prefetch(500);
    let acked = 0;
    await new Promise<void>((resolve) => {
      void ch.consume(queue, (m) => {
        if (m === null) return;
        ch.ack(m);
        if (++acked === n) resolve();
      });
    });
    // Count only once the old connection is gone, so nothing is still held unacked.
    const socket = (conn.connection as unknown as { stream: Socket }).stream;
    const socketClosed = new Promise((resolve) => socket.once('close', resolve));
    await conn.close();
    await socketClosed;
    assert.equal(await leftIn(queue), 0);
  });

  test('acks and connection.close in one write: all acks apply, even queued behind an async declare', async () => {
    // queue.declare completes asynchronously, so the acks after it wait in the channel's backlog when
    // connection.close arrives; they must still run before the channel's unacked messages are requeued.
    const n = 50;
    const queue = await fillQueue(n);
    const client = await RawAmqpClient.connect(broker.amqpPort);
    try {
      await client.handshake();
      const tags = await rawConsume(client, queue, n);
      await client.write(
        Buffer.concat([
          raw.durableQueueDeclare(1, uniqueName('client-close-declare')),
          ...tags.map((t) => raw.basicAck(1, t)),
          methods.connectionClose(),
        ]),
      );
      await readCloseOk(client);
    } finally {
      client.destroy();
    }
    assert.equal(await leftIn(queue), 0);
  });

  test('acks written after connection.close, before the client hangs up, still count', {
    skip: isExternalBroker() && 'RabbitMQ discards acks that trail connection.close',
  }, async () => {
    const n = 40;
    const queue = await fillQueue(n);
    const client = await RawAmqpClient.connect(broker.amqpPort);
    try {
      await client.handshake();
      const tags = await rawConsume(client, queue, n);
      const acks = tags.map((t) => raw.basicAck(1, t));
      await client.write(
        Buffer.concat([...acks.slice(0, 10), methods.connectionClose(), ...acks.slice(10, 30)]),
      );
      await readCloseOk(client);
      await client.write(Buffer.concat(acks.slice(30)));
    } finally {
      client.socket.end();
      await client.waitForSocketClose();
    }
    assert.equal(await leftIn(queue), 0);
  });

  test('unacked messages are requeued once the client hangs up', async () => {
    const queue = await fillQueue(5);
    const client = await RawAmqpClient.connect(broker.amqpPort);
    try {
      await client.handshake();
      const tags = await rawConsume(client, queue, 5);
      await client.write(Buffer.concat([raw.basicAck(1, tags[0]), methods.connectionClose()]));
      await readCloseOk(client);
    } finally {
      client.socket.end();
      await client.waitForSocketClose();
    }
    assert.equal(await leftIn(queue), 4);
  });

  test('after close-ok the server leaves the socket to the client, and resets it after the heartbeat timeout', async () => {
    const client = await RawAmqpClient.connect(broker.amqpPort);
    try {
      await client.handshake({ heartbeat: 1 });
      await client.openChannel(1);
      await client.write(methods.connectionClose());
      await client.expectMethod(10, 51);
      const closeOkAt = Date.now();
      let error: string | undefined;
      client.socket.on('error', (err: NodeJS.ErrnoException) => {
        error = err.code;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(client.isClosed, false, 'the server ended the socket right after close-ok');
      // RabbitMQ 3.10: reset 1 s after close-ok with heartbeat 1 (30 s with heartbeat 0).
      await client.waitForSocketClose(5_000);
      const waited = Date.now() - closeOkAt;
      assert.ok(waited >= 900 && waited < 3_000, `socket closed ${waited} ms after close-ok`);
      assert.equal(error, 'ECONNRESET');
    } finally {
      client.destroy();
    }
  });

  test('with heartbeats off the socket stays until the client closes it', async () => {
    const client = await RawAmqpClient.connect(broker.amqpPort);
    try {
      await client.handshake({ heartbeat: 0 });
      await client.write(methods.connectionClose());
      await client.expectMethod(10, 51);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(client.isClosed, false);
      // Nothing is sent after close-ok.
      assert.equal(await client.readFrame(100).catch(() => 'nothing'), 'nothing');
      client.socket.end();
      await client.waitForSocketClose(2_000);
    } finally {
      client.destroy();
    }
  });

  test('a graceful shutdown does not wait for a client lingering after close-ok', {
    skip: isExternalBroker() && 'needs a broker this test can stop',
  }, async () => {
    const own = await startBroker();
    const client = await RawAmqpClient.connect(own.amqpPort);
    try {
      await client.handshake({ heartbeat: 0 }); // 30 s grace
      await client.write(methods.connectionClose());
      await client.expectMethod(10, 51);
      const start = Date.now();
      assert.equal(await own.stop(), 0);
      await client.waitForSocketClose(1_000);
      assert.ok(Date.now() - start < 5_000, `shutdown took ${Date.now() - start} ms`);
    } finally {
      client.destroy();
      await own.stop();
    }
  });

  test('a server-initiated close still ends the socket as soon as the client answers close-ok', async () => {
    const client = await RawAmqpClient.connect(broker.amqpPort);
    try {
      await client.handshake();
      // basic.qos on a channel that was never opened: 504 CHANNEL_ERROR closes the connection.
      await client.write(raw.basicQos(7, 1));
      const close = await client.readConnectionClose(); // answers close-ok
      assert.equal(close?.replyCode, 504);
      await client.waitForSocketClose(1_000);
    } finally {
      client.destroy();
    }
  });

  test('a client that stops sending heartbeats is still dropped promptly', {
    skip: isExternalBroker() && 'RabbitMQ allows more than two missed heartbeats',
  }, async () => {
    const client = await RawAmqpClient.connect(broker.amqpPort);
    try {
      await client.handshake({ heartbeat: 1 });
      const start = Date.now();
      await client.waitForSocketClose(5_000);
      assert.ok(Date.now() - start < 4_000);
    } finally {
      client.destroy();
    }
  });
});
