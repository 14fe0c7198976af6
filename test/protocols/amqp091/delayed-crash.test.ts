import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChannelModel } from 'amqplib';
import { MAX_UNSETTLED } from '../../../src/core/delayed-messages.js';
import { connect, openChannel, openConfirmChannel, sleep } from '../../helpers/amqp-client.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../../helpers/broker-under-test.js';

const SKIP_REASON = 'needs the EventterMQ process (EVENTTER_TEST_AMQP_URL points at an external broker)';
const CYCLES = 3;
/** Messages per cycle, due evenly over FIRE_SPREAD_MS: about 20 fire per ms while the broker is killed. */
const MESSAGES = 4000;
const FIRE_SPREAD_MS = 200;
/** The first message is due this long after the cycle starts; publishing all of them takes less. */
const FIRE_LEAD_MS = 1500;
const BATCH = 250;
const EXCHANGE = 'delayed.crash.ex';
const QUEUE = 'delayed.crash.q';
const KEY = 'k';
/** The drain ends once every confirmed message arrived and nothing more came for this long. */
const QUIET_MS = 400;
/**
 * Duplicates allowed per kill. A message fires again after kill -9 only if its routed copy reached the queue
 * file but its settle did not reach the delayed store's settle log. The exchange never has more than
 * MAX_UNSETTLED such messages (it waits for their settles to be durable before firing more), so this is a
 * hard bound whatever the disk or CPU speed; without that cap a kill here repeated up to ~560.
 */
const MAX_DUPLICATES_PER_KILL = MAX_UNSETTLED;

/** Publishes MESSAGES confirmed persistent messages, the i-th due at fireAt + i * spread / MESSAGES. */
async function publishSpread(conn: ChannelModel, cycle: number, fireAt: number, confirmed: Set<string>) {
  const ch = await openConfirmChannel(conn);
  for (let start = 0; start < MESSAGES; start += BATCH) {
    for (let i = start; i < Math.min(start + BATCH, MESSAGES); i++) {
      const id = `${cycle}-${i}`;
      const delay = Math.max(1, Math.round(fireAt + (i * FIRE_SPREAD_MS) / MESSAGES - Date.now()));
      ch.publish(
        EXCHANGE,
        KEY,
        Buffer.from(id),
        { persistent: true, messageId: id, headers: { 'x-delay': delay } },
        (err) => {
          if (err === null || err === undefined) confirmed.add(id);
        },
      );
    }
    await ch.waitForConfirms();
  }
  await ch.close();
}

/** Consumes until every confirmed id arrived, nothing is still due, and the queue stayed quiet QUIET_MS. */
async function drain(url: string, lastDueAt: number, confirmed: Set<string>): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  const conn = await connect(url);
  const ch = await openChannel(conn);
  let lastAt = Date.now();
  await ch.consume(
    QUEUE,
    (msg) => {
      if (msg === null) return;
      const id = String(msg.properties.messageId);
      assert.equal(msg.content.toString(), id, 'body matches its id');
      seen.set(id, (seen.get(id) ?? 0) + 1);
      lastAt = Date.now();
    },
    { noAck: true },
  );
  const deadline = Date.now() + 15_000;
  for (;;) {
    const now = Date.now();
    const allIn = [...confirmed].every((id) => seen.has(id));
    if (allIn && now > lastDueAt && now - lastAt >= QUIET_MS) break;
    if (now > deadline) break; // the assertions below say what is missing
    await sleep(50);
  }
  await conn.close();
  return seen;
}

test('kill -9 while delayed messages fire: none lost, duplicates bounded (3 cycles)', {
  timeout: 40_000,
}, async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  let broker: BrokerUnderTest = await startBroker();
  const dataDir = broker.dataDir;
  let totalDuplicates = 0;
  try {
    const setup = await connect(broker.url);
    const ch = await openChannel(setup);
    await ch.assertExchange(EXCHANGE, 'x-delayed-message', {
      durable: true,
      arguments: { 'x-delayed-type': 'direct' },
    });
    await ch.assertQueue(QUEUE, { durable: true });
    await ch.bindQueue(QUEUE, EXCHANGE, KEY);
    await setup.close();

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const confirmed = new Set<string>();
      const fireAt = Date.now() + FIRE_LEAD_MS;
      const conn = await connect(broker.url);
      await publishSpread(conn, cycle, fireAt, confirmed);
      const publishedBy = Date.now();
      // Kill halfway through the firing: about half the messages are routed, the rest still held.
      await sleep(Math.max(0, fireAt + FIRE_SPREAD_MS / 2 - Date.now()));
      await broker.kill9();
      await conn.close().catch(() => {});
      broker = await startBroker({ dataDir });

      const seen = await drain(broker.url, fireAt + FIRE_SPREAD_MS, confirmed);
      let deliveries = 0;
      for (const [id, count] of seen) {
        assert.ok(id.startsWith(`${cycle}-`), `message ${id} of an earlier cycle delivered again`);
        deliveries += count;
      }
      const duplicates = deliveries - seen.size;
      totalDuplicates += duplicates;
      const missing = [...confirmed].filter((id) => !seen.has(id));
      t.diagnostic(
        `cycle ${cycle}: ${confirmed.size} confirmed (published ${publishedBy - fireAt + FIRE_LEAD_MS} ms), ` +
          `${seen.size} delivered, ${duplicates} duplicates, ${missing.length} lost`,
      );
      assert.equal(confirmed.size, MESSAGES, 'every publish was confirmed before the kill');
      assert.deepEqual(missing.slice(0, 20), [], `${missing.length} confirmed delayed messages lost`);
      assert.ok(
        duplicates <= MAX_DUPLICATES_PER_KILL,
        `${duplicates} duplicates after one kill -9 (at most ${MAX_DUPLICATES_PER_KILL} expected)`,
      );
    }
    t.diagnostic(`${CYCLES} kill -9 cycles: ${totalDuplicates} duplicates in all`);
  } finally {
    await broker.stop();
  }
});
