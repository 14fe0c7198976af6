import type { Scenario } from '../scenario.js';
import { describeMessage, GRACE_MS, Recorder, sleep, withWorld } from '../scenario-world.js';

/** reject(requeue=false) dead-letters; reject(requeue=true) redelivers and does not. */
export const dlxOnReject: Scenario = {
  name: 'dlx-on-reject',
  run: (url) =>
    withWorld(url, async (w) => {
      const dlx = await w.exchange('dlx', 'fanout');
      const dlq = await w.queue('dlq');
      await w.bind(dlq, dlx, '');
      const src = await w.exchange('src', 'direct');
      const work = await w.queue('work', { arguments: { 'x-dead-letter-exchange': dlx } });
      await w.bind(work, src, 'job');
      const pub = await w.confirmChannel();
      pub.publish(src, 'job', Buffer.from('a'), { headers: { app: 'kept' } });
      pub.publish(src, 'job', Buffer.from('b'));
      await pub.waitForConfirms();
      const ch = await w.channel();
      const rec = await Recorder.consume(ch, work, { noAck: false });
      const [a, b] = await rec.until(2);
      if (a !== undefined) ch.reject(a, false);
      if (b !== undefined) ch.reject(b, true);
      const redelivered = (await rec.until(3))[2];
      if (redelivered !== undefined) ch.ack(redelivered);
      const dead = await w.settle(dlq, 1);
      return {
        deadLettered: dead.map(describeMessage),
        redelivered: redelivered === undefined ? 'none' : describeMessage(redelivered),
        workAfter: await w.counts(work),
      };
    }),
  expected: {
    deadLettered: [
      {
        body: 'a',
        exchange: '<dlx>',
        headers: {
          app: 'kept',
          'x-death': [
            {
              count: 1,
              exchange: '<src>',
              queue: '<work>',
              reason: 'rejected',
              'routing-keys': ['job'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '<src>',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'rejected',
        },
        redelivered: false,
        routingKey: 'job',
      },
    ],
    redelivered: {
      body: 'b',
      exchange: '<src>',
      redelivered: true,
      routingKey: 'job',
    },
    workAfter: {
      consumers: 1,
      messages: 0,
    },
  },
};

/** basic.nack(multiple=true, requeue=false) dead-letters every covered delivery, in order. */
export const dlxOnNackMultiple: Scenario = {
  name: 'dlx-on-nack-multiple',
  run: (url) =>
    withWorld(url, async (w) => {
      const dlx = await w.exchange('dlx', 'fanout');
      const dlq = await w.queue('dlq');
      await w.bind(dlq, dlx, '');
      const work = await w.queue('work', { arguments: { 'x-dead-letter-exchange': dlx } });
      const pub = await w.confirmChannel();
      for (const body of ['a', 'b', 'c', 'd']) pub.sendToQueue(work, Buffer.from(body));
      await pub.waitForConfirms();
      const ch = await w.channel();
      const rec = await Recorder.consume(ch, work, { noAck: false });
      const got = await rec.until(4);
      if (got[2] !== undefined) ch.nack(got[2], true, false);
      if (got[3] !== undefined) ch.ack(got[3]);
      const dead = await w.settle(dlq, 3);
      return { deadLettered: dead.map(describeMessage), workAfter: await w.counts(work) };
    }),
  expected: {
    deadLettered: [
      {
        body: 'a',
        exchange: '<dlx>',
        headers: {
          'x-death': [
            {
              count: 1,
              exchange: '',
              queue: '<work>',
              reason: 'rejected',
              'routing-keys': ['<work>'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'rejected',
        },
        redelivered: false,
        routingKey: '<work>',
      },
      {
        body: 'b',
        exchange: '<dlx>',
        headers: {
          'x-death': [
            {
              count: 1,
              exchange: '',
              queue: '<work>',
              reason: 'rejected',
              'routing-keys': ['<work>'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'rejected',
        },
        redelivered: false,
        routingKey: '<work>',
      },
      {
        body: 'c',
        exchange: '<dlx>',
        headers: {
          'x-death': [
            {
              count: 1,
              exchange: '',
              queue: '<work>',
              reason: 'rejected',
              'routing-keys': ['<work>'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'rejected',
        },
        redelivered: false,
        routingKey: '<work>',
      },
    ],
    workAfter: {
      consumers: 1,
      messages: 0,
    },
  },
};

/** Queue TTL (x-message-ttl) expiry dead-letters with reason expired, in queue order. */
export const dlxOnQueueTtl: Scenario = {
  name: 'dlx-on-queue-ttl',
  run: (url) =>
    withWorld(url, async (w) => {
      const dlx = await w.exchange('dlx', 'fanout');
      const dlq = await w.queue('dlq');
      await w.bind(dlq, dlx, '');
      const work = await w.queue('work', {
        arguments: { 'x-dead-letter-exchange': dlx, 'x-message-ttl': 30 },
      });
      const pub = await w.confirmChannel();
      pub.sendToQueue(work, Buffer.from('a'));
      pub.sendToQueue(work, Buffer.from('b'), { headers: { n: 2 } });
      await pub.waitForConfirms();
      const dead = await w.settle(dlq, 2);
      return { deadLettered: dead.map(describeMessage), workAfter: await w.counts(work) };
    }),
  expected: {
    deadLettered: [
      {
        body: 'a',
        exchange: '<dlx>',
        headers: {
          'x-death': [
            {
              count: 1,
              exchange: '',
              queue: '<work>',
              reason: 'expired',
              'routing-keys': ['<work>'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'expired',
        },
        redelivered: false,
        routingKey: '<work>',
      },
      {
        body: 'b',
        exchange: '<dlx>',
        headers: {
          n: 2,
          'x-death': [
            {
              count: 1,
              exchange: '',
              queue: '<work>',
              reason: 'expired',
              'routing-keys': ['<work>'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'expired',
        },
        redelivered: false,
        routingKey: '<work>',
      },
    ],
    workAfter: {
      consumers: 0,
      messages: 0,
    },
  },
};

/** Per-message expiration dead-letters; the expiration property moves to x-death original-expiration. */
export const dlxOnMessageTtl: Scenario = {
  name: 'dlx-on-message-ttl',
  run: (url) =>
    withWorld(url, async (w) => {
      const dlx = await w.exchange('dlx', 'fanout');
      const dlq = await w.queue('dlq');
      await w.bind(dlq, dlx, '');
      const work = await w.queue('work', { arguments: { 'x-dead-letter-exchange': dlx } });
      const pub = await w.confirmChannel();
      pub.sendToQueue(work, Buffer.from('a'), { expiration: '30' });
      pub.sendToQueue(work, Buffer.from('b'), { expiration: '40', headers: { keep: 'me' } });
      pub.sendToQueue(work, Buffer.from('c'));
      await pub.waitForConfirms();
      const dead = await w.settle(dlq, 2);
      return {
        deadLettered: dead.map(describeMessage),
        workAfter: await w.counts(work),
        left: (await w.drain(work)).map(describeMessage),
      };
    }),
  expected: {
    deadLettered: [
      {
        body: 'a',
        exchange: '<dlx>',
        headers: {
          'x-death': [
            {
              count: 1,
              exchange: '',
              'original-expiration': '30',
              queue: '<work>',
              reason: 'expired',
              'routing-keys': ['<work>'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'expired',
        },
        redelivered: false,
        routingKey: '<work>',
      },
      {
        body: 'b',
        exchange: '<dlx>',
        headers: {
          keep: 'me',
          'x-death': [
            {
              count: 1,
              exchange: '',
              'original-expiration': '40',
              queue: '<work>',
              reason: 'expired',
              'routing-keys': ['<work>'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'expired',
        },
        redelivered: false,
        routingKey: '<work>',
      },
    ],
    left: [
      {
        body: 'c',
        exchange: '',
        redelivered: false,
        routingKey: '<work>',
      },
    ],
    workAfter: {
      consumers: 0,
      messages: 1,
    },
  },
};

/** x-dead-letter-routing-key replaces the routing key; x-death keeps the original ones (incl. CC). */
export const dlxRoutingKeyOverride: Scenario = {
  name: 'dlx-routing-key-override',
  run: (url) =>
    withWorld(url, async (w) => {
      const dlx = await w.exchange('dlx', 'direct');
      const dlq = await w.queue('dlq');
      await w.bind(dlq, dlx, 'over');
      const src = await w.exchange('src', 'direct');
      const work = await w.queue('work', {
        arguments: { 'x-dead-letter-exchange': dlx, 'x-dead-letter-routing-key': 'over' },
      });
      await w.bind(work, src, 'orig');
      await w.bind(work, src, 'cc-key');
      await w.bind(work, src, 'bcc-key');
      const pub = await w.confirmChannel();
      pub.publish(src, 'orig', Buffer.from('a'), { CC: ['cc-key'], BCC: ['bcc-key'] });
      await pub.waitForConfirms();
      const ch = await w.channel();
      const rec = await Recorder.consume(ch, work, { noAck: false });
      const [a] = await rec.until(1);
      if (a !== undefined) ch.reject(a, false);
      const dead = await w.settle(dlq, 1);
      // The same without an override: the message keeps its CC header.
      const fan = await w.exchange('fan', 'fanout');
      const fanQueue = await w.queue('fan-queue');
      await w.bind(fanQueue, fan, '');
      const plain = await w.queue('plain', { arguments: { 'x-dead-letter-exchange': fan } });
      await w.bind(plain, src, 'keep');
      await w.bind(plain, src, 'keep-cc');
      pub.publish(src, 'keep', Buffer.from('p'), { CC: ['keep-cc'] });
      await pub.waitForConfirms();
      const plainRec = await Recorder.consume(ch, plain, { noAck: false });
      const [p] = await plainRec.until(1);
      if (p !== undefined) ch.reject(p, false);
      const plainDead = await w.settle(fanQueue, 1);
      return {
        delivered: rec.received.map(describeMessage),
        deadLettered: dead.map(describeMessage),
        withoutOverride: plainDead.map(describeMessage),
      };
    }),
  expected: {
    deadLettered: [
      {
        body: 'a',
        exchange: '<dlx>',
        headers: {
          'x-death': [
            {
              count: 1,
              exchange: '<src>',
              queue: '<work>',
              reason: 'rejected',
              'routing-keys': ['orig', 'cc-key'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '<src>',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'rejected',
        },
        redelivered: false,
        routingKey: 'over',
      },
    ],
    delivered: [
      {
        body: 'a',
        exchange: '<src>',
        headers: {
          CC: ['cc-key'],
        },
        redelivered: false,
        routingKey: 'orig',
      },
    ],
    withoutOverride: [
      {
        body: 'p',
        exchange: '<fan>',
        headers: {
          CC: ['keep-cc'],
          'x-death': [
            {
              count: 1,
              exchange: '<src>',
              queue: '<plain>',
              reason: 'rejected',
              'routing-keys': ['keep', 'keep-cc'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '<src>',
          'x-first-death-queue': '<plain>',
          'x-first-death-reason': 'rejected',
        },
        redelivered: false,
        routingKey: 'keep',
      },
    ],
  },
};

/**
 * A reject -> expire -> reject cycle: allowed because it contains a rejection, and each pass through
 * the same queue for the same reason increments that x-death entry's count.
 */
export const xDeathCountIncrements: Scenario = {
  name: 'x-death-count-increments',
  run: (url) =>
    withWorld(url, async (w) => {
      const work = w.name('work');
      const parking = w.name('parking');
      await w.declareQueue(work, {
        arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': parking },
      });
      await w.declareQueue(parking, {
        arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': work, 'x-message-ttl': 20 },
      });
      const ch = await w.channel();
      const rec = await Recorder.consume(ch, work, { noAck: false }, (msg) => {
        if (msg.properties.headers?.['x-death'] === undefined || rec.received.length < 3)
          ch.reject(msg, false);
        else ch.ack(msg);
      });
      const pub = await w.confirmChannel();
      pub.sendToQueue(work, Buffer.from('m'), { headers: { app: 1 } });
      await pub.waitForConfirms();
      const seen = await rec.until(3);
      await ch.cancel(rec.consumerTag);
      return { deliveries: seen.map(describeMessage) };
    }),
  expected: {
    deliveries: [
      {
        body: 'm',
        exchange: '',
        headers: {
          app: 1,
        },
        redelivered: false,
        routingKey: '<work>',
      },
      {
        body: 'm',
        exchange: '',
        headers: {
          app: 1,
          'x-death': [
            {
              count: 1,
              exchange: '',
              queue: '<parking>',
              reason: 'expired',
              'routing-keys': ['<parking>'],
              time: 'timestamp',
            },
            {
              count: 1,
              exchange: '',
              queue: '<work>',
              reason: 'rejected',
              'routing-keys': ['<work>'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'rejected',
        },
        redelivered: false,
        routingKey: '<work>',
      },
      {
        body: 'm',
        exchange: '',
        headers: {
          app: 1,
          'x-death': [
            {
              count: 2,
              exchange: '',
              queue: '<parking>',
              reason: 'expired',
              'routing-keys': ['<parking>'],
              time: 'timestamp',
            },
            {
              count: 2,
              exchange: '',
              queue: '<work>',
              reason: 'rejected',
              'routing-keys': ['<work>'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'rejected',
        },
        redelivered: false,
        routingKey: '<work>',
      },
    ],
  },
};

/** An expiry-only cycle (no rejection in it) is broken by dropping the message. */
export const dlxCycleDropped: Scenario = {
  name: 'dlx-cycle-dropped',
  run: (url) =>
    withWorld(url, async (w) => {
      const first = w.name('first');
      const second = w.name('second');
      const fan = await w.exchange('fan', 'fanout');
      await w.declareQueue(first, {
        arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': second, 'x-message-ttl': 20 },
      });
      await w.declareQueue(second, { arguments: { 'x-dead-letter-exchange': fan, 'x-message-ttl': 20 } });
      const observer = await w.queue('observer');
      await w.bind(first, fan, '');
      await w.bind(observer, fan, '');
      const pub = await w.confirmChannel();
      pub.sendToQueue(first, Buffer.from('m'));
      await pub.waitForConfirms();
      const copies = await w.settle(observer, 1);
      // Without cycle detection the message would pass `first` again every ~40 ms.
      await sleep(GRACE_MS);
      copies.push(...(await w.drain(observer)));
      return {
        observed: copies.map(describeMessage),
        firstAfter: await w.counts(first),
        secondAfter: await w.counts(second),
      };
    }),
  expected: {
    firstAfter: {
      consumers: 0,
      messages: 0,
    },
    observed: [
      {
        body: 'm',
        exchange: '<fan>',
        headers: {
          'x-death': [
            {
              count: 1,
              exchange: '',
              queue: '<second>',
              reason: 'expired',
              'routing-keys': ['<second>'],
              time: 'timestamp',
            },
            {
              count: 1,
              exchange: '',
              queue: '<first>',
              reason: 'expired',
              'routing-keys': ['<first>'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<first>',
          'x-first-death-reason': 'expired',
        },
        redelivered: false,
        routingKey: '<second>',
      },
    ],
    secondAfter: {
      consumers: 0,
      messages: 0,
    },
  },
};

/** A dead-letter exchange that does not exist: the message is dropped and nothing else happens. */
export const dlxMissingExchange: Scenario = {
  name: 'dlx-missing-exchange',
  run: (url) =>
    withWorld(url, async (w) => {
      const work = await w.queue('work', { arguments: { 'x-dead-letter-exchange': w.name('missing') } });
      const pub = await w.confirmChannel();
      pub.sendToQueue(work, Buffer.from('a'));
      await pub.waitForConfirms();
      const ch = await w.channel();
      const rec = await Recorder.consume(ch, work, { noAck: false });
      const [a] = await rec.until(1);
      if (a !== undefined) ch.reject(a, false);
      await ch.cancel(rec.consumerTag);
      // The channel stays usable and the message is gone, not requeued.
      return { delivered: rec.received.length, workAfter: await w.counts(work) };
    }),
  expected: {
    delivered: 1,
    workAfter: {
      consumers: 0,
      messages: 0,
    },
  },
};

export const deadLetteringScenarios: Scenario[] = [
  dlxOnReject,
  dlxOnNackMultiple,
  dlxOnQueueTtl,
  dlxOnMessageTtl,
  dlxRoutingKeyOverride,
  xDeathCountIncrements,
  dlxCycleDropped,
  dlxMissingExchange,
];
