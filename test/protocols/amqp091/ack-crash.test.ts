import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import type { ChannelModel } from 'amqplib';
import { connect, openChannel, openConfirmChannel, sleep } from '../../helpers/amqp-client.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../../helpers/broker-under-test.js';

const SKIP_REASON = 'needs the EventterMQ process (EVENTTER_TEST_AMQP_URL points at an external broker)';
const QUEUE = 'ack.crash';
const ROUNDS = 3;
const WINDOW = 3000;
const BODY = Buffer.alloc(1000, 0x62);
const ARGS = ['--segment-max-bytes', '1048576'];

/** Publishes persistent messages with up to WINDOW unconfirmed, until the connection dies. */
async function publishUntilKilled(conn: ChannelModel): Promise<void> {
  try {
    const ch = await openConfirmChannel(conn);
    for (;;) {
      for (let i = 0; i < WINDOW; i++) ch.sendToQueue(QUEUE, BODY, { persistent: true });
      await ch.waitForConfirms();
    }
  } catch {
    // killed under us
  }
}

/** Acks everything it gets (prefetch 2000) until the connection dies. */
async function consumeUntilKilled(conn: ChannelModel): Promise<void> {
  try {
    const ch = await openChannel(conn);
    await ch.prefetch(2000);
    await ch.consume(QUEUE, (m) => {
      if (m) ch.ack(m);
    });
  } catch {
    // killed under us
  }
}

async function queueDepth(broker: BrokerUnderTest): Promise<number> {
  const conn = await connect(broker.url);
  try {
    return (await (await openChannel(conn)).checkQueue(QUEUE)).messageCount;
  } finally {
    await conn.close();
  }
}

// The audit's sequence: acks racing appends across segment roll-over, kill -9, then new messages. 0.1.0 let
// settle records written before their messages cover the offsets handed to the new messages after restart.
test('messages confirmed after a kill -9 that interrupted acking survive the next restarts', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  for (let round = 0; round < ROUNDS; round++) {
    let broker = await startBroker({ extraArgs: ARGS });
    const { dataDir } = broker;
    try {
      const setup = await connect(broker.url);
      await (await openChannel(setup)).assertQueue(QUEUE, { durable: true });
      await setup.close();
      const conns = await Promise.all([connect(broker.url), connect(broker.url), connect(broker.url)]);
      const work = [consumeUntilKilled(conns[0]), publishUntilKilled(conns[1]), publishUntilKilled(conns[2])];
      await sleep(1500 + Math.floor(Math.random() * 2500));
      await broker.kill9();
      await Promise.all(work);

      broker = await startBroker({ dataDir, extraArgs: ARGS });
      const before = await queueDepth(broker);
      const conn = await connect(broker.url);
      const ch = await openConfirmChannel(conn);
      for (let i = 0; i < 3000; i++) ch.sendToQueue(QUEUE, BODY, { persistent: true });
      await ch.waitForConfirms();
      await conn.close();
      assert.equal(await queueDepth(broker), before + 3000);
      for (let restart = 0; restart < 2; restart++) {
        assert.equal(await broker.stop(), 0);
        broker = await startBroker({ dataDir, extraArgs: ARGS });
        assert.equal(
          await queueDepth(broker),
          before + 3000,
          `round ${round}, restart ${restart}: nothing lost`,
        );
      }
    } finally {
      await broker.kill9();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }
});
