import { encodeBasicProperties } from '../codec/basic-properties.js';
import type { AuditEvent, AuditSink } from './audit.js';
import { Message } from './message.js';
import type { Stream } from './stream.js';
import type { VHost } from './vhost.js';

/**
 * The audit stream of a running broker: stream `audit` in its own vhost `eventter.audit`, so that reading
 * it takes a grant an administrator makes on purpose (applications with `.*` on `/` do not see it, cannot
 * publish forged events into it, and deleting `/` does not take it away). Nobody has permissions there
 * until granted; read permission is enough for `eventter stream tail` and any AMQP stream consumer.
 *
 * Each event is one persistent message: the body is the event as JSON, the routing key its name
 * (`user.created`, ...), message_id its id, timestamp its time, type its name, app_id `eventter`, and the
 * headers `event`, `by` and `from`. The vhost and the stream are created at start and again whenever an
 * administrator deleted them (the deletion is then the first event of the new stream).
 */
export const AUDIT_VHOST = 'eventter.audit';
export const AUDIT_STREAM = 'audit';

export interface AuditStreamHost {
  vhost(name: string): VHost | undefined;
  /** Creates an empty vhost (no permissions for anyone). */
  createVhost(name: string): Promise<void>;
}

/** The owner of the stream's declare: no connection ever holds the audit stream exclusively. */
const BROKER_OWNER = Object.freeze({ owner: 'audit' });

export class AuditStream implements AuditSink {
  /** Appends go in the order their events were recorded, whatever the creation of the stream costs. */
  private order: Promise<unknown> = Promise.resolve();

  constructor(private readonly host: AuditStreamHost) {}

  /** Creates the vhost and the stream when missing; resolves to the stream. */
  async ensure(): Promise<Stream> {
    if (!this.host.vhost(AUDIT_VHOST)) await this.host.createVhost(AUDIT_VHOST);
    const vhost = this.host.vhost(AUDIT_VHOST);
    if (!vhost) throw new Error(`the audit vhost '${AUDIT_VHOST}' could not be created`);
    const { queue } = await vhost.declareQueue(AUDIT_STREAM, {
      durable: true,
      arguments: { 'x-queue-type': 'stream' },
      owner: BROKER_OWNER,
    });
    if (queue.kind !== 'stream') {
      throw new Error(`queue '${AUDIT_STREAM}' in vhost '${AUDIT_VHOST}' is not a stream; delete it`);
    }
    return queue;
  }

  append(event: AuditEvent): Promise<void> {
    let stored: Promise<void> = Promise.resolve();
    const enqueued = this.order.then(async () => {
      const stream = await this.ensure();
      stored = new Promise((resolve, reject) =>
        stream.enqueue(auditMessage(event), (err) => (err ? reject(err) : resolve())),
      );
    });
    this.order = enqueued.catch(() => {});
    // The next event may go in as soon as this one is enqueued; both then share one durability wait.
    return enqueued.then(() => stored);
  }
}

export function auditMessage(event: AuditEvent): Message {
  const now = Date.now();
  const properties = encodeBasicProperties({
    contentType: 'application/json',
    deliveryMode: 2,
    messageId: event.id,
    timestamp: Math.floor(Date.parse(event.at) / 1000),
    type: event.event,
    appId: 'eventter',
    headers: { event: event.event, by: event.by, from: event.from },
  });
  return new Message('', event.event, properties, Buffer.from(JSON.stringify(event)), true, 0, -1, now);
}
