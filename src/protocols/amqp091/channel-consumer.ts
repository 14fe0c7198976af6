import type { Consumer } from '../../core/consumer.js';
import type { Message } from '../../core/message.js';
import type { Queue } from '../../core/queue.js';
import type { AmqpChannel } from './channel.js';

/** A basic.consume subscription: the core's Consumer, with AMQP prefetch accounting. */
export class ChannelConsumer implements Consumer {
  /** Deliveries to this consumer not yet acked (only counted when acks are required). */
  unacked = 0;
  /** The consumer tag pre-encoded once, since every delivery repeats it. */
  readonly encodedTag: Buffer;

  constructor(
    readonly tag: string,
    readonly queue: Queue,
    readonly noAck: boolean,
    readonly exclusive: boolean,
    /** basic.qos(global=false) in force when the consumer was created; 0 = unlimited. */
    readonly prefetch: number,
    private readonly channel: AmqpChannel,
    /** basic.consume argument x-priority. */
    readonly priority = 0,
  ) {
    this.encodedTag = Buffer.from(tag, 'utf8');
  }

  /** The channel's holder owns this consumer's unacked deliveries. */
  get holder(): object {
    return this.channel.holder;
  }

  get owner(): object {
    return this.channel.connection;
  }

  hasCredit(): boolean {
    return this.channel.consumerHasCredit(this);
  }

  deliver(queue: Queue, offset: number, message: Message, redelivered: boolean): void {
    this.channel.deliver(this, queue, offset, message, redelivered);
  }

  cancelledByQueue(_queue: Queue): void {
    this.channel.consumerCancelledByQueue(this);
  }
}
