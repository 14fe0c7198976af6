import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { connect, openChannel, openConfirmChannel, sleep, waitFor } from '../../helpers/amqp-client.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../../helpers/broker-under-test.js';

const SKIP_REASON = 'needs the EventterMQ process (EVENTTER_TEST_AMQP_URL points at an external broker)';
const STREAM = 'crash.stream';
const CYCLES = 3;
const PUBLISHERS = 3;
/** Small segments, so every cycle rolls several and a kill can land on a roll. */
const SEGMENT_BYTES = 16_384;
const MAX_UNCONFIRMED = 64;

interface Stored {
  offset: number;
  id: string;
}

const offsetOf = (m: ConsumeMessage) => Number(m.properties.headers?.['x-stream-offset']);

/**
 * Publishes with confirms until the connection dies, recording each id (`c<cycle>p<n>-<seq>`) whose ack
 * arrived. The stream assigns offsets in arrival order and a confirm does not carry one, so what is checked
 * per message is that its id is stored, once, after the ids its publisher sent before it.
 */
async function publishUntilKilled(conn: ChannelModel, prefix: string, confirmed: string[]): Promise<void> {
  try {
    const ch = await openConfirmChannel(conn);
    let outstanding = 0;
    let wake: (() => void) | null = null;
    for (let seq = 0; ; seq++) {
      const id = `${prefix}-${seq}`;
      outstanding++;
      // Varying sizes: records straddle segment boundaries at different points each cycle.
      ch.sendToQueue(STREAM, Buffer.alloc(50 + ((seq * 37) % 400), seq % 256), { messageId: id }, (err) => {
        outstanding--;
        if (err === null || err === undefined) confirmed.push(id);
        wake?.();
      });
      while (outstanding >= MAX_UNCONFIRMED) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
        wake = null;
      }
    }
  } catch {
    // The broker was killed under us: expected.
  }
}

/** A reader at `first` during the publishing: what it sees is what the stream handed out at each offset. */
async function watch(conn: ChannelModel, seen: Map<number, string>): Promise<void> {
  try {
    const ch = await openChannel(conn);
    await ch.prefetch(500);
    await ch.consume(
      STREAM,
      (m) => {
        if (!m) return;
        seen.set(offsetOf(m), String(m.properties.messageId));
        try {
          ch.ack(m);
        } catch {
          // killed
        }
      },
      { arguments: { 'x-stream-offset': 'first' } },
    );
  } catch {
    // killed before it subscribed
  }
}

/** Reads the whole stream from first with prefetch and acks. */
async function readAll(ch: Channel): Promise<Stored[]> {
  const { messageCount } = await ch.checkQueue(STREAM);
  await ch.prefetch(1000);
  const got: Stored[] = [];
  const { consumerTag } = await ch.consume(
    STREAM,
    (m) => {
      if (!m) return;
      got.push({ offset: offsetOf(m), id: String(m.properties.messageId) });
      ch.ack(m);
    },
    { arguments: { 'x-stream-offset': 'first' } },
  );
  await waitFor(() => got.length >= messageCount, `${messageCount} messages from the stream`, 15_000);
  await ch.cancel(consumerTag);
  return got;
}

