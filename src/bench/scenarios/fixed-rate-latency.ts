/**
 * Latency at a fixed, moderate rate (default 1,000 msg/s): persistent messages with confirms on a
 * durable queue, an acking consumer; publish-to-deliver percentiles without saturation effects.
 */
import { latencyFigures, measureFlow } from '../measure-flow.js';
import type { Scenario } from '../scenario.js';

export const fixedRateLatencyScenario: Scenario = {
  id: 'latency',
  title: 'fixed-rate latency, persistent, confirms, manual acks',
  async run(ctx) {
    const { options } = ctx;
    const pubConn = await ctx.connect('latency publisher');
    const subConn = await ctx.connect('latency consumer');
    const pub = await pubConn.createChannel();
    await pub.confirmSelect();
    const sub = await subConn.createChannel();
    const queue = ctx.name('latency');
    await pub.queueDeclare(queue, { durable: true });
    try {
      const size = options.size ?? 256;
      const r = await measureFlow(ctx, {
        phase: `${options.rate} msg/s`,
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
        persistent: true,
        confirmWindow: options.confirmWindow,
        noAck: false,
        inFlightPerPublisher: options.inFlight,
        rate: options.rate,
        totalMessages: options.messages,
      });
      return {
        targetMsgPerSec: options.rate,
        achievedMsgPerSec: r.deliverMsgPerSec,
        bodyBytes: size,
        ...latencyFigures('latency', r.latency),
      };
    } finally {
      await pub.queueDelete(queue);
    }
  },
};
