import type { FieldTable } from '../codec/field-table.js';
import type { QueueStore } from '../store/queue-store.js';
import type { LogRecord } from '../store/record-format.js';
import type { Consumer } from './consumer.js';
import type { DeadLetterReason } from './dead-letter.js';
import { accessRefused } from './errors.js';
import { Message } from './message.js';
import type { OffsetRing } from './offset-ring.js';
import type { QueueSettings } from './queue-arguments.js';
import { ReadySet } from './ready-set.js';

export interface QueueDefinition {
  id: string;
  name: string;
  vhost: string;
  durable: boolean;
  autoDelete: boolean;
  arguments: FieldTable;
  /** Connection identity for exclusive queues; null otherwise. */
  exclusiveOwner: object | null;
}

export interface QueueHooks {
  /** The queue decided to remove itself (auto-delete, x-expires). */
  requestDelete(queue: Queue): void;
  /** A message leaves without being consumed and the queue has a dead-letter exchange: route its copy there. */
  deadLetter(queue: Queue, message: Message, reason: DeadLetterReason): void;
  /** A store I/O failure that the queue cannot recover from on its own. */
  onStoreError(queue: Queue, err: Error): void;
}

export interface QueueOptions {
  /** Bytes of message bodies kept in memory per queue; the rest is read back from the segment log. */
  cacheBytes: number;
  /** Read-ahead window when the backlog has to come from disk. */
  readAheadBytes: number;
}

export interface GetResult {
  offset: number;
  message: Message;
  redelivered: boolean;
  /** Ready messages left after this one, as basic.get-ok reports. */
  remaining: number;
}

/** A publish refused by a queue at its length limit with overflow reject-publish (the publisher gets a nack). */
export class QueueFullError extends Error {
  constructor(describe: string) {
    super(`${describe} is full (x-overflow reject-publish)`);
    this.name = 'QueueFullError';
  }
}

interface Unacked {
  expiresAt: number;
  size: number;
  priority: number;
}

/**
 * A queue: a segment log (the store) plus delivery state. Ready messages are positions in typed-array rings,
 * one per priority level (ascending offsets; a requeued message goes back to its original place, as RabbitMQ
 * does); bodies are held in a bounded cache and otherwise read back from disk ahead of delivery. Unacked
 * messages are tracked by offset. Every rule about when a message leaves (ack, TTL, length limits, delivery
 * limit, dead-lettering) lives here, for every protocol.
 */
export class Queue {
  readonly id: string;
  readonly name: string;
  readonly vhost: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
  readonly exclusiveOwner: object | null;

  private readonly ready: ReadySet;
  private readonly cache = new Map<number, Message>();
  private cacheBytes = 0;
  private readonly unacked = new Map<number, Unacked>();
  private readonly redelivered = new Set<number>();
  /** Failed deliveries (returns) per message, for x-delivery-limit and x-delivery-count. */
  private readonly deliveryCounts = new Map<number, number>();
  /** Kept sorted by priority, highest first (stable: equal priorities keep subscription order). */
  private readonly consumers: Consumer[] = [];
  private roundRobin = 0;
  private hadConsumers = false;
  private drainScheduled = false;
  /** The read-ahead in progress, shared by everyone waiting for the head to come from disk. */
  private readInFlight: Promise<void> | null = null;
  /** One past the last offset the read-ahead brought into the cache. */
  private readAheadEnd = 0;
  /** Messages on their way to the dead-letter exchange, in the order they died. */
  private readonly dying: Array<{ offset: number; reason: DeadLetterReason; message: Message | undefined }> =
    [];
  private dyingActive = false;
  private expiryTimer: NodeJS.Timeout | undefined;
  private expiryTimerAt = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private deleted = false;
  readyBytes = 0;

  constructor(
    definition: QueueDefinition,
    private settingsValue: QueueSettings,
    private readonly store: QueueStore,
    private readonly options: QueueOptions,
    private readonly hooks: QueueHooks,
  ) {
    this.id = definition.id;
    this.name = definition.name;
    this.vhost = definition.vhost;
    this.durable = definition.durable;
    this.autoDelete = definition.autoDelete;
    this.arguments = definition.arguments;
    this.exclusiveOwner = definition.exclusiveOwner;
    this.ready = new ReadySet(settingsValue.maxPriority);
  }

