/** 100 queues, each with its own publisher channel and consumer channel, all running at once. */
import type { Channel } from '../../client/channel.js';
import { type FlowPublisher, latencyFigures, measureFlow } from '../measure-flow.js';
import type { Scenario } from '../scenario.js';

const QUEUES = 100;
/** Channels share connections, as applications with many workers per process do. */
const CHANNELS_PER_CONNECTION = 10;

export const manyQueuesScenario: Scenario = {
  id: 'queues',
  title: `${QUEUES} queues, each with a publisher and a consumer, transient, auto-ack`,
  async run(ctx) {
    const { options } = ctx;
    const publishers: FlowPublisher[] = [];
    let admin: Channel | null = null;
    const queues: string[] = [];
    try {
      for (let c = 0; c < QUEUES / CHANNELS_PER_CONNECTION; c++) {
        const pubConn = await ctx.connect(`queues publishers ${c}`);
        const subConn = await ctx.connect(`queues consumers ${c}`);
        for (let i = 0; i < CHANNELS_PER_CONNECTION; i++) {
          const channel = await pubConn.createChannel();
          admin ??= channel;
          const queue = ctx.name(`queues-${c * CHANNELS_PER_CONNECTION + i}`);
          await channel.queueDeclare(queue, { durable: false });
          queues.push(queue);
          publishers.push({
            connection: pubConn,
            channel,
            exchange: '',
            routingKey: queue,
            consumers: [{ channel: await subConn.createChannel(), queue }],
          });
        }
      }
      const size = options.size ?? 16;
      const r = await measureFlow(ctx, {
        phase: `${QUEUES} queues`,
        publishers,
        bodySize: size,
        persistent: false,
        confirmWindow: 0,
        noAck: true,
        inFlightPerPublisher: Math.max(10, Math.floor(options.inFlight / QUEUES)),
        totalMessages: options.messages === undefined ? undefined : Math.max(QUEUES, options.messages),
      });
      return {
        publishMsgPerSec: r.publishMsgPerSec,
        deliverMsgPerSec: r.deliverMsgPerSec,
        bodyBytes: size,
        ...latencyFigures('latency', r.latency),
      };
    } finally {
      if (admin !== null) for (const q of queues) await admin.queueDelete(q);
    }
  },
};
