import type { Message } from 'amqplib';
import type { Scenario } from '../scenario.js';
import { confirmOf, GRACE_MS, type ScenarioWorld, sleep, withWorld } from '../scenario-world.js';
import {
  attempt,
  declareStream,
  follow,
  publishEach,
  streamDeclareOutcome,
  typed,
} from './streams-support.js';

/**
 * Where RabbitMQ 3.10's streams are defective, and EventterMQ deliberately does better. In each scenario
 * `expected` is EventterMQ's intended observation and `rabbitmq` what RabbitMQ 3.10.8 was recorded doing;
 * the differential test holds each broker to its own.
 */

/**
 * Table and array headers. RabbitMQ 3.10 stores stream messages converted to AMQP 1.0 and converts
 * back only scalar headers: table and array headers silently vanish (the message is still confirmed). A
 * decimal header makes the conversion crash: the publisher's connection is closed with 541
 * INTERNAL_ERROR and the message is lost. EventterMQ keeps every header as published.
 */
export const streamHeadersStructured: Scenario = {
  name: 'stream-headers-structured',
  run: (url) =>
    withWorld(url, async (w) => {
      const log = await declareStream(w, 'log');
      const headers = {
        string: 'kept',
        table: { a: 1, b: 'x', nested: { c: true } },
        array: [1, 'two', { three: 3 }, [4]],
        emptyTable: {},
        emptyArray: [],
      };
      const confirms = await publishEach(w, log, ['structured'], { headers });
      const decimalPublish = await publishDecimal(w, log);
      await publishEach(w, log, ['after']);
      const reader = await follow(w, log, 'first');
      const bodies = () => reader.rec.received.map((m) => m.content.toString('utf8'));
      for (let i = 0; i < 100 && !bodies().includes('after'); i++) await sleep(20);
      await sleep(GRACE_MS);
      return {
        confirms,
        decimalPublish,
        delivered: reader.rec.received.map((m: Message) => ({
          body: m.content.toString('utf8'),
          headers: m.properties.headers ?? {},
        })),
      };
    }),
  expected: {
    confirms: ['ack'],
    decimalPublish: 'ack, connection open',
    delivered: [
      {
        body: 'structured',
        headers: {
          array: [1, 'two', { three: 3 }, [4]],
          emptyArray: [],
          emptyTable: {},
          string: 'kept',
          table: { a: 1, b: 'x', nested: { c: true } },
          'x-stream-offset': 0,
        },
      },
      {
        body: 'decimal',
        headers: { price: { '!': 'decimal', value: { digits: 12345, places: 2 } }, 'x-stream-offset': 1 },
      },
      { body: 'after', headers: { 'x-stream-offset': 2 } },
    ],
  },
  // RabbitMQ 3.10.8, defective here (see above).
  rabbitmq: {
    confirms: ['ack'],
    decimalPublish: 'nack, 541 connection',
    delivered: [
      { body: 'structured', headers: { string: 'kept', 'x-stream-offset': 0 } },
      { body: 'after', headers: { 'x-stream-offset': 1 } },
    ],
  },
};

/** Publishes a message with a decimal header on a connection of its own: the confirm, and the connection's fate. */
async function publishDecimal(w: ScenarioWorld, queue: string): Promise<string> {
  const conn = await w.connection();
  let code: number | undefined;
  conn.once('close', (err?: { code?: unknown }) => {
    if (typeof err?.code === 'number') code = err.code;
  });
  const pub = await conn.createConfirmChannel();
  pub.on('error', () => {});
  const answer = await confirmOf(pub, '', queue, 'decimal', {
    headers: { price: typed('decimal', { places: 2, digits: 12345 }) },
  });
  await sleep(GRACE_MS);
  return code === undefined ? `${answer}, connection open` : `${answer}, ${code} connection`;
}

/**
 * basic.consume exclusive. On a classic queue an exclusive consumer keeps every other consumer out,
 * and is refused while others consume (403 ACCESS_REFUSED, "in exclusive use"). RabbitMQ 3.10 ignores
 * the flag on streams: all three refused consumers below succeed there. EventterMQ applies the classic
 * rule to streams too.
 */
