import type { Message } from 'amqplib';
import type { Scenario } from '../scenario.js';
import { confirmOf, GRACE_MS, sleep, withWorld } from '../scenario-world.js';
import { attempt, declareStream, follow, publishEach, seen, typed } from './streams-support.js';

/** Everything a client sees of a stream delivery except tags: fields, every property set, headers. */
function describeFully(msg: Message): Record<string, unknown> {
  const props: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(msg.properties)) if (value !== undefined) props[key] = value;
  return {
    seen: seen(msg),
    exchange: msg.fields.exchange,
    routingKey: msg.fields.routingKey,
    properties: props,
  };
}

/**
 * Publishing to a stream: confirmed, routed through exchanges (the delivery keeps exchange and routing key),
 * mandatory satisfied, properties and scalar headers kept, expiration not enforced, and a publisher's own
 * x-stream-offset header replaced by the real offset.
 */
export const streamPublish: Scenario = {
  name: 'stream-publish',
  run: (url) =>
    withWorld(url, async (w) => {
      const log = await declareStream(w, 'log');
      const direct = await w.exchange('direct', 'direct');
      await w.bind(log, direct, 'rk');
      const pub = await w.confirmChannel();
      const returned: string[] = [];
      pub.on('return', (m: Message) => returned.push(m.content.toString('utf8')));
      const confirms = [
        await confirmOf(pub, '', log, 'plain'),
        await confirmOf(pub, direct, 'rk', 'via-exchange', { mandatory: true }),
        await confirmOf(pub, '', log, 'mandatory', { mandatory: true }),
        await confirmOf(pub, '', log, 'properties', {
          contentType: 'text/plain',
          contentEncoding: 'gzip',
          deliveryMode: 2,
          priority: 7,
          correlationId: 'cid-1',
          replyTo: 'reply-here',
          expiration: '60000',
          messageId: 'mid-1',
          timestamp: 1_700_000_000,
          type: 'kind',
          userId: 'guest',
          appId: 'app',
        }),
        await confirmOf(pub, '', log, 'transient', { deliveryMode: 1 }),
        await confirmOf(pub, '', log, 'expires-at-once', { expiration: '1' }),
        await confirmOf(pub, '', log, 'scalar-headers', {
          headers: {
            string: 'v',
            empty: '',
            int: 42,
            negative: -7,
            big: 2 ** 40,
            double: 1.5,
            true: true,
            false: false,
            void: null,
            bytes: Buffer.from('bytes'),
            timestamp: typed('timestamp', 1_700_000_000),
            byte: typed('byte', 5),
            short: typed('short', 500),
            int32: typed('int', 70_000),
            long: typed('long', 5),
            float: typed('float', 2.5),
            'x-custom': 'kept',
          },
        }),
        await confirmOf(pub, '', log, 'own-offset', { headers: { 'x-stream-offset': 999 } }),
      ];
      await sleep(GRACE_MS); // 'expires-at-once' has expired by now
      const reader = await follow(w, log, 'first');
      const got = await reader.rec.until(confirms.length);
      return { confirms, returned, delivered: got.map(describeFully) };
    }),
  expected: {
    confirms: ['ack', 'ack', 'ack', 'ack', 'ack', 'ack', 'ack', 'ack'],
    delivered: [
      {
        exchange: '',
        properties: { headers: { 'x-stream-offset': 0 } },
        routingKey: '<log>',
        seen: 'plain@0',
      },
      {
        exchange: '<direct>',
        properties: { headers: { 'x-stream-offset': 1 } },
        routingKey: 'rk',
        seen: 'via-exchange@1',
      },
      {
        exchange: '',
        properties: { headers: { 'x-stream-offset': 2 } },
        routingKey: '<log>',
        seen: 'mandatory@2',
      },
      {
        exchange: '',
        properties: {
          appId: 'app',
          contentEncoding: 'gzip',
          contentType: 'text/plain',
          correlationId: 'cid-1',
          deliveryMode: 2,
          expiration: '60000',
          headers: { 'x-stream-offset': 3 },
          messageId: 'mid-1',
          priority: 7,
          replyTo: 'reply-here',
          timestamp: 1700000000,
          type: 'kind',
          userId: 'guest',
        },
        routingKey: '<log>',
        seen: 'properties@3',
      },
      {
        exchange: '',
        properties: { deliveryMode: 1, headers: { 'x-stream-offset': 4 } },
        routingKey: '<log>',
        seen: 'transient@4',
      },
      {
        exchange: '',
        properties: { expiration: '1', headers: { 'x-stream-offset': 5 } },
        routingKey: '<log>',
        seen: 'expires-at-once@5',
      },
      {
        exchange: '',
        properties: {
          headers: {
            big: 1099511627776,
            byte: 5,
            bytes: { binary: 'bytes' },
            double: 1.5,
            empty: '',
            false: false,
            float: 2.5,
            int: 42,
            int32: 70000,
            long: 5,
            negative: -7,
            short: 500,
            string: 'v',
            timestamp: 'implausible-timestamp:1700000000',
            true: true,
            void: null,
            'x-custom': 'kept',
            'x-stream-offset': 6,
          },
        },
        routingKey: '<log>',
        seen: 'scalar-headers@6',
      },
      {
        exchange: '',
        properties: { headers: { 'x-stream-offset': 7 } },
        routingKey: '<log>',
        seen: 'own-offset@7',
      },
    ],
    returned: [],
  },
};

