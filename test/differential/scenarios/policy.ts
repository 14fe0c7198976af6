import type { Scenario } from '../scenario.js';
import { bodies, confirmOf, withWorld } from '../scenario-world.js';

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A policy sets max-length and dead-letter-exchange on matching queues. Where the queue has its own
 * arguments, the lower max-length applies and the argument's dead-letter-exchange wins (RabbitMQ's rules).
 */
export const policyMaxLengthDlx: Scenario = {
  name: 'policy-max-length-dlx',
  needsAdmin: true,
  run: (url, admin) =>
    withWorld(url, async (w) => {
      if (admin === undefined) throw new Error('this scenario needs broker administration');
      const policyDlx = await w.exchange('policy-dlx', 'fanout');
      const policyDlq = await w.queue('policy-dlq');
      await w.bind(policyDlq, policyDlx, '');
      const argDlx = await w.exchange('arg-dlx', 'fanout');
      const argDlq = await w.queue('arg-dlq');
      await w.bind(argDlq, argDlx, '');
      const byPolicy = w.name('by-policy');
      const withArgs = w.name('with-args');
      const policy = w.name('policy');
      const pattern = `^(${escapeRegExp(byPolicy)}|${escapeRegExp(withArgs)})$`;
      await admin.setPolicy(policy, pattern, { 'max-length': 1, 'dead-letter-exchange': policyDlx });
      try {
        await w.declareQueue(byPolicy);
        await w.declareQueue(withArgs, {
          arguments: { 'x-max-length': 3, 'x-dead-letter-exchange': argDlx },
        });
        const pub = await w.confirmChannel();
        const confirms = [];
        for (const queue of [byPolicy, withArgs]) {
          for (const body of ['a', 'b', 'c']) confirms.push(await confirmOf(pub, '', queue, body));
        }
        const policyDead = await w.settle(policyDlq, 2);
        const argDead = await w.settle(argDlq, 2);
        return {
          confirms,
          byPolicy: { kept: bodies(await w.drain(byPolicy)) },
          withArgs: { kept: bodies(await w.drain(withArgs)) },
          policyDlq: policyDead.map((m) => [m.content.toString(), deathOf(m.properties.headers)]),
          argDlq: argDead.map((m) => [m.content.toString(), deathOf(m.properties.headers)]),
        };
      } finally {
        await admin.clearPolicy(policy);
      }
    }),
  expected: {
    argDlq: [
      [
        'a',
        {
          queue: '<with-args>',
          reason: 'maxlen',
        },
      ],
      [
        'b',
        {
          queue: '<with-args>',
          reason: 'maxlen',
        },
      ],
    ],
    byPolicy: {
      kept: ['c'],
    },
    confirms: ['ack', 'ack', 'ack', 'ack', 'ack', 'ack'],
    policyDlq: [
      [
        'a',
        {
          queue: '<by-policy>',
          reason: 'maxlen',
        },
      ],
      [
        'b',
        {
          queue: '<by-policy>',
          reason: 'maxlen',
        },
      ],
    ],
    withArgs: {
      kept: ['c'],
    },
  },
};

function deathOf(headers: Record<string, unknown> | undefined): unknown {
  const deaths = headers?.['x-death'];
  if (!Array.isArray(deaths) || deaths.length === 0) return 'no x-death';
  const first = deaths[0] as { queue?: unknown; reason?: unknown };
  return { reason: first.reason, queue: first.queue };
}