export const streamExclusiveConsumer: Scenario = {
  name: 'stream-exclusive-consumer',
  run: (url) =>
    withWorld(url, async (w) => {
      const rules = async (queue: string, wanted: { offset?: string }) => {
        const args = wanted.offset === undefined ? {} : { 'x-stream-offset': wanted.offset };
        const consume = (exclusive: boolean) =>
          attempt(w, async (ch) => {
            await ch.prefetch(10);
            await ch.consume(queue, () => {}, { noAck: false, exclusive, arguments: args });
          });
        const owner = await w.channel();
        await owner.prefetch(10);
        const first = await owner.consume(queue, () => {}, {
          noAck: false,
          exclusive: true,
          arguments: args,
        });
        const secondConsumer = await consume(false);
        const secondExclusive = await consume(true);
        await owner.cancel(first.consumerTag);
        const plain = await owner.consume(queue, () => {}, { noAck: false, arguments: args });
        const exclusiveWhileConsumed = await consume(true);
        await owner.cancel(plain.consumerTag);
        return { secondConsumer, secondExclusive, exclusiveWhileConsumed };
      };
      const classic = await w.queue('classic');
      const log = await declareStream(w, 'log');
      return { classic: await rules(classic, {}), stream: await rules(log, { offset: 'first' }) };
    }),
  expected: {
    classic: {
      exclusiveWhileConsumed: '403 channel',
      secondConsumer: '403 channel',
      secondExclusive: '403 channel',
    },
    stream: {
      exclusiveWhileConsumed: '403 channel',
      secondConsumer: '403 channel',
      secondExclusive: '403 channel',
    },
  },
  // RabbitMQ 3.10.8, defective here (see above).
  rabbitmq: {
    classic: {
      exclusiveWhileConsumed: '403 channel',
      secondConsumer: '403 channel',
      secondExclusive: '403 channel',
    },
    stream: { exclusiveWhileConsumed: 'ok', secondConsumer: 'ok', secondExclusive: 'ok' },
  },
};

/**
 * Malformed x-stream-offset values. RabbitMQ 3.10 refuses a string with leading digits and a bad unit
 * ('1d', '2') with 406 PRECONDITION_FAILED, but crashes on the rest: the whole connection is closed with
 * 541 INTERNAL_ERROR. EventterMQ refuses all of them alike, as the invalid consumer arguments they are:
 * 406 PRECONDITION_FAILED on the channel.
 */
export const streamMalformedOffsets: Scenario = {
  name: 'stream-malformed-offsets',
  run: (url) =>
    withWorld(url, async (w) => {
      const log = await declareStream(w, 'log');
      await publishEach(w, log, ['m0']);
      const offsets: [string, unknown][] = [
        ['1d', '1d'],
        ['string 2', '2'],
        ['0s', '0s'],
        ['yesterday', 'yesterday'],
        ['empty string', ''],
        ['FIRST', 'FIRST'],
        ['-1h', '-1h'],
        ['true', true],
        ['false', false],
        ['double 1.5', 1.5],
        ['double 2', typed('double', 2)],
        ['float 2', typed('float', 2)],
        ['decimal 2', typed('decimal', { places: 0, digits: 2 })],
        ['table', { offset: 1 }],
        ['array', [1]],
      ];
      const outcomes = await Promise.all(
        offsets.map(([, offset]) =>
          attempt(w, async (ch) => {
            await ch.prefetch(10);
            await ch.consume(log, () => {}, { noAck: false, arguments: { 'x-stream-offset': offset } });
          }),
        ),
      );
      return Object.fromEntries(offsets.map(([label], i) => [label, outcomes[i] as string]));
    }),
  expected: {
    '-1h': '406 channel',
    '0s': '406 channel',
    '1d': '406 channel',
    FIRST: '406 channel',
    array: '406 channel',
    'decimal 2': '406 channel',
    'double 1.5': '406 channel',
    'double 2': '406 channel',
    'empty string': '406 channel',
    false: '406 channel',
    'float 2': '406 channel',
    'string 2': '406 channel',
    table: '406 channel',
    true: '406 channel',
    yesterday: '406 channel',
  },
  // RabbitMQ 3.10.8, defective here (see above).
  rabbitmq: {
    '-1h': '541 connection',
    '0s': '406 channel',
    '1d': '406 channel',
    FIRST: '541 connection',
    array: '541 connection',
    'decimal 2': '541 connection',
    'double 1.5': '541 connection',
    'double 2': '541 connection',
    'empty string': '541 connection',
    false: '541 connection',
    'float 2': '541 connection',
    'string 2': '406 channel',
    table: '541 connection',
    true: '541 connection',
    yesterday: '541 connection',
  },
};

