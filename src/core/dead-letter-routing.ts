import type { ClassicQueue } from './classic-queue.js';
import {
  type DeadLetterReason,
  deadLetteredMessage,
  isDeadLetterCycle,
  originalRoutingKeys,
} from './dead-letter.js';
import type { Exchange } from './exchange.js';
import type { Message } from './message.js';
import type { Queue } from './queue.js';
import type { Router } from './router.js';

/**
 * A queue's message died (rejected, expired, over the length or delivery limit): its copy with x-death goes to
 * the queue's dead-letter exchange, with the dead-letter routing key or else its original keys. A missing
 * exchange drops it; a copy that would cycle back without a rejection on the way is dropped for that queue.
 */
export function routeDeadLetter(
  exchanges: ReadonlyMap<string, Exchange>,
  router: Router,
  queue: ClassicQueue,
  message: Message,
  reason: DeadLetterReason,
): void {
  const { deadLetterExchange, deadLetterRoutingKey } = queue.settings;
  if (deadLetterExchange === undefined) return;
  const keys = deadLetterRoutingKey !== undefined ? [deadLetterRoutingKey] : originalRoutingKeys(message);
  let copy = deadLetteredMessage(message, queue.name, reason, deadLetterExchange, keys[0], Date.now());
  // With an explicit dead-letter routing key RabbitMQ drops CC: the copy goes to that key alone.
  if (deadLetterRoutingKey !== undefined && copy.headers?.CC !== undefined) copy = copy.withoutHeader('CC');
  let targets: Queue[];
  if (deadLetterExchange === '') {
    targets = router.defaultExchangeTargets(keys);
  } else {
    const ex = exchanges.get(deadLetterExchange);
    if (!ex) return;
    targets = router.routeKeys(ex, copy, keys);
  }
  for (const target of new Set(targets)) {
    if (!isDeadLetterCycle(copy, target.name)) target.enqueue(copy);
  }
}
