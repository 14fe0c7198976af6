import type { Channel, Message } from 'amqplib';
import type { Scenario } from '../scenario.js';
import { GRACE_MS, sleep, withWorld } from '../scenario-world.js';
import { attempt, declareStream, follow, nowSeconds, publishEach, seen, typed } from './streams-support.js';

/** What a stream refuses a reader: no prefetch, automatic acks, basic.get, purge, other consumer arguments. */
export const streamConsumeRefusals: Scenario = {
  name: 'stream-consume-refusals',
  run: (url) =>
    withWorld(url, async (w) => {
      const log = await declareStream(w, 'log');
      const classic = await w.queue('classic');
      await publishEach(w, log, ['m0']);
      const consume = (ch: Channel, queue: string, args: Record<string, unknown> = {}, noAck = false) =>
        ch.consume(queue, () => {}, { noAck, arguments: args });
      return {
        withoutPrefetch: await attempt(w, (ch) => consume(ch, log)),
        prefetchZero: await attempt(w, async (ch) => {
          await ch.prefetch(0);
          await consume(ch, log);
        }),
        globalPrefetchOnly: await attempt(w, async (ch) => {
          await ch.prefetch(10, true);
          await consume(ch, log);
        }),
        globalAndConsumerPrefetch: await attempt(w, async (ch) => {
          await ch.prefetch(10);
          await ch.prefetch(10, true);
          await consume(ch, log);
        }),
        withPrefetch: await attempt(w, async (ch) => {
          await ch.prefetch(10);
          await consume(ch, log);
        }),
        autoAck: await attempt(w, async (ch) => {
          await ch.prefetch(10);
          await consume(ch, log, {}, true);
        }),
        get: await attempt(w, (ch) => ch.get(log, { noAck: false })),
        getAutoAck: await attempt(w, (ch) => ch.get(log, { noAck: true })),
        purge: await attempt(w, (ch) => ch.purgeQueue(log)),
        consumerArguments: {
          'x-priority': await attempt(w, async (ch) => {
            await ch.prefetch(10);
            await consume(ch, log, { 'x-priority': 5 });
          }),
          'x-cancel-on-ha-failover': await attempt(w, async (ch) => {
            await ch.prefetch(10);
            await consume(ch, log, { 'x-cancel-on-ha-failover': true });
          }),
          'x-unknown': await attempt(w, async (ch) => {
            await ch.prefetch(10);
            await consume(ch, log, { 'x-unknown': 1 });
          }),
        },
        offsetOnClassicQueue: await attempt(w, async (ch) => {
          await ch.prefetch(10);
          await consume(ch, classic, { 'x-stream-offset': 'first' });
        }),
      };
    }),
  expected: {
    autoAck: '540 connection',
    consumerArguments: {
      'x-cancel-on-ha-failover': '406 channel',
      'x-priority': '406 channel',
      'x-unknown': 'ok',
    },
    get: '540 connection',
    getAutoAck: '540 connection',
    globalAndConsumerPrefetch: '540 connection',
    globalPrefetchOnly: '406 channel',
    offsetOnClassicQueue: '406 channel',
    prefetchZero: '406 channel',
    purge: '540 connection',
    withPrefetch: 'ok',
    withoutPrefetch: '406 channel',
  },
};

/**
 * What each x-stream-offset reads of a stream holding m0..m4 (one chunk each), and what it reads of m5
 * and m6 published after the consumers started. A number is an offset: below the first one reads from the
 * first, beyond the end waits for that offset. 'last' is the last chunk. A string other than
 * first/last/next is an interval back from now; a timestamp (seconds) the first chunk written at or after
 * it, or 'next' when it is later than the last chunk.
 */