  get settings(): QueueSettings {
    return this.settingsValue;
  }

  get isDeleted(): boolean {
    return this.deleted;
  }

  get messageCount(): number {
    return this.ready.length;
  }

  get unackedCount(): number {
    return this.unacked.size;
  }

  get consumerCount(): number {
    return this.consumers.length;
  }

  get describe(): string {
    return `queue '${this.name}' in vhost '${this.vhost}'`;
  }

  /** New effective settings (a policy changed). Priorities are fixed at declare time, as in RabbitMQ. */
  applySettings(settings: QueueSettings): void {
    this.settingsValue = { ...settings, maxPriority: this.settingsValue.maxPriority };
    this.enforceLengthLimit();
    this.armExpiryTimer();
    this.armIdleTimer();
  }

  /** Rebuilds ready state from the store after a restart. */
  async recover(): Promise<void> {
    await this.store.recover((offset, size, expiresAt, priority) => {
      this.ready.push(offset, expiresAt, size, priority);
      this.readyBytes += size;
    });
    this.armExpiryTimer();
    this.armIdleTimer();
  }

  /**
   * Appends a routed message. `onStored` fires once the message is as safe as it will get: after fdatasync for a
   * persistent message in a durable queue, at once otherwise (possibly synchronously).
   */
  enqueue(message: Message, onStored?: (err: Error | null) => void): void {
    const size = message.body.length;
    const overflow = this.settings.overflow;
    if (overflow !== 'drop-head' && this.wouldOverflow(size)) {
      if (overflow === 'reject-publish-dlx') this.deadLetterNow(message, 'maxlen');
      onStored?.(new QueueFullError(this.describe));
      return;
    }
    // Fast path: nothing waiting and a no-ack consumer has room. The message leaves the broker at once, so it
    // is never written: nothing could ever read it back (RabbitMQ confirms such messages without persisting too).
    let consumer: Consumer | undefined;
    if (this.ready.length === 0 && this.consumers.length > 0) {
      consumer = this.nextConsumerWithCredit();
      if (consumer?.noAck) {
        onStored?.(null);
        consumer.deliver(this, -1, message, false);
        return;
      }
    }
    const now = Date.now();
    const expiresAt = this.expiryFor(message, now);
    const persistent = message.persistent && this.durable;
    const priority = this.ready.levelOf(message.priority);
    const offset = this.store.append({
      timestamp: message.timestamp,
      persistent,
      expiresAt,
      priority,
      exchange: message.exchange,
      routingKey: message.routingKey,
      properties: message.properties,
      body: message.body,
    });
    if (onStored) {
      if (persistent) this.store.whenDurable(offset, onStored);
      else onStored(null);
    }
    // A consumer that acks has room: hand it over without touching the rings (the log keeps it until the ack).
    if (consumer) {
      this.deliverTo(consumer, offset, message, expiresAt, size, priority);
      return;
    }
    if (expiresAt !== 0 && expiresAt <= now) {
      // TTL 0 (or already past): only an immediate delivery could have saved it.
      this.pendingDeath(offset, 'expired', message);
      return;
    }
    this.ready.push(offset, expiresAt, size, priority);
    this.readyBytes += size;
    if (this.cacheBytes + message.byteSize <= this.options.cacheBytes) {
      this.cache.set(offset, message);
      this.cacheBytes += message.byteSize;
    }
    this.enforceLengthLimit();
    if (expiresAt !== 0) this.armExpiryTimer();
    if (this.consumers.length > 0) this.scheduleDrain();
  }

  addConsumer(consumer: Consumer): void {
    if (this.consumers.length > 0 && (consumer.exclusive || this.consumers.some((c) => c.exclusive))) {
      throw accessRefused(`${this.describe} in exclusive use`);
    }
    let at = this.consumers.length;
    while (at > 0 && this.consumers[at - 1].priority < consumer.priority) at--;
    this.consumers.splice(at, 0, consumer);
    this.hadConsumers = true;
    this.clearIdleTimer();
    this.scheduleDrain();
  }

