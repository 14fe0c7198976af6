import type { Message } from 'amqplib';
import type { Scenario } from '../scenario.js';
import { confirmOf, describeMessage, withWorld } from '../scenario-world.js';

/** Unroutable messages go to the alternate exchange; then mandatory has nothing to return. */
export const alternateExchange: Scenario = {
  name: 'alternate-exchange',
  run: (url) =>
    withWorld(url, async (w) => {
      const ae = await w.exchange('ae', 'fanout');
      const aeQueue = await w.queue('ae-queue');
      await w.bind(aeQueue, ae, '');
      const main = await w.exchange('main', 'direct', { alternateExchange: ae });
      const routed = await w.queue('routed');
      await w.bind(routed, main, 'known');
      // An alternate exchange that does not exist cannot take the message: mandatory returns it.
      const dangling = await w.exchange('dangling', 'direct', { alternateExchange: w.name('missing') });
      const pub = await w.confirmChannel();
      const returned: Message[] = [];
      pub.on('return', (msg: Message) => returned.push(msg));
      const confirms = [
        await confirmOf(pub, main, 'known', 'routed', { mandatory: true }),
        await confirmOf(pub, main, 'unknown', 'to-ae-mandatory', { mandatory: true }),
        await confirmOf(pub, main, 'other', 'to-ae'),
        await confirmOf(pub, dangling, 'nowhere', 'lost', { mandatory: true }),
      ];
      // basic.return precedes the publisher ack, so every return has arrived by now.
      return {
        confirms,
        returned: returned.map((m) => ({
          body: m.content.toString(),
          replyCode: (m.fields as unknown as { replyCode: number }).replyCode,
          replyText: (m.fields as unknown as { replyText: string }).replyText,
          exchange: m.fields.exchange,
          routingKey: m.fields.routingKey,
        })),
        routed: (await w.drain(routed)).map(describeMessage),
        alternate: (await w.drain(aeQueue)).map(describeMessage),
      };
    }),
  expected: {
    alternate: [
      {
        body: 'to-ae-mandatory',
        exchange: '<main>',
        redelivered: false,
        routingKey: 'unknown',
      },
      {
        body: 'to-ae',
        exchange: '<main>',
        redelivered: false,
        routingKey: 'other',
      },
    ],
    confirms: ['ack', 'ack', 'ack', 'ack'],
    returned: [
      {
        body: 'lost',
        exchange: '<dangling>',
        replyCode: 312,
        replyText: 'NO_ROUTE',
        routingKey: 'nowhere',
      },
    ],
    routed: [
      {
        body: 'routed',
        exchange: '<main>',
        redelivered: false,
        routingKey: 'known',
      },
    ],
  },
};
