import type { MetadataStore } from '../store/metadata-store.js';
import type { AuditEvent, AuditSink } from './audit.js';

/**
 * Audit events of changes made while the broker is stopped (`eventter users ... --data-dir`): kept in the
 * metadata store, in the same durable write as nothing else but themselves, until the broker's next start
 * logs them and moves them to the audit stream.
 */
const OUTBOX_KEY = 'audit-outbox\u0000';

export class AuditOutbox implements AuditSink {
  private sequence = 0;

  constructor(private readonly meta: MetadataStore) {}

  append(event: AuditEvent): Promise<void> {
    // Time, then order within this process: the broker replays them in the order they were made.
    const order = String(this.sequence++).padStart(8, '0');
    return this.meta.put(`${OUTBOX_KEY}${event.at}\u0000${order}\u0000${event.id}`, event);
  }
}

/** The waiting events, oldest first, each with the key that removes it once moved. */
export function pendingAuditEvents(meta: MetadataStore): Array<{ key: string; event: AuditEvent }> {
  return meta
    .entries(OUTBOX_KEY)
    .map(([key, value]) => ({ key, event: value as AuditEvent }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
