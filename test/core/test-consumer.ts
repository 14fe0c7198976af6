import type { ClassicQueue } from '../../src/core/classic-queue.js';
import type { Consumer } from '../../src/core/consumer.js';
import type { Message } from '../../src/core/message.js';

/** A consumer with a credit window, recording what it gets. */
export class TestConsumer implements Consumer {
  readonly received: Array<{ offset: number; text: string; redelivered: boolean }> = [];
  readonly exclusive = false;
  readonly owner = {};
  credit: number;

  constructor(
    readonly tag: string,
    readonly holder: object,
    credit = Number.POSITIVE_INFINITY,
    readonly noAck = false,
    readonly priority = 0,
  ) {
    this.credit = credit;
  }

  hasCredit(): boolean {
    return this.credit > 0;
  }

  deliver(_q: ClassicQueue, offset: number, m: Message, redelivered: boolean): void {
    this.credit--;
    this.received.push({ offset, text: m.body.toString(), redelivered });
  }

  cancelledByQueue(): void {}
}
