import type { ClassicQueue, GetResult } from '../../core/classic-queue.js';
import { Message } from '../../core/message.js';
import { type ClaimLimit, claimsOf } from '../../core/queue-claims.js';
import { appendDurably } from './append.js';
import { declareQueue } from './queue-access.js';
import { isQueueApiName, type QueueApiContext } from './request-context.js';

/**
 * Zaqar's dead-letter queues, from a queue's metadata: with `_max_claim_count` and `_dead_letter_queue`
 * both set, a claim that would take a message for one time too many moves it to the dead-letter queue
 * instead (made on first use), with `_dead_letter_queue_messages_ttl` as its TTL when set.
 */
export function claimLimitOf(ctx: QueueApiContext, queue: ClassicQueue): ClaimLimit | undefined {
  const metadata = queue.metadata;
  const maxClaims = positiveInt(metadata._max_claim_count);
  const target = metadata._dead_letter_queue;
  if (maxClaims === undefined || typeof target !== 'string' || !isQueueApiName(target)) return undefined;
  const deadLetterTtl = positiveInt(metadata._dead_letter_queue_messages_ttl);
  return {
    maxClaims,
    async moveAway(taken: GetResult) {
      // Permission to name this queue was checked when the metadata was set (as RabbitMQ checks a DLX).
      const { queue: deadLetters } = await declareQueue(ctx, target, {}, false);
      const ttlSeconds =
        deadLetterTtl ?? claimsOf(queue).ttlSecondsOf(taken.offset, taken.expiresAt, taken.message.timestamp);
      await appendDurably(deadLetters, [movedCopy(taken.message, target, ttlSeconds)]);
    },
  };
}

/** The message as the dead-letter queue keeps it: same body and properties, its TTL counted from now. */
function movedCopy(message: Message, queueName: string, ttlSeconds: number): Message {
  const expiration = ttlSeconds > 0 ? String(ttlSeconds * 1000) : undefined;
  const properties = message.withProperties({ ...message.decodedProperties, expiration }).properties;
  return new Message(
    '',
    queueName,
    properties,
    message.body,
    true,
    message.priority,
    ttlSeconds > 0 ? ttlSeconds * 1000 : -1,
    Date.now(),
  );
}

export function positiveInt(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}