  /** Removes a consumer; its unacked messages stay unacked until the channel settles or requeues them. */
  removeConsumer(consumer: Consumer): void {
    const i = this.consumers.indexOf(consumer);
    if (i < 0) return;
    this.consumers.splice(i, 1);
    if (this.roundRobin > i) this.roundRobin--;
    if (this.consumers.length === 0) {
      if (this.autoDelete && this.hadConsumers) this.hooks.requestDelete(this);
      else this.armIdleTimer();
    } else if (this.settings.singleActiveConsumer && i === 0) {
      // Failover: the next consumer in line becomes the active one.
      this.scheduleDrain();
    }
  }

  /** The consumer receiving messages of a single-active-consumer queue. */
  get activeConsumer(): Consumer | undefined {
    return this.settings.singleActiveConsumer ? this.consumers[0] : undefined;
  }

  /** Called by an adapter when a consumer regains credit (ack, qos change, flow on, socket drained). */
  resumeDelivery(): void {
    if (this.ready.length > 0 && this.consumers.length > 0) this.scheduleDrain();
  }

  /** basic.get: the head message, if any. A Promise only when the head must come from disk. */
  get(noAck: boolean): GetResult | null | Promise<GetResult | null> {
    this.touchIdle();
    this.expireHeads(Date.now());
    if (this.ready.length === 0) return null;
    const offset = this.ready.peekOffset();
    const cached = this.cache.get(offset);
    if (cached) return this.takeHead(cached, noAck);
    return this.loadHead().then(() => (this.deleted ? null : this.get(noAck)));
  }

  /** The message at `offset` was processed; it leaves the queue for good. */
  ack(offset: number): boolean {
    if (!this.unacked.delete(offset)) return false;
    this.forget(offset);
    this.store.settle(offset);
    return true;
  }

  /**
   * Puts unacked messages back at their original positions, flagged redelivered. Past x-delivery-limit a
   * message is dead-lettered (reason delivery_limit) or dropped instead.
   */
  requeue(offsets: Iterable<number>): void {
    let any = false;
    const limit = this.settings.deliveryLimit;
    for (const offset of offsets) {
      const entry = this.unacked.get(offset);
      if (!entry) continue;
      this.unacked.delete(offset);
      const failures = (this.deliveryCounts.get(offset) ?? 0) + 1;
      if (limit >= 0 && failures > limit) {
        this.forget(offset);
        this.pendingDeath(offset, 'delivery_limit', undefined);
        continue;
      }
      this.deliveryCounts.set(offset, failures);
      this.redelivered.add(offset);
      this.ready.insertSorted(offset, entry.expiresAt, entry.size, entry.priority);
      this.readyBytes += entry.size;
      any = true;
    }
    if (any) {
      this.armExpiryTimer();
      this.scheduleDrain();
    }
  }

  /** Rejected without requeue: dead-lettered (reason rejected) or gone. */
  reject(offset: number): void {
    if (!this.unacked.delete(offset)) return;
    this.forget(offset);
    this.pendingDeath(offset, 'rejected', undefined);
  }

  /** Removes every ready message; unacked ones are untouched, as in RabbitMQ. Returns how many went. */
  purge(): number {
    const count = this.ready.length;
    this.ready.forEachOffset((offset) => {
      this.forget(offset);
      this.store.settle(offset);
    });
    this.ready.clear();
    this.readyBytes = 0;
    this.cache.clear();
    this.cacheBytes = 0;
    this.armExpiryTimer();
    return count;
  }

  /**
   * Tears the queue down and removes its log. Returns the ready count it had and the consumers it had, to be
   * told once the deleting client has its reply (RabbitMQ sends queue.delete-ok before basic.cancel).
   */
  async delete(): Promise<{ count: number; consumers: Consumer[] }> {
    if (this.deleted) return { count: 0, consumers: [] };
    this.deleted = true;
    const count = this.ready.length;
    clearTimeout(this.expiryTimer);
    this.clearIdleTimer();
    const consumers = this.consumers.splice(0);
    this.cache.clear();
    this.unacked.clear();
    this.dying.length = 0;
    await this.store.destroy();
    return { count, consumers };
  }

