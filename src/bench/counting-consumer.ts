/**
 * Starts a consumer that counts deliveries into a tally, records publish-to-deliver latency from the
 * float64 timestamp the publisher wrote at the start of the body, and feeds the in-flight gate.
 */
import type { Channel } from '../client/channel.js';
import type { DeliveryTally } from './delivery-tally.js';
import type { InFlightGate } from './in-flight-gate.js';
import type { LatencyHistogram } from './latency-histogram.js';

export interface CountingConsumerOptions {
  channel: Channel;
  queue: string;
  /** true: broker-side auto-ack; false: manual multiple-acks, one per received chunk. */
  noAck: boolean;
  /** basic.qos prefetch (acking consumers only). */
  prefetch: number;
  tally: DeliveryTally;
  latency?: LatencyHistogram;
  gate?: InFlightGate;
}

/** Resolves with the consumer tag once the broker confirmed the consumer. */
export async function startCountingConsumer(o: CountingConsumerOptions): Promise<string> {
  if (!o.noAck) await o.channel.qos(o.prefetch);
  const { tally, latency, gate } = o;
  return o.channel.consume(
    o.queue,
    (body) => {
      const now = performance.now();
      if (latency !== undefined && body.length >= 8) latency.recordMs(now - body.readDoubleLE(0));
      gate?.onReceived();
      tally.add(now);
    },
    { noAck: o.noAck, batchAck: !o.noAck },
  );
}
