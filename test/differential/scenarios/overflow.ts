import type { Scenario } from '../scenario.js';
import { confirmOf, describeMessage, withWorld } from '../scenario-world.js';

/** x-max-length with the default drop-head: the oldest messages go, dead-lettered with reason maxlen. */
export const maxLengthDropHead: Scenario = {
  name: 'max-length-drop-head',
  run: (url) =>
    withWorld(url, async (w) => {
      const dlx = await w.exchange('dlx', 'fanout');
      const dlq = await w.queue('dlq');
      await w.bind(dlq, dlx, '');
      const work = await w.queue('work', { arguments: { 'x-max-length': 2, 'x-dead-letter-exchange': dlx } });
      const pub = await w.confirmChannel();
      const confirms = [];
      for (const body of ['1', '2', '3', '4']) confirms.push(await confirmOf(pub, '', work, body));
      const counts = await w.counts(work);
      const dead = await w.settle(dlq, 2);
      return {
        confirms,
        counts,
        kept: (await w.drain(work)).map(describeMessage),
        deadLettered: dead.map(describeMessage),
      };
    }),
  expected: {
    confirms: ['ack', 'ack', 'ack', 'ack'],
    counts: {
      consumers: 0,
      messages: 2,
    },
    deadLettered: [
      {
        body: '1',
        exchange: '<dlx>',
        headers: {
          'x-death': [
            {
              count: 1,
              exchange: '',
              queue: '<work>',
              reason: 'maxlen',
              'routing-keys': ['<work>'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'maxlen',
        },
        redelivered: false,
        routingKey: '<work>',
      },
      {
        body: '2',
        exchange: '<dlx>',
        headers: {
          'x-death': [
            {
              count: 1,
              exchange: '',
              queue: '<work>',
              reason: 'maxlen',
              'routing-keys': ['<work>'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'maxlen',
        },
        redelivered: false,
        routingKey: '<work>',
      },
    ],
    kept: [
      {
        body: '3',
        exchange: '',
        redelivered: false,
        routingKey: '<work>',
      },
      {
        body: '4',
        exchange: '',
        redelivered: false,
        routingKey: '<work>',
      },
    ],
  },
};

/** x-max-length-bytes counts body bytes only; a message bigger than the limit empties the queue. */
export const maxLengthBytes: Scenario = {
  name: 'max-length-bytes',
  run: (url) =>
    withWorld(url, async (w) => {
      const work = await w.queue('work', { arguments: { 'x-max-length-bytes': 10 } });
      const pub = await w.confirmChannel();
      const confirms = [];
      for (const body of ['aaaa', 'bbbb', 'cccc']) {
        confirms.push(await confirmOf(pub, '', work, body, { headers: { padding: 'x'.repeat(100) } }));
      }
      const afterThree = await w.counts(work);
      const keptFirst = (await w.drain(work)).map((m) => m.content.toString());
      for (const body of ['dd', 'eeee']) confirms.push(await confirmOf(pub, '', work, body));
      confirms.push(await confirmOf(pub, '', work, 'x'.repeat(12)));
      const afterOversize = await w.counts(work);
      return { confirms, afterThree, keptFirst, afterOversize, keptLast: (await w.drain(work)).length };
    }),
  expected: {
    afterOversize: {
      consumers: 0,
      messages: 0,
    },
    afterThree: {
      consumers: 0,
      messages: 2,
    },
    confirms: ['ack', 'ack', 'ack', 'ack', 'ack', 'ack'],
    keptFirst: ['bbbb', 'cccc'],
    keptLast: 0,
  },
};

/** x-overflow reject-publish: the publish over the limit is nacked and not dead-lettered. */
export const rejectPublishNack: Scenario = {
  name: 'reject-publish-nack',
  run: (url) =>
    withWorld(url, async (w) => {
      const dlx = await w.exchange('dlx', 'fanout');
      const dlq = await w.queue('dlq');
      await w.bind(dlq, dlx, '');
      const work = await w.queue('work', {
        arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish', 'x-dead-letter-exchange': dlx },
      });
      const pub = await w.confirmChannel();
      const confirms = [];
      for (const body of ['a', 'b', 'c']) confirms.push(await confirmOf(pub, '', work, body));
      const full = await w.counts(work);
      const ch = await w.channel();
      const first = await ch.get(work, { noAck: true });
      confirms.push(await confirmOf(pub, '', work, 'd'));
      return {
        confirms,
        full,
        got: first === false ? 'empty' : first.content.toString(),
        kept: (await w.drain(work)).map((m) => m.content.toString()),
        dlq: await w.counts(dlq),
      };
    }),
  expected: {
    confirms: ['ack', 'ack', 'nack', 'ack'],
    dlq: {
      consumers: 0,
      messages: 0,
    },
    full: {
      consumers: 0,
      messages: 2,
    },
    got: 'a',
    kept: ['b', 'd'],
  },
};

/** x-overflow reject-publish-dlx: the rejected publish is nacked and dead-lettered with reason maxlen. */
export const rejectPublishDlx: Scenario = {
  name: 'reject-publish-dlx',
  run: (url) =>
    withWorld(url, async (w) => {
      const dlx = await w.exchange('dlx', 'fanout');
      const dlq = await w.queue('dlq');
      await w.bind(dlq, dlx, '');
      const work = await w.queue('work', {
        arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish-dlx', 'x-dead-letter-exchange': dlx },
      });
      const pub = await w.confirmChannel();
      const confirms = [];
      for (const body of ['a', 'b']) confirms.push(await confirmOf(pub, '', work, body));
      const dead = await w.settle(dlq, 1);
      return {
        confirms,
        kept: (await w.drain(work)).map((m) => m.content.toString()),
        deadLettered: dead.map(describeMessage),
      };
    }),
  expected: {
    confirms: ['ack', 'nack'],
    deadLettered: [
      {
        body: 'b',
        exchange: '<dlx>',
        headers: {
          'x-death': [
            {
              count: 1,
              exchange: '',
              queue: '<work>',
              reason: 'maxlen',
              'routing-keys': ['<work>'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'maxlen',
        },
        redelivered: false,
        routingKey: '<work>',
      },
    ],
    kept: ['a'],
  },
};

export const overflowScenarios: Scenario[] = [
  maxLengthDropHead,
  maxLengthBytes,
  rejectPublishNack,
  rejectPublishDlx,
];
