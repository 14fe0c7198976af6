/**
 * Backlog: fill a durable queue with N persistent messages (confirms) while nobody consumes, then
 * drain it. Shows whether publishing slows as the queue grows (first vs last 20 % of the fill), how fast
 * a deep queue drains, and, for a broker on this machine, its memory while holding the backlog.
 */
import { encodeBasicProperties } from '../../codec/basic-properties.js';
import { startCountingConsumer } from '../counting-consumer.js';
import { DeliveryTally } from '../delivery-tally.js';
import { readProcessMemory } from '../process-memory.js';
import { runPublisher } from '../publisher-loop.js';
import type { Figures, Scenario } from '../scenario.js';

const MIB = 1024 * 1024;
/** Below this many messages the RSS growth is noise, so no per-message memory figure is given. */
const MIN_MESSAGES_FOR_MEMORY_PER_MESSAGE = 100_000;

export const backlogScenario: Scenario = {
  id: 'backlog',
  title: 'backlog: fill N persistent messages with no consumer, then drain',
  async run(ctx) {
    const { options } = ctx;
    const total = options.backlogMessages;
    const size = options.size ?? 256;
    const pubConn = await ctx.connect('backlog publisher');
    const subConn = await ctx.connect('backlog consumer');
    const pub = await pubConn.createChannel();
    await pub.confirmSelect();
    const queue = ctx.name('backlog');
    await pub.queueDeclare(queue, { durable: true });
    const pid = options.brokerPid;
    try {
      const before = pid === undefined ? undefined : await readProcessMemory(pid);

      const fill = ctx.phase('fill', { total });
      const confirmed = fill.counter('confirmed');
      const first = Math.max(1, Math.floor(total * 0.2));
      const lastFrom = Math.floor(total * 0.8);
      let firstAt = 0;
      let lastFromAt = 0;
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
        deadline: t0 + options.drainTimeoutMs,
        maxMessages: total,
        counter: confirmed,
        onBatch: (done) => {
          const now = performance.now();
          if (firstAt === 0 && done >= first) firstAt = now;
          if (lastFromAt === 0 && done >= lastFrom) lastFromAt = now;
        },
      });
      const fillEnd = performance.now();
      fill.end();
      if (sent < total) ctx.note(`backlog fill reached ${sent} of ${total} messages within the time limit`);
      const afterFill = pid === undefined ? undefined : await readProcessMemory(pid);

      const drain = ctx.phase('drain', { total: sent });
      const tally = new DeliveryTally(drain.counter('delivered'));
      const sub = await subConn.createChannel();
      const t1 = performance.now();
      await startCountingConsumer({ channel: sub, queue, noAck: false, prefetch: options.prefetch, tally });
      const drained = await tally.waitFor(sent, options.drainTimeoutMs);
      const drainEnd = drained ? tally.lastAt : performance.now();
      drain.end();
      if (!drained) ctx.note(`backlog drain: ${tally.count} of ${sent} within the drain timeout`);
      const afterDrain = pid === undefined ? undefined : await readProcessMemory(pid);

      const figures: Figures = {
        messages: sent,
        bodyBytes: size,
        fillMsgPerSec: sent / ((fillEnd - t0) / 1000),
        drainMsgPerSec: tally.count / ((drainEnd - t1) / 1000),
      };
      if (sent === total && firstAt > 0 && lastFromAt > 0) {
        figures.fillFirst20PctMsgPerSec = first / ((firstAt - t0) / 1000);
        figures.fillLast20PctMsgPerSec = (total - lastFrom) / (Math.max(fillEnd - lastFromAt, 0.001) / 1000);
      }
      if (before !== undefined && afterFill !== undefined && afterDrain !== undefined) {
        figures.brokerRssBeforeMiB = before.rssBytes / MIB;
        figures.brokerRssFullMiB = afterFill.rssBytes / MIB;
        figures.brokerRssAfterDrainMiB = afterDrain.rssBytes / MIB;
        figures.brokerPeakRssMiB = Math.max(afterFill.peakRssBytes, afterDrain.peakRssBytes) / MIB;
        const growth = afterFill.rssBytes - before.rssBytes;
        if (sent >= MIN_MESSAGES_FOR_MEMORY_PER_MESSAGE && growth > 0)
          figures.brokerBytesPerMessage = growth / sent;
      } else if (pid !== undefined) {
        ctx.note(`broker memory: /proc/${pid}/status not readable`);
      }
      return figures;
    } finally {
      await pub.queueDelete(queue);
    }
  },
};
