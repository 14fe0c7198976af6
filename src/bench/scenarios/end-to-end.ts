/** 1 publisher / 1 consumer, 16 B transient, no confirms, auto-ack: the headline end-to-end rate. */
import { latencyFigures, measureFlow } from '../measure-flow.js';
import type { Scenario } from '../scenario.js';

export const endToEndScenario: Scenario = {
  id: 'e2e',
  title: '1 publisher -> 1 consumer, transient, no confirms, auto-ack',
  async run(ctx) {
    const { options } = ctx;
    const pubConn = await ctx.connect('e2e publisher');
    const subConn = await ctx.connect('e2e consumer');
    const pub = await pubConn.createChannel();
    const sub = await subConn.createChannel();
    const queue = ctx.name('e2e');
    await pub.queueDeclare(queue, { durable: false });
    try {
      const size = options.size ?? 16;
      const r = await measureFlow(ctx, {
        phase: `${size} B`,
        publishers: [
          {
            connection: pubConn,
            channel: pub,
            exchange: '',
            routingKey: queue,
            consumers: [{ channel: sub, queue }],
          },
        ],
        bodySize: size,
        persistent: false,
        confirmWindow: 0,
        noAck: true,
        inFlightPerPublisher: options.inFlight,
        totalMessages: options.messages,
      });
      return {
        deliverMsgPerSec: r.deliverMsgPerSec,
        publishMsgPerSec: r.publishMsgPerSec,
        bodyBytes: size,
        ...latencyFigures('latency', r.latency),
      };
    } finally {
      await pub.queueDelete(queue);
    }
  },
};
