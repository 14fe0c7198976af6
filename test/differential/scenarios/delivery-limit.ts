import type { Scenario } from '../scenario.js';
import { describeMessage, outcome, Recorder, withWorld } from '../scenario-world.js';

const DELIVERY_LIMIT = 2;

/**
 * x-delivery-limit: every requeue counts; past the limit the message is dead-lettered with reason
 * delivery_limit. RabbitMQ 3.10 has this on quorum queues only, so the queue is declared as one.
 */
export const deliveryLimit: Scenario = {
  name: 'delivery-limit',
  run: (url) =>
    withWorld(url, async (w) => {
      const dlx = await w.exchange('dlx', 'fanout');
      const dlq = await w.queue('dlq');
      await w.bind(dlq, dlx, '');
      const work = w.name('work');
      const declare = await outcome(
        w.declareQueue(work, {
          durable: true,
          arguments: {
            'x-queue-type': 'quorum',
            'x-delivery-limit': DELIVERY_LIMIT,
            'x-dead-letter-exchange': dlx,
          },
        }),
      );
      if (declare !== 'ok') return { declare };
      const pub = await w.confirmChannel();
      pub.sendToQueue(work, Buffer.from('m'), { persistent: true });
      await pub.waitForConfirms();
      const ch = await w.channel();
      await ch.prefetch(1);
      const rec = await Recorder.consume(ch, work, { noAck: false }, (msg) => ch.nack(msg, false, true));
      const dead = await w.settle(dlq, 1);
      await ch.cancel(rec.consumerTag);
      return {
        declare,
        deliveries: rec.received.map((m) => ({
          redelivered: m.fields.redelivered,
          deliveryCount: m.properties.headers?.['x-delivery-count'] ?? 'absent',
        })),
        deadLettered: dead.map(describeMessage),
        workAfter: (await w.counts(work)).messages,
      };
    }),
  expected: {
    deadLettered: [
      {
        body: 'm',
        exchange: '<dlx>',
        headers: {
          'x-death': [
            {
              count: 1,
              exchange: '',
              queue: '<work>',
              reason: 'delivery_limit',
              'routing-keys': ['<work>'],
              time: 'timestamp',
            },
          ],
          'x-first-death-exchange': '',
          'x-first-death-queue': '<work>',
          'x-first-death-reason': 'delivery_limit',
        },
        redelivered: false,
        routingKey: '<work>',
      },
    ],
    declare: 'ok',
    deliveries: [
      {
        deliveryCount: 'absent',
        redelivered: false,
      },
      {
        deliveryCount: 1,
        redelivered: true,
      },
      {
        deliveryCount: 2,
        redelivered: true,
      },
    ],
    workAfter: 0,
  },
};