export const streamOffsetSpecs: Scenario = {
  name: 'stream-offset-specs',
  run: (url) =>
    withWorld(url, async (w) => {
      const log = await declareStream(w, 'log');
      await publishEach(w, log, ['m0', 'm1', 'm2', 'm3', 'm4']);
      const now = nowSeconds();
      const specs: [string, unknown][] = [
        ['absent', undefined],
        ['first', 'first'],
        ['last', 'last'],
        ['next', 'next'],
        ['0', 0],
        ['2', 2],
        ['4', 4],
        ['5', 5],
        ['6', 6],
        ['100', 100],
        ['2^40', 2 ** 40],
        ['-1', -1],
        ['-100', -100],
        ['long 2', typed('long', 2)],
        ['int 2', typed('int', 2)],
        ['short 2', typed('short', 2)],
        ['byte 2', typed('byte', 2)],
        ['unsignedbyte 2', typed('unsignedbyte', 2)],
        ['unsignedshort 2', typed('unsignedshort', 2)],
        ['unsignedint 2', typed('unsignedint', 2)],
        ['1Y', '1Y'],
        ['1M', '1M'],
        ['1D', '1D'],
        ['1h', '1h'],
        ['10m', '10m'],
        ['30s', '30s'],
        ['timestamp an hour ago', typed('timestamp', now - 3600)],
        ['timestamp 0', typed('timestamp', 0)],
        ['timestamp in an hour', typed('timestamp', now + 3600)],
      ];
      const readers = [];
      for (const [label, offset] of specs) readers.push({ label, ...(await follow(w, log, offset)) });
      await publishEach(w, log, ['m5', 'm6']);
      await readers[1]?.rec.until(7);
      await sleep(GRACE_MS);
      return Object.fromEntries(readers.map((r) => [r.label, r.rec.received.map(seen)]));
    }),
  expected: {
    absent: ['m5@5', 'm6@6'],
    first: ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    last: ['m4@4', 'm5@5', 'm6@6'],
    next: ['m5@5', 'm6@6'],
    '0': ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    '2': ['m2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    '4': ['m4@4', 'm5@5', 'm6@6'],
    '5': ['m5@5', 'm6@6'],
    '6': ['m6@6'],
    '100': [],
    '2^40': [],
    '-1': ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    '-100': ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    'long 2': ['m2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    'int 2': ['m2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    'short 2': ['m2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    'byte 2': ['m2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    'unsignedbyte 2': ['m2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    'unsignedshort 2': ['m2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    'unsignedint 2': ['m2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    '1Y': ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    '1M': ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    '1D': ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    '1h': ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    '10m': ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    '30s': ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    'timestamp an hour ago': ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    'timestamp 0': ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    'timestamp in an hour': ['m5@5', 'm6@6'],
  },
};

/** Every offset specification on an empty stream reads what is published after it started. */
export const streamOffsetEmptyStream: Scenario = {
  name: 'stream-offset-empty-stream',
  run: (url) =>
    withWorld(url, async (w) => {
      const log = await declareStream(w, 'log');
      const specs: [string, unknown][] = [
        ['absent', undefined],
        ['first', 'first'],
        ['last', 'last'],
        ['next', 'next'],
        ['0', 0],
        ['2', 2],
        ['1h', '1h'],
        ['timestamp a minute ago', typed('timestamp', nowSeconds() - 60)],
      ];
      const readers = [];
      for (const [label, offset] of specs) readers.push({ label, ...(await follow(w, log, offset)) });
      await publishEach(w, log, ['m0', 'm1', 'm2']);
      await readers[1]?.rec.until(3);
      await sleep(GRACE_MS);
      return Object.fromEntries(readers.map((r) => [r.label, r.rec.received.map(seen)]));
    }),
  expected: {
    absent: ['m0@0', 'm1@1', 'm2@2'],
    first: ['m0@0', 'm1@1', 'm2@2'],
    last: ['m0@0', 'm1@1', 'm2@2'],
    next: ['m0@0', 'm1@1', 'm2@2'],
    '0': ['m0@0', 'm1@1', 'm2@2'],
    '2': ['m2@2'],
    '1h': ['m0@0', 'm1@1', 'm2@2'],
    'timestamp a minute ago': ['m0@0', 'm1@1', 'm2@2'],
  },
};

/**
 * Timestamps and intervals against publish times: a0 and a1, then b0 and b1 at least 1.5 s later and in a
 * later second T. From T (seconds) or '1s' back reads b0 and b1; c0 is published after the readers start.
 */
export const streamOffsetTime: Scenario = {
  name: 'stream-offset-time',
  run: (url) =>
    withWorld(url, async (w) => {
      const log = await declareStream(w, 'log');
      await publishEach(w, log, ['a0', 'a1']);
      const aWritten = Date.now();
      const t = Math.floor(aWritten / 1000) + 1;
      await sleep(Math.max(t * 1000 + 300, aWritten + 1500) - Date.now());
      await publishEach(w, log, ['b0', 'b1']);
      const specs: [string, unknown][] = [
        ['1s', '1s'],
        ['timestamp T', typed('timestamp', t)],
        ['timestamp T-60', typed('timestamp', t - 60)],
        ['1m', '1m'],
        ['timestamp T+3600', typed('timestamp', t + 3600)],
      ];
      const readers = [];
      for (const [label, offset] of specs) readers.push({ label, ...(await follow(w, log, offset)) });
      await publishEach(w, log, ['c0']);
      await readers[2]?.rec.until(5);
      await sleep(GRACE_MS);
      return Object.fromEntries(readers.map((r) => [r.label, r.rec.received.map(seen)]));
    }),
  expected: {
    '1s': ['b0@2', 'b1@3', 'c0@4'],
    'timestamp T': ['b0@2', 'b1@3', 'c0@4'],
    'timestamp T-60': ['a0@0', 'a1@1', 'b0@2', 'b1@3', 'c0@4'],
    '1m': ['a0@0', 'a1@1', 'b0@2', 'b1@3', 'c0@4'],
    'timestamp T+3600': ['c0@4'],
  },
};

/**
 * basic.qos prefetch is per-consumer credit: without acks a reader gets `prefetch` messages, each ack
 * (multiple acks count each message) lets as many more through. Readers are independent and reading
 * removes nothing: a reader starting later at 'first' sees everything.
 */
export const streamCredit: Scenario = {
  name: 'stream-credit',
  run: (url) =>
    withWorld(url, async (w) => {
      const log = await declareStream(w, 'log');
      await publishEach(w, log, ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
      const slow = await follow(w, log, 'first', 2);
      const acking = await follow(w, log, 'first', 2, (ch, msg) => ch.ack(msg));
      await acking.rec.until(6);
      await sleep(GRACE_MS);
      const withoutAcks = slow.rec.received.map(seen);
      const at = (i: number) => slow.rec.received[i] as Message;
      slow.ch.ack(at(0));
      await slow.rec.until(3);
      await sleep(GRACE_MS);
      const afterOneAck = slow.rec.received.map(seen);
      slow.ch.ack(at(2), true);
      await slow.rec.until(5);
      await sleep(GRACE_MS);
      const afterMultipleAck = slow.rec.received.map(seen);
      await publishEach(w, log, ['m6']);
      await acking.rec.until(7);
      await sleep(GRACE_MS);
      const slowAfterPublish = slow.rec.received.length;
      slow.ch.ackAll();
      await slow.rec.until(7);
      await sleep(GRACE_MS);
      const afterAckAll = slow.rec.received.map(seen);
      await slow.ch.close();
      const later = await follow(w, log, 'first', 10);
      await later.rec.until(7);
      await sleep(GRACE_MS);
      return {
        slow: { withoutAcks, afterOneAck, afterMultipleAck, slowAfterPublish, afterAckAll },
        acking: acking.rec.received.map(seen),
        laterReader: later.rec.received.map(seen),
      };
    }),
  expected: {
    acking: ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    laterReader: ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
    slow: {
      afterAckAll: ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4', 'm5@5', 'm6@6'],
      afterMultipleAck: ['m0@0', 'm1@1', 'm2@2', 'm3@3', 'm4@4'],
      afterOneAck: ['m0@0', 'm1@1', 'm2@2'],
      slowAfterPublish: 5,
      withoutAcks: ['m0@0', 'm1@1'],
    },
  },
};

/** Acks settle; nack and reject (requeue or not) are refused, and so is an unknown delivery tag. */
export const streamSettle: Scenario = {
  name: 'stream-settle',
  run: (url) =>
    withWorld(url, async (w) => {
      const log = await declareStream(w, 'log');
      await publishEach(w, log, ['m0', 'm1', 'm2']);
      const deliveries: string[] = [];
      const settle = (how: (ch: Channel, first: Message) => void) =>
        attempt(w, async (ch) => {
          await ch.prefetch(2);
          const got: Message[] = [];
          await ch.consume(log, (m) => m !== null && got.push(m), {
            noAck: false,
            arguments: { 'x-stream-offset': 'first' },
          });
          for (let i = 0; i < 50 && got.length < 2; i++) await sleep(20);
          deliveries.push(got.map(seen).join(' '));
          if (got[0] !== undefined) how(ch, got[0]);
        });
      return {
        ack: await settle((ch, m) => ch.ack(m)),
        ackMultiple: await settle((ch) => ch.ackAll()),
        nackRequeue: await settle((ch, m) => ch.nack(m, false, true)),
        nackDiscard: await settle((ch, m) => ch.nack(m, false, false)),
        nackMultiple: await settle((ch, m) => ch.nack(m, true, false)),
        rejectRequeue: await settle((ch, m) => ch.reject(m, true)),
        rejectDiscard: await settle((ch, m) => ch.reject(m, false)),
        ackUnknownTag: await settle((ch, m) => ch.ack({ ...m, fields: { ...m.fields, deliveryTag: 999 } })),
        ackTwice: await settle((ch, m) => {
          ch.ack(m);
          ch.ack(m);
        }),
        deliveries,
      };
    }),
  expected: {
    ack: 'ok',
    ackMultiple: 'ok',
    ackTwice: '406 channel',
    ackUnknownTag: '406 channel',
    deliveries: [
      'm0@0 m1@1',
      'm0@0 m1@1',
      'm0@0 m1@1',
      'm0@0 m1@1',
      'm0@0 m1@1',
      'm0@0 m1@1',
      'm0@0 m1@1',
      'm0@0 m1@1',
      'm0@0 m1@1',
    ],
    nackDiscard: '540 connection',
    nackMultiple: '540 connection',
    nackRequeue: '540 connection',
    rejectDiscard: '540 connection',
    rejectRequeue: '540 connection',
  },
};

export const streamConsumeScenarios: Scenario[] = [
  streamConsumeRefusals,
  streamOffsetSpecs,
  streamOffsetEmptyStream,
  streamOffsetTime,
  streamCredit,
  streamSettle,
];