  /** Flushes and closes the store at shutdown, keeping the data. */
  async close(): Promise<void> {
    clearTimeout(this.expiryTimer);
    this.clearIdleTimer();
    await this.store.close();
  }

  /** Resets the x-expires countdown (declare, get, consume count as use). */
  touchIdle(): void {
    if (this.settings.expires > 0 && this.consumers.length === 0) this.armIdleTimer();
  }

  /** Failed deliveries so far of an unacked or ready message (0 for a first delivery). */
  deliveryCount(offset: number): number {
    return this.deliveryCounts.get(offset) ?? 0;
  }

  // ---- delivery --------------------------------------------------------------------------------------------

  private expiryFor(message: Message, now: number): number {
    let ttl = this.settings.messageTtl;
    if (message.ttl >= 0 && (ttl < 0 || message.ttl < ttl)) ttl = message.ttl;
    return ttl < 0 ? 0 : now + ttl;
  }

  private takeHead(message: Message, noAck: boolean): GetResult {
    const offset = this.ready.peekOffset();
    const expiresAt = this.ready.peekExpiry();
    const size = this.ready.peekSize();
    const priority = this.ready.headLevel();
    this.removeHead(offset, message);
    const redelivered = this.redelivered.has(offset);
    if (noAck) this.settleDelivered(offset);
    else this.unacked.set(offset, { expiresAt, size, priority });
    this.armExpiryTimer();
    return {
      offset,
      message: this.withDeliveryCount(offset, message),
      redelivered,
      remaining: this.ready.length,
    };
  }

  private removeHead(offset: number, message: Message | undefined): void {
    this.readyBytes -= this.ready.peekSize();
    this.ready.shift();
    this.uncache(offset, message);
  }

  private uncache(offset: number, message: Message | undefined): void {
    if (message && this.cache.delete(offset)) this.cacheBytes -= message.byteSize;
  }

  private forget(offset: number): void {
    this.redelivered.delete(offset);
    this.deliveryCounts.delete(offset);
  }

  private settleDelivered(offset: number): void {
    this.forget(offset);
    this.store.settle(offset);
  }

  private deliverTo(
    consumer: Consumer,
    offset: number,
    message: Message,
    expiresAt: number,
    size: number,
    priority: number,
  ): void {
    const redelivered = this.redelivered.has(offset);
    const delivered = this.withDeliveryCount(offset, message);
    if (consumer.noAck) this.settleDelivered(offset);
    else this.unacked.set(offset, { expiresAt, size, priority });
    consumer.deliver(this, offset, delivered, redelivered);
  }

  /** Redeliveries carry x-delivery-count where delivery counting is on (x-delivery-limit, as quorum queues do). */
  private withDeliveryCount(offset: number, message: Message): Message {
    const count = this.deliveryCounts.get(offset);
    if (count === undefined || !this.settings.countDeliveries) return message;
    return message.withHeader('x-delivery-count', count);
  }

