import type { DeadLetterReason } from './dead-letter.js';
import type { Message } from './message.js';

export interface DeadLetterOutboxDeps {
  /** Whether the queue has a dead-letter exchange now (a policy can change it at any time). */
  hasDeadLetterExchange(): boolean;
  /** The body of a message that left the cache, read back from the log. */
  read(offset: number): Promise<Message | undefined>;
  /** The message is gone from the queue for good. */
  settle(offset: number): void;
  /** Routes the copy to the dead-letter exchange. */
  deadLetter(message: Message, reason: DeadLetterReason): void;
  onError(err: Error): void;
}

/**
 * Messages leaving a queue unconsumed (expired, rejected, dropped by a length limit, over the delivery limit).
 * Without a dead-letter exchange they are simply settled; with one, each copy is routed there first, one at a
 * time in the order they died (reading bodies back from disk where needed), and only then settled, so a crash
 * in between dead-letters again rather than losing the message.
 */
export class DeadLetterOutbox {
  private readonly dying: Array<{ offset: number; reason: DeadLetterReason; message: Message | undefined }> =
    [];
  private active = false;
  private stopped = false;

  constructor(private readonly deps: DeadLetterOutboxDeps) {}

  /** The message at offset is leaving unconsumed; `message` is its body when at hand. */
  push(offset: number, reason: DeadLetterReason, message: Message | undefined): void {
    if (!this.deps.hasDeadLetterExchange()) {
      this.deps.settle(offset);
      return;
    }
    this.dying.push({ offset, reason, message });
    if (!this.active) void this.drain();
  }

  /** A message that never entered the log (reject-publish-dlx) goes straight to the dead-letter exchange. */
  routeNow(message: Message, reason: DeadLetterReason): void {
    if (this.deps.hasDeadLetterExchange()) this.deps.deadLetter(message, reason);
  }

  /** The queue is being deleted: what is still waiting goes with it. */
  stop(): void {
    this.stopped = true;
    this.dying.length = 0;
  }

  private async drain(): Promise<void> {
    this.active = true;
    try {
      while (this.dying.length > 0 && !this.stopped) {
        const next = this.dying.shift()!;
        const message = next.message ?? (await this.deps.read(next.offset));
        if (this.stopped) return;
        if (message) this.deps.deadLetter(message, next.reason);
        this.deps.settle(next.offset);
      }
    } catch (err) {
      this.deps.onError(err as Error);
    } finally {
      this.active = false;
    }
  }
}
