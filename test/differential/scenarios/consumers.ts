import type { Scenario } from '../scenario.js';
import { bodies, confirmOf, Recorder, withWorld } from '../scenario-world.js';

/** x-single-active-consumer: only the first consumer gets messages until it goes; then the next takes over. */
export const singleActiveConsumerFailover: Scenario = {
  name: 'single-active-consumer-failover',
  run: (url) =>
    withWorld(url, async (w) => {
      const work = await w.queue('work', { arguments: { 'x-single-active-consumer': true } });
      const first = await (await w.connection()).createChannel();
      first.on('error', () => {});
      await first.prefetch(10);
      const second = await w.channel();
      await second.prefetch(10);
      const a = await Recorder.consume(first, work, { noAck: false });
      const b = await Recorder.consume(second, work, { noAck: false });
      const withTwo = await w.counts(work);
      const pub = await w.confirmChannel();
      for (const body of ['1', '2', '3', '4']) await confirmOf(pub, '', work, body);
      const toFirst = await a.until(4);
      const secondBeforeFailover = b.received.length;
      if (toFirst[1] !== undefined) first.ack(toFirst[1], true);
      await first.close(); // 3 and 4 were unacked: they go back to the queue, for the new active consumer
      await b.until(2);
      await confirmOf(pub, '', work, '5');
      const toSecond = await b.until(3);
      return {
        withTwo,
        toFirst: bodies(toFirst),
        secondBeforeFailover,
        toSecond: toSecond.map((m) => [m.content.toString(), m.fields.redelivered]),
        withOne: await w.counts(work),
      };
    }),
  expected: {
    secondBeforeFailover: 0,
    toFirst: ['1', '2', '3', '4'],
    toSecond: [
      ['3', true],
      ['4', true],
      ['5', false],
    ],
    withOne: {
      consumers: 1,
      messages: 0,
    },
    withTwo: {
      consumers: 2,
      messages: 0,
    },
  },
};

/** basic.consume x-priority: the higher-priority consumer gets messages while it has prefetch credit. */
export const consumerPriority: Scenario = {
  name: 'consumer-priority',
  run: (url) =>
    withWorld(url, async (w) => {
      const work = await w.queue('work');
      const lowCh = await w.channel();
      await lowCh.prefetch(10);
      const highCh = await w.channel();
      await highCh.prefetch(2);
      // Registered first, so only priority can explain the high consumer winning.
      const low = await Recorder.consume(lowCh, work, { noAck: false });
      const high = await Recorder.consume(highCh, work, { noAck: false, arguments: { 'x-priority': 10 } });
      const pub = await w.confirmChannel();
      for (const body of ['1', '2', '3', '4', '5']) await confirmOf(pub, '', work, body);
      await high.until(2);
      await low.until(3);
      const beforeAck = { high: bodies(high.received), low: bodies(low.received) };
      const last = high.received[high.received.length - 1];
      if (last !== undefined) highCh.ack(last, true);
      for (const body of ['6', '7']) await confirmOf(pub, '', work, body);
      await high.until(4);
      return { beforeAck, afterAck: { high: bodies(high.received), low: bodies(low.received) } };
    }),
  expected: {
    afterAck: {
      high: ['1', '2', '6', '7'],
      low: ['3', '4', '5'],
    },
    beforeAck: {
      high: ['1', '2'],
      low: ['3', '4', '5'],
    },
  },
};

export const consumerScenarios: Scenario[] = [singleActiveConsumerFailover, consumerPriority];
