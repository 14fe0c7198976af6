import type { Queue } from './queue.js';

/**
 * Whoever holds delivered, unsettled messages: an AMQP channel, an MQTT session, an HTTP claim. Queues record
 * it as the owner of each unacked message; when the holder ends, `releaseAll` puts every one of them back in
 * every queue, so no adapter reimplements requeue-on-close.
 */
export class DeliveryHolder {
  private readonly queues = new Set<Queue>();
  /** Most deliveries come from the queue of the one before: skip the set lookup for them. */
  private last: Queue | undefined;

  /** A message from `queue` is now held (call on every unsettled delivery). */
  noteDelivery(queue: Queue): void {
    if (queue === this.last) return;
    this.last = queue;
    this.queues.add(queue);
  }

  /** Every message still held goes back to its queue (in its original place, flagged redelivered). */
  releaseAll(): void {
    const queues = [...this.queues];
    this.queues.clear();
    this.last = undefined;
    for (const q of queues) q.releaseOwner(this);
  }
}