/**
 * Malformed x-max-age values. RabbitMQ 3.10 answers a value with leading digits and a bad unit with 406
 * PRECONDITION_FAILED (stream-declare-arguments), but one without leading digits crashes its check: 541
 * INTERNAL_ERROR, closing the connection. EventterMQ refuses them all with 406 on the channel.
 */
export const streamMalformedMaxAge: Scenario = {
  name: 'stream-malformed-max-age',
  run: (url) =>
    withWorld(url, async (w) => {
      const values: [string, string][] = [
        ['empty string', ''],
        ['abc', 'abc'],
        ['h', 'h'],
        ['-1s', '-1s'],
        ['leading space', ' 1h'],
      ];
      const outcomes = await Promise.all(
        values.map(([, value]) => streamDeclareOutcome(w, 'max-age', { 'x-max-age': value })),
      );
      return {
        ...Object.fromEntries(values.map(([label], i) => [label, outcomes[i] as string])),
        stillValid: await streamDeclareOutcome(w, 'max-age', { 'x-max-age': '1h' }),
      };
    }),
  expected: {
    '-1s': '406 channel',
    abc: '406 channel',
    'empty string': '406 channel',
    h: '406 channel',
    'leading space': '406 channel',
    stillValid: 'ok',
  },
  // RabbitMQ 3.10.8, defective here (see above).
  rabbitmq: {
    '-1s': '541 connection',
    abc: '541 connection',
    'empty string': '541 connection',
    h: '541 connection',
    'leading space': '541 connection',
    stillValid: 'ok',
  },
};

/**
 * basic.recover on a channel reading a stream. Requeueing is unsupported on streams (basic.nack and
 * basic.reject close the connection with 540 NOT_IMPLEMENTED, see stream-settle), but RabbitMQ 3.10
 * crashes on the requeue that basic.recover asks for and closes the connection with 541 INTERNAL_ERROR.
 * EventterMQ answers it as it answers a requeueing nack: 540 NOT_IMPLEMENTED on the connection.
 */
export const streamRecover: Scenario = {
  name: 'stream-recover',
  run: (url) =>
    withWorld(url, async (w) => {
      const log = await declareStream(w, 'log');
      await publishEach(w, log, ['m0', 'm1']);
      const recover = (unacked: boolean) =>
        attempt(w, async (ch) => {
          await ch.prefetch(10);
          const got: Message[] = [];
          await ch.consume(log, (m) => m !== null && got.push(m), {
            noAck: false,
            arguments: { 'x-stream-offset': 'first' },
          });
          for (let i = 0; i < 50 && got.length < 2; i++) await sleep(20);
          if (!unacked) ch.ackAll();
          await ch.recover();
        });
      return {
        withUnacked: await recover(true),
        allAcked: await recover(false),
        classicControl: await attempt(w, async (ch) => {
          const q = await ch.assertQueue('', { exclusive: true, arguments: {} });
          await ch.recover();
          await ch.deleteQueue(q.queue);
        }),
      };
    }),
  expected: { allAcked: 'ok', classicControl: 'ok', withUnacked: '540 connection' },
  // RabbitMQ 3.10.8, defective here (see above).
  rabbitmq: { allAcked: 'ok', classicControl: 'ok', withUnacked: '541 connection' },
};

export const streamIntendedScenarios: Scenario[] = [
  streamHeadersStructured,
  streamExclusiveConsumer,
  streamMalformedOffsets,
  streamMalformedMaxAge,
  streamRecover,
];
