/**
 * Consumers with manual ack and prefetch: on each of a few connections, one channel per queue. Most
 * deliveries are acked at once, some a little later, some nacked with requeue (never rejected: the ledger
 * stays exact). A periodic basic.qos round trip on every channel with fresh acks proves those acks reached
 * the broker; acks without that proof are "in flight" when the broker is killed.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { connect, openChannel } from '../helpers/amqp-client.js';
import type { ChanRef, Copy, Ledger } from './ledger.js';
import type { Rng } from './rng.js';

export interface ConsumerPoolOptions {
  url: string;
  ledger: Ledger;
  rng: Rng;
  connections: number;
  /** Share of deliveries nacked with requeue. */
  nackRate: number;
  /** Share of deliveries acked after a short delay instead of at once. */
  delayedAckRate: number;
  prefetchMin: number;
  prefetchMax: number;
  proveEveryMs: number;
}

class ConsumerChannel {
  unproven: Copy[] = [];
  proving = false;
  /** Delivered and neither acked nor nacked yet. */
  held = 0;

  constructor(
    readonly ch: Channel,
    readonly queue: string,
    readonly prefetch: number,
    readonly ref: ChanRef,
  ) {}
}

export class ConsumerPool {
  private readonly conns: (ChannelModel | undefined)[] = [];
  /** `${connection}|${queue}` → its consuming channel, while it consumes. */
  private readonly active = new Map<string, ConsumerChannel>();
  private readonly all: ConsumerChannel[] = [];
  private readonly subscribing = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(private readonly o: ConsumerPoolOptions) {}

  async start(): Promise<void> {
    for (let i = 0; i < this.o.connections; i++) {
      try {
        this.conns.push(await connect(this.o.url));
      } catch {
        this.conns.push(undefined);
      }
    }
    this.timer = setInterval(() => this.proveAll(), this.o.proveEveryMs);
  }

  /** Starts consuming every queue in `queues` on every connection that does not consume it yet. */
  async subscribeAll(queues: readonly string[]): Promise<void> {
    const work: Promise<void>[] = [];
    this.conns.forEach((conn, index) => {
      if (conn === undefined) return;
      for (const queue of queues) {
        const key = `${index}|${queue}`;
        if (this.active.has(key) || this.subscribing.has(key)) continue;
        work.push(this.subscribe(conn, key, queue));
      }
    });
    await Promise.all(work);
  }

  /** Delivered but not yet settled, or settled but not yet proven, on channels still open. */
  get busy(): number {
    let n = 0;
    for (const cc of this.all) if (!cc.ref.closed) n += cc.held + cc.unproven.length + (cc.proving ? 1 : 0);
    return n;
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.timer);
    await Promise.all(this.conns.map((c) => c?.close().catch(() => {})));
    for (const cc of this.all) cc.ref.closed = true;
  }

  private async subscribe(conn: ChannelModel, key: string, queue: string): Promise<void> {
    this.subscribing.add(key);
    try {
      const ch = await openChannel(conn);
      const prefetch = this.o.rng.int(this.o.prefetchMin, this.o.prefetchMax);
      const cc = new ConsumerChannel(ch, queue, prefetch, this.o.ledger.newChan());
      ch.on('close', () => {
        cc.ref.closed = true;
        cc.held = 0;
        if (this.active.get(key) === cc) this.active.delete(key);
      });
      await ch.prefetch(prefetch);
      this.all.push(cc);
      this.active.set(key, cc);
      await ch.consume(queue, (msg) => this.onMessage(cc, key, msg), { noAck: false });
    } catch {
      // The queue went away or the broker died: a later subscribeAll retries while it is live.
    } finally {
      this.subscribing.delete(key);
    }
  }

  private onMessage(cc: ConsumerChannel, key: string, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // Cancelled by the broker (queue deleted): drop the channel, unacked messages go back with it.
      if (this.active.get(key) === cc) this.active.delete(key);
      cc.ch.close().catch(() => {});
      return;
    }
    const { ledger, rng } = this.o;
    const copy = ledger.recordDelivery(
      cc.queue,
      msg.properties.messageId as string | undefined,
      msg.content,
      msg.fields.redelivered,
      cc.ref,
      () =>
        `channel ${cc.ref.id} consumer ${msg.fields.consumerTag} tag ${msg.fields.deliveryTag} ` +
        `redelivered ${msg.fields.redelivered} exchange '${msg.fields.exchange}' key '${msg.fields.routingKey}'`,
    );
    if (copy === undefined) {
      this.send(cc, () => cc.ch.ack(msg));
      return;
    }
    cc.held += 1;
    const roll = rng.next();
    if (roll < this.o.nackRate) {
      if (this.send(cc, () => cc.ch.nack(msg, false, true))) {
        cc.held -= 1;
        ledger.requeued(copy);
      }
    } else if (roll < this.o.nackRate + this.o.delayedAckRate) {
      setTimeout(() => this.ack(cc, msg, copy), rng.int(1, 80));
    } else {
      this.ack(cc, msg, copy);
    }
  }

  private ack(cc: ConsumerChannel, msg: ConsumeMessage, copy: Copy): void {
    if (cc.ref.closed || copy.chan !== cc.ref || copy.state !== 'unacked') return;
    if (!this.send(cc, () => cc.ch.ack(msg))) return;
    cc.held -= 1;
    this.o.ledger.ackSent(copy, cc.ref);
    cc.unproven.push(copy);
  }

  /** Writes an ack/nack; false when the channel is already closed (then the broker requeues by itself). */
  private send(cc: ConsumerChannel, write: () => void): boolean {
    if (cc.ref.closed) return false;
    try {
      write();
      return true;
    } catch {
      cc.ref.closed = true;
      return false;
    }
  }

  private proveAll(): void {
    if (this.closing) return;
    for (const cc of this.all) {
      if (cc.ref.closed || cc.proving || cc.unproven.length === 0) continue;
      const batch = cc.unproven;
      cc.unproven = [];
      cc.proving = true;
      cc.ch.prefetch(cc.prefetch).then(
        () => {
          this.o.ledger.acksProven(batch, cc.ref);
          cc.proving = false;
        },
        () => {
          cc.proving = false;
        },
      );
    }
  }
}
