/**
 * The common shape of most scenarios: publishers and their consumers running together for a while
 * (or for a message count), measured as publish rate, delivery rate and publish-to-deliver latency.
 */

import type { Channel } from '../client/channel.js';
import type { Connection } from '../client/connection.js';
import { encodeBasicProperties } from '../codec/basic-properties.js';
import { startCountingConsumer } from './counting-consumer.js';
import { DeliveryTally } from './delivery-tally.js';
import { InFlightGate } from './in-flight-gate.js';
import { LatencyHistogram } from './latency-histogram.js';
import { runPublisher } from './publisher-loop.js';
import type { ScenarioContext } from './scenario.js';

export interface FlowPublisher {
  connection: Connection;
  channel: Channel;
  exchange: string;
  routingKey: string;
  /** Queues that receive this publisher's messages, each with the channel that consumes it. */
  consumers: { channel: Channel; queue: string }[];
}

export interface FlowSpec {
  phase: string;
  publishers: FlowPublisher[];
  bodySize: number;
  persistent: boolean;
  /** Unconfirmed publishes per publisher; 0 = no confirms (channels must be in confirm mode otherwise). */
  confirmWindow: number;
  /** Consumers auto-ack (true) or send multiple-acks (false). */
  noAck: boolean;
  /** Messages a publisher may be ahead of its consumers. */
  inFlightPerPublisher: number;
  /** Fixed publish rate in msg/s (all publishers together); undefined = as fast as possible. */
  rate?: number;
  /** Count-bound instead of time-bound: total messages across all publishers. */
  totalMessages?: number;
  /** Length of a time-bound run; default options.durationMs. */
  durationMs?: number;
}

export interface FlowResult {
  published: number;
  delivered: number;
  publishMsgPerSec: number;
  deliverMsgPerSec: number;
  latency: LatencyHistogram;
  /** false when deliveries stopped short of what was published (drain timed out). */
  complete: boolean;
}

const TIMESTAMP_BYTES = 8;

export async function measureFlow(ctx: ScenarioContext, spec: FlowSpec): Promise<FlowResult> {
  const { options } = ctx;
  const countBound = spec.totalMessages !== undefined;
  const durationMs = spec.durationMs ?? options.durationMs;
  const meter = ctx.phase(spec.phase, countBound ? { total: spec.totalMessages } : { durationMs });
  const published = meter.counter('published');
  const tally = new DeliveryTally(meter.counter('delivered'));
  const latency = new LatencyHistogram();
  const stamp = spec.bodySize >= TIMESTAMP_BYTES;
  const rawProperties = encodeBasicProperties(spec.persistent ? { deliveryMode: 2 } : {});
  const gates: InFlightGate[] = [];
  let fanOutTotal = 0;
  try {
    for (const p of spec.publishers) {
      const gate = new InFlightGate(spec.inFlightPerPublisher, p.consumers.length);
      gates.push(gate);
      fanOutTotal += p.consumers.length;
      for (const c of p.consumers) {
        await startCountingConsumer({
          channel: c.channel,
          queue: c.queue,
          noAck: spec.noAck,
          prefetch: options.prefetch,
          tally,
          latency,
          gate,
        });
      }
    }
    const start = performance.now();
    const deadline = start + (countBound ? options.drainTimeoutMs : durationMs);
    const n = spec.publishers.length;
    const perPublisher = countBound ? Math.ceil((spec.totalMessages ?? 0) / n) : Number.POSITIVE_INFINITY;
    const sent = await Promise.all(
      spec.publishers.map((p, i) =>
        runPublisher({
          connection: p.connection,
          channel: p.channel,
          exchange: p.exchange,
          routingKey: p.routingKey,
          body: Buffer.alloc(spec.bodySize, 0x78),
          rawProperties,
          confirmWindow: spec.confirmWindow,
          stamp,
          deadline,
          maxMessages: perPublisher,
          counter: published,
          gate: gates[i],
          rate: spec.rate === undefined ? undefined : spec.rate / n,
        }),
      ),
    );
    const publishEnd = performance.now();
    let expected = 0;
    let totalSent = 0;
    for (let i = 0; i < n; i++) {
      expected += sent[i] * spec.publishers[i].consumers.length;
      totalSent += sent[i];
    }
    const complete = await tally.waitFor(expected, options.drainTimeoutMs);
    if (!complete) {
      ctx.note(`${spec.phase}: ${tally.count} of ${expected} deliveries arrived within the drain timeout`);
    }
    const deliverEnd = tally.lastAt > start ? tally.lastAt : performance.now();
    return {
      published: totalSent,
      delivered: tally.count,
      publishMsgPerSec: totalSent / ((publishEnd - start) / 1000),
      deliverMsgPerSec: tally.count / ((deliverEnd - start) / 1000),
      latency,
      complete: complete && fanOutTotal > 0,
    };
  } finally {
    meter.end();
  }
}

/** Latency percentiles as figures, named with the given prefix. */
export function latencyFigures(prefix: string, latency: LatencyHistogram): Record<string, number> {
  if (latency.count === 0) return {};
  return {
    [`${prefix}P50Ms`]: latency.quantileMs(0.5),
    [`${prefix}P99Ms`]: latency.quantileMs(0.99),
    [`${prefix}P999Ms`]: latency.quantileMs(0.999),
  };
}
