import { randomUUID } from 'node:crypto';

/**
 * The audit of administration: every change to users, permissions, topic permissions, vhosts, limits and
 * policies, whoever makes it (HTTP API, `eventter ... --data-dir` on a stopped broker, definitions import),
 * becomes one AuditEvent. The trail logs it (info, `audit: true`, message "audit") and hands it to a sink:
 * the audit stream of a running broker (audit-stream.ts), or the metadata store's outbox when the broker is
 * stopped (audit-outbox.ts), which the broker moves to the stream at its next start. Passwords and password
 * hashes are never part of an event.
 */

/** Who made a change, and from where. */
export interface AuditActor {
  /** The broker user; for changes made on a stopped broker's data directory, the operating-system account. */
  user: string;
  /** The client's address, or LOCAL_DATA_DIR. */
  from: string;
}

/** `from` of changes made with `--data-dir` on a stopped broker. */
export const LOCAL_DATA_DIR = 'local data-dir';

export const AUDIT_EVENT_NAMES = [
  'user.created',
  'user.updated',
  'user.deleted',
  'permission.set',
  'permission.cleared',
  'topic-permission.set',
  'topic-permission.cleared',
  'vhost.created',
  'vhost.updated',
  'vhost.deleted',
  'vhost-limit.set',
  'vhost-limit.cleared',
  'user-limit.set',
  'user-limit.cleared',
  'policy.set',
  'policy.cleared',
  'definitions.imported',
] as const;

export type AuditEventName = (typeof AUDIT_EVENT_NAMES)[number];

/** What changed: the event name, the objects it concerns, and the new settings (never a password). */
export interface AuditChange {
  event: AuditEventName;
  vhost?: string;
  user?: string;
  exchange?: string;
  policy?: string;
  limit?: string;
  details?: Record<string, unknown>;
}

export interface AuditEvent extends AuditChange {
  /** Unique per event: a reader can drop the duplicate a crash during an outbox move may leave. */
  id: string;
  /** When the change was made, ISO-8601 UTC. */
  at: string;
  /** AuditActor.user */
  by: string;
  /** AuditActor.from */
  from: string;
}

/** Where events are kept; append resolves once the event is durable. */
export interface AuditSink {
  append(event: AuditEvent): Promise<void>;
}

export interface AuditLogger {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** The log message of every audit line; with `audit: true` and `event`, what log filters select on. */
export const AUDIT_LOG_MESSAGE = 'audit';

export class AuditTrail {
  constructor(
    private readonly sink: AuditSink,
    /** Absent when the events are logged later, by whoever moves them on (the outbox). */
    private readonly logger?: AuditLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records a change that has been made. With a logger it never throws: the change stands even when its
   * event cannot be stored (that is logged as an error, with the event). Without one, the failure is thrown.
   */
  async record(actor: AuditActor, change: AuditChange): Promise<AuditEvent> {
    const event: AuditEvent = {
      id: randomUUID(),
      at: new Date(this.now()).toISOString(),
      by: actor.user,
      from: actor.from,
      ...change,
    };
    await this.publish(event);
    return event;
  }

  /** Logs and stores an event (also one recorded earlier, moved from the outbox); false when not stored. */
  async publish(event: AuditEvent): Promise<boolean> {
    this.logger?.info({ audit: true, ...event }, AUDIT_LOG_MESSAGE);
    try {
      await this.sink.append(event);
      return true;
    } catch (err) {
      if (!this.logger) throw err;
      this.logger.error({ err, auditEvent: event }, 'audit event could not be stored');
      return false;
    }
  }
}
