import type { ClassicQueue, QueuedMessage } from '../../core/classic-queue.js';
import type { Message } from '../../core/message.js';
import { messageIdOf } from '../../core/message-id.js';
import { Claim, claimsOf } from '../../core/queue-claims.js';
import { ageSeconds, bodyOf, messageHref } from './message-view.js';

/** A queued message with its content, read in place. */
export interface LoadedMessage extends QueuedMessage {
  message: Message;
}

/** Zaqar's message document. */
export interface MessageJson {
  id: string;
  href: string;
  ttl: number;
  age: number;
  body: unknown;
}

export async function load(queue: ClassicQueue, at: QueuedMessage): Promise<LoadedMessage | undefined> {
  const message = await queue.read(at.offset);
  return message === undefined ? undefined : { ...at, message };
}

/** The live claim holding a message, if a claim holds it (an AMQP consumer's hold has no claim id). */
export function claimOf(m: QueuedMessage, nowMs: number): Claim | undefined {
  return m.held && m.owner instanceof Claim && m.owner.isLive(nowMs) ? m.owner : undefined;
}

export function ttlOf(queue: ClassicQueue, m: LoadedMessage): number {
  return claimsOf(queue).ttlSecondsOf(m.offset, m.expiresAt, m.message.timestamp);
}

export function messageJson(
  queue: ClassicQueue,
  queuePath: string,
  m: LoadedMessage,
  nowMs: number,
): MessageJson {
  const id = messageIdOf(queue.id, m.offset);
  return {
    id,
    href: messageHref(queuePath, id, claimOf(m, nowMs)?.id),
    ttl: ttlOf(queue, m),
    age: ageSeconds(m.message, nowMs),
    body: bodyOf(m.message),
  };
}

/**
 * Zaqar's claim_count: how many times the message was claimed, counted (as Zaqar does) only on queues with a
 * dead-letter queue and a claim limit; 0 elsewhere. Held now counts as one claim.
 */
export function claimCountOf(queue: ClassicQueue, offset: number, held: boolean): number {
  const { _max_claim_count: limit, _dead_letter_queue: dlq } = queue.metadata;
  if (!limit || !dlq) return 0;
  return queue.deliveryCount(offset) + (held ? 1 : 0);
}
