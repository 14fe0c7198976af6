import type { Consumer } from '../../core/consumer.js';
import type { Message } from '../../core/message.js';
import type { Queue } from '../../core/queue.js';
import type { SharedMembership } from './shared-subscriptions.js';

/** What the consumer needs from its session. */
export interface ConsumingSession {
  readonly clientId: string;
  readonly holder: object;
  readonly owner: object;
  /** Every subscription is QoS 0: messages are settled as they go out. */
  readonly settlesOnDelivery: boolean;
  hasCredit(): boolean;
  deliver(
    queue: Queue,
    offset: number,
    message: Message,
    redelivered: boolean,
    shared?: SharedMembership,
  ): void;
  queueDeleted(queue: Queue, shared?: SharedMembership): void;
}

/**
 * The core Consumer of an MQTT session's queue, or of a shared subscription's queue for one member. Credit is
 * the session's inflight window and the socket's back-pressure; what only goes out at QoS 0 is consumed
 * without acknowledgements, so its messages need never touch the disk.
 */
export class SessionConsumer implements Consumer {
  readonly tag: string;
  readonly exclusive = false;
  readonly priority = 0;

  constructor(
    private readonly session: ConsumingSession,
    private readonly shared?: SharedMembership,
  ) {
    this.tag = `mqtt-${session.clientId}`;
  }

  get noAck(): boolean {
    return this.shared ? this.shared.sub.qos === 0 : this.session.settlesOnDelivery;
  }

  get owner(): object {
    return this.session.owner;
  }

  get holder(): object {
    return this.session.holder;
  }

  hasCredit(): boolean {
    return this.session.hasCredit();
  }

  deliver(queue: Queue, offset: number, message: Message, redelivered: boolean): void {
    this.session.deliver(queue, offset, message, redelivered, this.shared);
  }

  cancelledByQueue(queue: Queue): void {
    this.session.queueDeleted(queue, this.shared);
  }
}