  private nextConsumerWithCredit(): Consumer | undefined {
    const n = this.consumers.length;
    if (n === 0) return undefined;
    if (this.settings.singleActiveConsumer) {
      const active = this.consumers[0];
      return active.hasCredit() ? active : undefined;
    }
    // Highest priority group with credit first; round robin within a group.
    let start = 0;
    while (start < n) {
      const priority = this.consumers[start].priority;
      let end = start + 1;
      while (end < n && this.consumers[end].priority === priority) end++;
      const size = end - start;
      const from = this.roundRobin >= start && this.roundRobin < end ? this.roundRobin - start : 0;
      for (let k = 0; k < size; k++) {
        const i = start + ((from + k) % size);
        const c = this.consumers[i];
        if (c.hasCredit()) {
          this.roundRobin = start + ((i - start + 1) % size);
          return c;
        }
      }
      start = end;
    }
    return undefined;
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || this.deleted) return;
    this.drainScheduled = true;
    queueMicrotask(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    if (this.deleted) return;
    const now = Date.now();
    while (this.ready.length > 0 && this.consumers.length > 0) {
      const expiresAt = this.ready.peekExpiry();
      const offset = this.ready.peekOffset();
      if (expiresAt !== 0 && expiresAt <= now) {
        const cached = this.cache.get(offset);
        this.removeHead(offset, cached);
        this.pendingDeath(offset, 'expired', cached);
        continue;
      }
      const message = this.cache.get(offset);
      if (!message) {
        if (!this.readInFlight) void this.loadHead().then(() => this.scheduleDrain());
        return;
      }
      const consumer = this.nextConsumerWithCredit();
      if (!consumer) break;
      const size = this.ready.peekSize();
      const priority = this.ready.headLevel();
      this.removeHead(offset, message);
      this.deliverTo(consumer, offset, message, expiresAt, size, priority);
    }
    this.armExpiryTimer();
    if (this.ready.length > 0) this.prefetchBacklog();
  }

  private loadHead(): Promise<void> {
    this.readInFlight ??= this.readAhead(undefined).finally(() => {
      this.readInFlight = null;
    });
    return this.readInFlight;
  }

