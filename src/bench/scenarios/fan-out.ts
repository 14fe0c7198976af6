/** One publisher into a fanout exchange bound to 10 queues, one consumer per queue. */
import { latencyFigures, measureFlow } from '../measure-flow.js';
import type { Scenario } from '../scenario.js';

const QUEUES = 10;

export const fanOutScenario: Scenario = {
  id: 'fanout',
  title: `fan-out 1 -> ${QUEUES} queues (fanout exchange), transient, auto-ack`,
  async run(ctx) {
    const { options } = ctx;
    const pubConn = await ctx.connect('fanout publisher');
    const subConn = await ctx.connect('fanout consumers');
    const pub = await pubConn.createChannel();
    const exchange = ctx.name('fanout');
    await pub.exchangeDeclare(exchange, 'fanout', { durable: false });
    const queues: string[] = [];
    try {
      const consumers = [];
      for (let i = 0; i < QUEUES; i++) {
        const queue = ctx.name(`fanout-${i}`);
        await pub.queueDeclare(queue, { durable: false });
        queues.push(queue);
        await pub.queueBind(queue, exchange, '');
        consumers.push({ channel: await subConn.createChannel(), queue });
      }
      const size = options.size ?? 16;
      const r = await measureFlow(ctx, {
        phase: `1 -> ${QUEUES}`,
        publishers: [{ connection: pubConn, channel: pub, exchange, routingKey: '', consumers }],
        bodySize: size,
        persistent: false,
        confirmWindow: 0,
        noAck: true,
        inFlightPerPublisher: Math.max(1, Math.floor(options.inFlight / QUEUES)),
        totalMessages: options.messages,
      });
      return {
        publishMsgPerSec: r.publishMsgPerSec,
        deliverMsgPerSec: r.deliverMsgPerSec,
        bodyBytes: size,
        ...latencyFigures('latency', r.latency),
      };
    } finally {
      for (const q of queues) await pub.queueDelete(q);
      await pub.exchangeDelete(exchange);
    }
  },
};