/** Deleting a stream cancels its consumers (basic.cancel) and reports 0 messages in queue.delete-ok. */
export const streamDelete: Scenario = {
  name: 'stream-delete',
  run: (url) =>
    withWorld(url, async (w) => {
      const log = await declareStream(w, 'log');
      await publishEach(w, log, ['m0', 'm1', 'm2']);
      const ch = await w.channel();
      await ch.prefetch(10);
      const events: string[] = [];
      await ch.consume(log, (m) => events.push(m === null ? 'basic.cancel' : seen(m)), {
        noAck: false,
        arguments: { 'x-stream-offset': 'first' },
      });
      for (let i = 0; i < 50 && events.length < 3; i++) await sleep(20);
      const other = await w.channel();
      const deleteOk = await other.deleteQueue(log);
      for (let i = 0; i < 50 && events.length < 4; i++) await sleep(20);
      await sleep(GRACE_MS);
      return {
        deleteOk,
        consumerSaw: events,
        consumerChannelUsable: await ch.checkExchange('amq.direct').then(
          () => true,
          () => false,
        ),
        passiveAfter: await attempt(w, (c) => c.checkQueue(log)),
      };
    }),
  expected: {
    consumerChannelUsable: true,
    consumerSaw: ['m0@0', 'm1@1', 'm2@2', 'basic.cancel'],
    deleteOk: { messageCount: 0 },
    passiveAfter: '404 channel',
  },
};

/**
 * queue.delete if-unused and if-empty on a stream: RabbitMQ 3.10 ignores both (a stream reports no
 * consumers and no messages to them) and deletes.
 */
export const streamDeleteConditions: Scenario = {
  name: 'stream-delete-conditions',
  run: (url) =>
    withWorld(url, async (w) => {
      const consumed = await declareStream(w, 'consumed');
      const filled = await declareStream(w, 'filled');
      await publishEach(w, consumed, ['m0']);
      await publishEach(w, filled, ['m0']);
      const reader = await follow(w, consumed, 'first', 10);
      await reader.rec.until(1);
      const ch = await w.channel();
      return {
        ifUnusedWithConsumer: await attempt(w, (c) => c.deleteQueue(consumed, { ifUnused: true })),
        ifEmptyWithMessages: await attempt(w, (c) => c.deleteQueue(filled, { ifEmpty: true })),
        consumedExists: await ch.checkQueue(consumed).then(
          () => true,
          () => false,
        ),
        filledExists: await attempt(w, (c) => c.checkQueue(filled)),
      };
    }),
  expected: {
    consumedExists: false,
    filledExists: '404 channel',
    ifEmptyWithMessages: 'ok',
    ifUnusedWithConsumer: 'ok',
  },
};

/**
 * Retention drops whole segments from the head: past x-max-length-bytes as segments fill, and segments
 * older than x-max-age when a new segment starts. Small segments make both visible; what stays is
 * compared loosely, since where segment boundaries fall is the broker's own business.
 */
export const streamRetention: Scenario = {
  name: 'stream-retention',
  run: (url) =>
    withWorld(url, async (w) => {
      const body = (i: number) => `${String(i).padStart(3, '0')}${'x'.repeat(97)}`;
      const bounded = await declareStream(w, 'bounded', {
        'x-max-length-bytes': 1000,
        'x-stream-max-segment-size-bytes': 500,
      });
      const aged = await declareStream(w, 'aged', {
        'x-max-age': '1s',
        'x-stream-max-segment-size-bytes': 500,
      });
      const numbers = (n: number, from = 0) => Array.from({ length: n }, (_, i) => body(from + i));
      await publishEach(w, bounded, numbers(50));
      await publishEach(w, aged, numbers(20));
      await sleep(1200);
      await publishEach(w, aged, numbers(10, 20));
      await sleep(GRACE_MS);
      const kept = async (queue: string, last: number) => {
        const reader = await follow(w, queue, 'first', 100);
        const numbersSeen = () =>
          reader.rec.received.map((m) => Number(m.content.toString('utf8').slice(0, 3)));
        for (let i = 0; i < 100 && !numbersSeen().includes(last); i++) await sleep(20);
        await sleep(GRACE_MS);
        const got = numbersSeen();
        return { first: got[0] ?? -1, last: got[got.length - 1] ?? -1, count: got.length };
      };
      const b = await kept(bounded, 49);
      const a = await kept(aged, 29);
      return {
        maxLengthBytes: {
          headDropped: b.first > 0,
          lastKept: b.last === 49,
          contiguous: b.count === b.last - b.first + 1,
          withinLimit: b.count * 100 <= 1000,
        },
        maxAge: {
          headDropped: a.first > 0,
          lastKept: a.last === 29,
          contiguous: a.count === a.last - a.first + 1,
          newKept: a.first <= 20,
        },
      };
    }),
  expected: {
    maxAge: { contiguous: true, headDropped: true, lastKept: true, newKept: true },
    maxLengthBytes: { contiguous: true, headDropped: true, lastKept: true, withinLimit: true },
  },
};

export const streamPublishScenarios: Scenario[] = [
  streamPublish,
  streamDelete,
  streamDeleteConditions,
  streamRetention,
];