  /**
   * Keeps the next window of the on-disk backlog coming while consumers work through the cached one, so a
   * drain does not stop at every window boundary to wait for the disk.
   */
  private prefetchBacklog(): void {
    if (this.readInFlight || this.cacheBytes >= this.options.readAheadBytes / 2) return;
    const ring = this.ready.headRing();
    if (!ring || ring.length === 0 || !this.cache.has(ring.peekOffset())) return;
    // Cached messages form a prefix of the ring: the first uncached one is past the last cached offset.
    let lo = 0;
    let hi = ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ring.offsetAt(mid) < this.readAheadEnd) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= ring.length) return;
    const from = ring.offsetAt(lo);
    if (this.cache.has(from)) return;
    this.readInFlight = this.readAhead(from).finally(() => {
      this.readInFlight = null;
      this.scheduleDrain();
    });
  }

  /** Reads the backlog from `from` (default: the head) into the cache, matching records to ring positions. */
  private async readAhead(from: number | undefined): Promise<void> {
    const ring = this.ready.headRing();
    if (!ring) return;
    try {
      const head = from ?? ring.peekOffset();
      let records: LogRecord[] = await this.store.readRange(head, this.options.readAheadBytes, 4096);
      if (records.length === 0 || records[0].offset !== head) {
        const one = await this.store.read(head);
        records = one ? [one] : [];
      }
      if (this.deleted) return;
      this.cacheRecords(ring, records);
      if (records.length > 0)
        this.readAheadEnd = Math.max(this.readAheadEnd, records[records.length - 1].offset + 1);
      if (
        from === undefined &&
        ring.length > 0 &&
        ring.peekOffset() === head &&
        !this.cache.has(head) &&
        this.ready.headRing() === ring
      ) {
        // The log no longer has it (a corrupt segment skipped at recovery): drop it rather than stall.
        this.removeHead(head, undefined);
        this.forget(head);
        this.store.settle(head);
      }
    } catch (err) {
      this.hooks.onStoreError(this, err as Error);
    }
  }

  private cacheRecords(ring: OffsetRing, records: LogRecord[]): void {
    let k = 0;
    for (const rec of records) {
      while (k < ring.length && ring.offsetAt(k) < rec.offset) k++;
      if (k >= ring.length) break;
      if (ring.offsetAt(k) !== rec.offset || this.cache.has(rec.offset)) continue;
      const message = messageFromRecord(rec);
      this.cache.set(rec.offset, message);
      this.cacheBytes += message.byteSize;
    }
  }

  // ---- leaving without being consumed ----------------------------------------------------------------------

  private wouldOverflow(size: number): boolean {
    const { maxLength, maxLengthBytes } = this.settings;
    return (
      (maxLength >= 0 && this.ready.length >= maxLength) ||
      (maxLengthBytes >= 0 && this.readyBytes + size > maxLengthBytes)
    );
  }

  /** x-overflow drop-head: the head makes room (dead-lettered as maxlen). Only ready messages count. */
  private enforceLengthLimit(): void {
    const { maxLength, maxLengthBytes } = this.settings;
    if (maxLength < 0 && maxLengthBytes < 0) return;
    let dropped = false;
    while (
      this.ready.length > 0 &&
      ((maxLength >= 0 && this.ready.length > maxLength) ||
        (maxLengthBytes >= 0 && this.readyBytes > maxLengthBytes))
    ) {
      const offset = this.ready.peekOffset();
      const cached = this.cache.get(offset);
      this.removeHead(offset, cached);
      this.forget(offset);
      this.pendingDeath(offset, 'maxlen', cached);
      dropped = true;
    }
    if (dropped) this.armExpiryTimer();
  }

  /** Expired messages leave from the level heads only, as in RabbitMQ; one timer per queue, never per message. */
  private expireHeads(now: number): void {
    this.ready.takeExpiredHeads(now, (offset, size) => {
      this.readyBytes -= size;
      const cached = this.cache.get(offset);
      this.uncache(offset, cached);
      this.forget(offset);
      this.pendingDeath(offset, 'expired', cached);
    });
  }

  /**
   * The message at `offset` is leaving unconsumed. Without a dead-letter exchange it is simply settled; with
   * one, its copy is routed there first, in the order messages died (reading bodies back from disk if needed).
   */
  private pendingDeath(offset: number, reason: DeadLetterReason, message: Message | undefined): void {
    if (this.settings.deadLetterExchange === undefined) {
      this.store.settle(offset);
      return;
    }
    this.dying.push({ offset, reason, message });
    if (!this.dyingActive) void this.deadLetterDying();
  }

  private async deadLetterDying(): Promise<void> {
    this.dyingActive = true;
    try {
      while (this.dying.length > 0 && !this.deleted) {
        const next = this.dying.shift()!;
        let message = next.message;
        if (!message) {
          const rec = await this.store.read(next.offset);
          if (this.deleted) return;
          message = rec ? messageFromRecord(rec) : undefined;
        }
        if (message) this.hooks.deadLetter(this, message, next.reason);
        this.store.settle(next.offset);
      }
    } catch (err) {
      this.hooks.onStoreError(this, err as Error);
    } finally {
      this.dyingActive = false;
    }
  }

  /** A message that never entered the log (reject-publish-dlx) goes straight to the dead-letter exchange. */
  private deadLetterNow(message: Message, reason: DeadLetterReason): void {
    if (this.settings.deadLetterExchange !== undefined) this.hooks.deadLetter(this, message, reason);
  }

  private armExpiryTimer(): void {
    if (this.deleted) return;
    const at = this.ready.earliestHeadExpiry();
    if (at === 0) {
      if (this.expiryTimer) {
        clearTimeout(this.expiryTimer);
        this.expiryTimer = undefined;
        this.expiryTimerAt = 0;
      }
      return;
    }
    if (this.expiryTimer && this.expiryTimerAt <= at) return;
    clearTimeout(this.expiryTimer);
    this.expiryTimerAt = at;
    this.expiryTimer = setTimeout(
      () => {
        this.expiryTimer = undefined;
        this.expiryTimerAt = 0;
        this.expireHeads(Date.now());
        this.armExpiryTimer();
      },
      Math.min(Math.max(0, at - Date.now()), 0x7fffffff),
    );
    this.expiryTimer.unref();
  }

  private armIdleTimer(): void {
    if (this.settings.expires <= 0 || this.deleted || this.consumers.length > 0) return;
    this.clearIdleTimer();
    this.idleTimer = setTimeout(() => {
      if (this.consumers.length === 0) this.hooks.requestDelete(this);
    }, this.settings.expires);
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

/** A message read back from a log record; `ttl` is the per-message TTL to count from now (-1: none). */
export function messageFromRecord(rec: LogRecord, ttl = -1): Message {
  return new Message(
    rec.exchange,
    rec.routingKey,
    rec.properties,
    rec.body,
    rec.persistent,
    rec.priority,
    ttl,
    rec.timestamp,
  );
}
