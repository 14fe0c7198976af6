import { randomBytes } from 'node:crypto';
import type { Message } from './message.js';

/** The pseudo-queue a client consumes from (and names in reply_to) for direct reply-to RPC. */
export const directReplyQueue = 'amq.rabbitmq.reply-to';
const directReplyPrefix = `${directReplyQueue}.`;

/**
 * RabbitMQ's direct reply-to: an RPC caller consumes from `amq.rabbitmq.reply-to`, its requests carry
 * `amq.rabbitmq.reply-to.<token>` in reply_to, and a reply published to that routing key on the default
 * exchange goes straight to the caller's consumer, with no queue in between.
 */
export class DirectReplyTo {
  private readonly callers = new Map<string, (message: Message) => void>();

  /** Registers an RPC caller's reply consumer; returns the token that goes into reply_to. */
  register(deliver: (message: Message) => void): string {
    const token = randomBytes(18).toString('base64url');
    this.callers.set(token, deliver);
    return token;
  }

  unregister(token: string): void {
    this.callers.delete(token);
  }

  /** Whether a default-exchange publish with this routing key is a reply. */
  isReply(exchange: string, routingKey: string): boolean {
    return exchange === '' && routingKey.startsWith(directReplyPrefix);
  }

  /** Hands a reply to its caller; false when the caller is gone (the reply is dropped, as in RabbitMQ). */
  deliver(message: Message): boolean {
    const deliver = this.callers.get(message.routingKey.slice(directReplyPrefix.length));
    if (!deliver) return false;
    deliver(message);
    return true;
  }
}
