/**
 * Persistent 256 B messages on a durable queue with publisher confirms: the confirmed publish rate with
 * nobody consuming, then the drain rate of what was published, then publish + consume together.
 */
import { encodeBasicProperties } from '../../codec/basic-properties.js';
import { startCountingConsumer } from '../counting-consumer.js';
import { DeliveryTally } from '../delivery-tally.js';
import { latencyFigures, measureFlow } from '../measure-flow.js';
import { runPublisher } from '../publisher-loop.js';
import type { Scenario } from '../scenario.js';

export const persistentScenario: Scenario = {
  id: 'persistent',
  title: 'persistent, durable queue, publisher confirms',
  async run(ctx) {
    const { options } = ctx;
    const size = options.size ?? 256;
    const half = Math.max(1, Math.floor(options.durationMs / 2));
    const pubConn = await ctx.connect('persistent publisher');
    const subConn = await ctx.connect('persistent consumer');
    const pub = await pubConn.createChannel();
    await pub.confirmSelect();
    const queue = ctx.name('persistent');
    await pub.queueDeclare(queue, { durable: true });
    try {
      // 1. Publish with confirms, no consumer.
      const fill = ctx.phase(
        'publish',
        options.messages !== undefined ? { total: options.messages } : { durationMs: half },
      );
      const confirmed = fill.counter('confirmed');
      const t0 = performance.now();
      const sent = await runPublisher({
        connection: pubConn,
        channel: pub,
        exchange: '',
        routingKey: queue,
        body: Buffer.alloc(size, 0x78),
        rawProperties: encodeBasicProperties({ deliveryMode: 2 }),
        confirmWindow: options.confirmWindow,
        stamp: false,
        deadline: t0 + (options.messages !== undefined ? options.drainTimeoutMs : half),
        maxMessages: options.messages ?? Number.POSITIVE_INFINITY,
        counter: confirmed,
      });
      const publishMsgPerSec = sent / ((performance.now() - t0) / 1000);
      fill.end();

      // 2. Drain it.
      const drain = ctx.phase('drain', { total: sent });
      const tally = new DeliveryTally(drain.counter('delivered'));
      const drainChannel = await subConn.createChannel();
      const t1 = performance.now();
      await startCountingConsumer({
        channel: drainChannel,
        queue,
        noAck: false,
        prefetch: options.prefetch,
        tally,
      });
      const drained = await tally.waitFor(sent, options.drainTimeoutMs);
      const drainMsgPerSec = tally.count / (((drained ? tally.lastAt : performance.now()) - t1) / 1000);
      drain.end();
      if (!drained) ctx.note(`persistent drain: ${tally.count} of ${sent} within the drain timeout`);
      await drainChannel.close();

      // 3. Publish and consume together.
      const sub = await subConn.createChannel();
      const both = await measureFlow(ctx, {
        phase: 'concurrent',
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
        totalMessages: options.messages,
      });
      return {
        publishMsgPerSec,
        drainMsgPerSec,
        concurrentPublishMsgPerSec: both.publishMsgPerSec,
        concurrentDeliverMsgPerSec: both.deliverMsgPerSec,
        bodyBytes: size,
        ...latencyFigures('concurrentLatency', both.latency),
      };
    } finally {
      await pub.queueDelete(queue);
    }
  },
};