test('kill -9 mid-publish on a stream: every confirmed message stays, offsets are never reused (3 cycles)', {
  timeout: 40_000,
}, async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  let broker: BrokerUnderTest = await startBroker();
  const dataDir = broker.dataDir;
  const confirmed = new Map<string, string[]>(); // publisher prefix -> confirmed ids in confirm order
  /** Offset -> id as any reader ever saw it, before or after a crash. */
  const handedOut = new Map<number, string>();
  const reused: string[] = [];
  try {
    const setup = await connect(broker.url);
    await (await openChannel(setup)).assertQueue(STREAM, {
      durable: true,
      arguments: { 'x-queue-type': 'stream', 'x-stream-max-segment-size-bytes': SEGMENT_BYTES },
    });
    await setup.close();

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const conns: ChannelModel[] = [];
      const seen = new Map<number, string>();
      const watcher = await connect(broker.url);
      conns.push(watcher);
      await watch(watcher, seen);
      const publishing: Promise<void>[] = [];
      for (let p = 0; p < PUBLISHERS; p++) {
        const conn = await connect(broker.url);
        conns.push(conn);
        const ids: string[] = [];
        confirmed.set(`c${cycle}p${p}`, ids);
        publishing.push(publishUntilKilled(conn, `c${cycle}p${p}`, ids));
      }
      await sleep(600 + Math.floor(Math.random() * 600));
      await broker.kill9();
      await Promise.all(publishing);
      for (const c of conns) await c.close().catch(() => {});
      broker = await startBroker({ dataDir });

      const conn = await connect(broker.url);
      const stored = await readAll(await openChannel(conn));
      const where = `after kill -9 #${cycle + 1}`;

      // Dense and unique: no retention is configured, so offsets run 0..n-1 and every id appears once.
      assert.deepEqual(
        stored.map((s) => s.offset),
        stored.map((_, i) => i),
        `${where}: offsets are 0..${stored.length - 1} in order`,
      );
      const offsetOfId = new Map<string, number>();
      for (const s of stored) {
        assert.ok(!offsetOfId.has(s.id), `${where}: ${s.id} stored twice`);
        offsetOfId.set(s.id, s.offset);
      }
      // Every confirmed id of every cycle so far is there, and each publisher's ids are in publish order.
      for (const [prefix, ids] of confirmed) {
        const missing = ids.filter((id) => !offsetOfId.has(id));
        assert.deepEqual(
          missing.slice(0, 10),
          [],
          `${where}: ${missing.length} confirmed ids of ${prefix} lost`,
        );
        const seqs = stored
          .filter((s) => s.id.startsWith(`${prefix}-`))
          .map((s) => Number(s.id.split('-')[1]));
        assert.deepEqual(
          seqs,
          seqs.map((_, i) => i),
          `${where}: ${prefix}'s messages are a gapless prefix of what it sent, in order`,
        );
      }
      // No offset reused: whatever a reader was handed at an offset is what the stream holds there, and a new
      // message continues after the highest offset ever handed out. Collected, so that the checks above still
      // run for every cycle; asserted at the end.
      for (const [offset, id] of seen) handedOut.set(offset, id);
      for (const [offset, id] of handedOut) {
        if (stored[offset]?.id !== id) {
          reused.push(
            `${where}: offset ${offset} was handed out as ${id}, now ${stored[offset]?.id ?? 'absent'}`,
          );
        }
      }
      const pub = await openConfirmChannel(conn);
      pub.sendToQueue(STREAM, Buffer.from('marker'), { messageId: `marker-${cycle}` });
      await pub.waitForConfirms();
      const after = await readAll(await openChannel(conn));
      const marker = after[after.length - 1];
      assert.equal(marker.id, `marker-${cycle}`);
      const highest = Math.max(-1, ...handedOut.keys(), stored.length - 1);
      if (marker.offset !== highest + 1) {
        reused.push(
          `${where}: a new message got offset ${marker.offset}, but ${highest} had been handed out`,
        );
      }
      // From here on, compare with what the stream holds now (one violation is reported once).
      handedOut.clear();
      for (const s of after) handedOut.set(s.offset, s.id);
      await conn.close();

      const total = [...confirmed.values()].reduce((n, ids) => n + ids.length, 0);
      t.diagnostic(
        `cycle ${cycle + 1}: ${stored.length} stored, ${total} confirmed, ${seen.size} seen by the reader`,
      );
    }
    const dir = path.join(dataDir, 'streams');
    const segments = fs
      .readdirSync(dir)
      .flatMap((d) => fs.readdirSync(path.join(dir, d)))
      .filter((n) => n.endsWith('.seg'));
    assert.ok(segments.length > 3, `segments rolled (${segments.length})`);
    assert.deepEqual(
      reused.slice(0, 5),
      [],
      `${reused.length} offsets handed out to a reader were lost or reused`,
    );
  } finally {
    await broker.kill9();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
