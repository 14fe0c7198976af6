import type { ClassicQueue } from '../../core/classic-queue.js';
import type { Message } from '../../core/message.js';

/**
 * Appends a batch; resolves with the offsets once every message is as durable as the queue makes it.
 * `notBefore[i]` (epoch ms) delays message i.
 */
export function appendDurably(
  queue: ClassicQueue,
  messages: Message[],
  notBefore: number[] = [],
): Promise<number[]> {
  return new Promise((resolve, reject) => {
    let pending = messages.length;
    let failed: Error | null = null;
    const offsets: number[] = [];
    const stored = (err: Error | null) => {
      failed ??= err;
      if (--pending > 0) return;
      if (failed) reject(failed);
      else resolve(offsets);
    };
    messages.forEach((message, i) => {
      offsets.push(queue.append(message, stored, notBefore[i] ?? 0));
    });
  });
}
