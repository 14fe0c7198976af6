import type { FieldTable } from '../codec/field-table.js';
import type { Message } from './message.js';
import type { Queue } from './queue.js';

/**
 * What a protocol adapter hands a queue to receive messages. The queue pushes deliveries while `hasCredit()`
 * says yes (AMQP prefetch, channel.flow, socket back-pressure, HTTP/SSE window all map onto it) and the adapter
 * calls `queue.resumeDelivery()` when credit comes back.
 */
export interface Consumer {
  readonly tag: string;
  /** Settled on delivery (AMQP no-ack); otherwise the queue holds the message unacked until ack/requeue/reject. */
  readonly noAck: boolean;
  readonly exclusive: boolean;
  /** Opaque identity of the owning connection, for exclusive-queue checks. */
  readonly owner: object;
  /**
   * Who holds this consumer's unacked deliveries (an AMQP channel, an MQTT session): when it ends, core puts
   * them back with ClassicQueue.releaseOwner. None: the adapter settles or requeues them itself.
   */
  readonly holder?: object;
  /** Consumer priority (AMQP x-priority): higher ones get messages first while they have credit. */
  readonly priority: number;
  hasCredit(): boolean;
  deliver(queue: Queue, offset: number, message: Message, redelivered: boolean): void;
  /** The queue was deleted (or otherwise ended the subscription); the consumer is already removed. */
  cancelledByQueue(queue: Queue): void;
}

/** How a consumer subscribes: its subscription arguments and credit limits. */
export interface ConsumeOptions {
  arguments?: FieldTable;
  /** Per-consumer credit (AMQP basic.qos global=false); 0: none. Streams require one: acks are credit. */
  prefetch?: number;
  /** Credit shared by a channel's consumers (AMQP basic.qos global=true); 0: none. */
  globalPrefetch?: number;
}
