/**
 * A consumer that counts deliveries, records publish-to-deliver latency from the float64 timestamp
 * the publisher wrote at the start of the body, and feeds the in-flight gate.
 */
import type { Channel } from '../client/channel.js';
import type { InFlightGate } from './in-flight-gate.js';
import type { LatencyHistogram } from './latency-histogram.js';
import type { Counter } from './phase-meter.js';

export interface CountingConsumerOptions {
  channel: Channel;
  queue: string;
  /** true: broker-side auto-ack; false: manual multiple-acks, one per received chunk. */
  noAck: boolean;
  /** basic.qos prefetch (acking consumers only). */
  prefetch: number;
  counter: Counter;
  latency?: LatencyHistogram;
  gate?: InFlightGate;
}

export class CountingConsumer {
  /** performance.now() of the latest delivery. */
  lastAt = 0;
  private target = Number.POSITIVE_INFINITY;
  private reached: (() => void) | null = null;

  private constructor(private readonly counter: Counter) {}

  static async start(o: CountingConsumerOptions): Promise<CountingConsumer> {
    const consumer = new CountingConsumer(o.counter);
    if (!o.noAck) await o.channel.qos(o.prefetch);
    const { counter, latency, gate } = o;
    await o.channel.consume(
      o.queue,
      (body) => {
        const now = performance.now();
        counter.n++;
        consumer.lastAt = now;
        if (latency !== undefined && body.length >= 8) latency.recordMs(now - body.readDoubleLE(0));
        gate?.onReceived();
        if (counter.n >= consumer.target) consumer.hit();
      },
      { noAck: o.noAck, batchAck: !o.noAck },
    );
    return consumer;
  }

  get received(): number {
    return this.counter.n;
  }

  /** Resolves true once `count` deliveries arrived, false if timeoutMs passed first. */
  waitFor(count: number, timeoutMs: number): Promise<boolean> {
    if (this.counter.n >= count) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.reached = null;
        this.target = Number.POSITIVE_INFINITY;
        resolve(false);
      }, timeoutMs);
      this.target = count;
      this.reached = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  private hit(): void {
    const r = this.reached;
    this.reached = null;
    this.target = Number.POSITIVE_INFINITY;
    r?.();
  }
}
