import type { Scenario } from '../scenario.js';
import { confirmOf, outcome, withWorld } from '../scenario-world.js';

/** Higher priority first, FIFO within a priority, no priority = 0, above x-max-priority = the max. */
export const priorityOrder: Scenario = {
  name: 'priority-order',
  run: (url) =>
    withWorld(url, async (w) => {
      const work = await w.queue('work', { arguments: { 'x-max-priority': 10 } });
      const pub = await w.confirmChannel();
      const sends: [string, number | undefined][] = [
        ['a', undefined],
        ['b', 5],
        ['c', 5],
        ['d', 10],
        ['e', 1],
        ['f', undefined],
        ['g', 200],
        ['h', 0],
      ];
      for (const [body, priority] of sends) {
        await confirmOf(pub, '', work, body, priority === undefined ? {} : { priority });
      }
      const declareOutcome = async (maxPriority: number) => {
        const ch = await w.channel();
        const name = w.name(`bad-priority-${maxPriority}`);
        const result = await outcome(
          ch.assertQueue(name, { durable: false, arguments: { 'x-max-priority': maxPriority } }),
        );
        if (result === 'ok') await ch.deleteQueue(name);
        await ch.close().catch(() => {});
        return result;
      };
      return {
        counts: await w.counts(work),
        order: (await w.drain(work)).map((m) => [m.content.toString(), m.properties.priority ?? 'none']),
        declareMaxPriority: {
          zero: await declareOutcome(0),
          max: await declareOutcome(255),
          tooLarge: await declareOutcome(256),
          negative: await declareOutcome(-1),
        },
      };
    }),
  expected: {
    counts: {
      consumers: 0,
      messages: 8,
    },
    declareMaxPriority: {
      max: 'ok',
      negative: 406,
      tooLarge: 406,
      zero: 'ok',
    },
    order: [
      ['d', 10],
      ['g', 200],
      ['b', 5],
      ['c', 5],
      ['e', 1],
      ['a', 'none'],
      ['f', 'none'],
      ['h', 0],
    ],
  },
};

/** A requeued message goes back ahead of its own priority level, not to the tail. */
export const priorityAfterRequeue: Scenario = {
  name: 'priority-after-requeue',
  run: (url) =>
    withWorld(url, async (w) => {
      const work = await w.queue('work', { arguments: { 'x-max-priority': 10 } });
      const pub = await w.confirmChannel();
      await confirmOf(pub, '', work, 'a', { priority: 1 });
      await confirmOf(pub, '', work, 'b', { priority: 5 });
      await confirmOf(pub, '', work, 'c', { priority: 9 });
      const ch = await w.channel();
      const c = await ch.get(work, { noAck: false });
      const b = await ch.get(work, { noAck: false });
      await confirmOf(pub, '', work, 'd', { priority: 9 });
      await confirmOf(pub, '', work, 'e', { priority: 5 });
      if (c !== false) ch.nack(c, false, true);
      if (b !== false) ch.nack(b, false, true);
      const taken = [c, b].map((m) => (m === false ? 'empty' : m.content.toString()));
      const after = await w.settle(work, 5);
      return {
        taken,
        order: after.map((m) => [m.content.toString(), m.fields.redelivered]),
      };
    }),
  expected: {
    order: [
      ['c', true],
      ['d', false],
      ['b', true],
      ['e', false],
      ['a', false],
    ],
    taken: ['c', 'b'],
  },
};

export const priorityScenarios: Scenario[] = [priorityOrder, priorityAfterRequeue];
