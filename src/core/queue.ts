import type { FieldTable } from '../codec/field-table.js';
import type { QueueStore } from '../store/queue-store.js';
import type { LogRecord } from '../store/record-format.js';
import type { Consumer } from './consumer.js';
import { accessRefused } from './errors.js';
import { Message } from './message.js';
import { OffsetRing } from './offset-ring.js';
import type { QueueSettings } from './queue-arguments.js';

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
  consumer: Consumer | null;
}

/**
 * A queue: a segment log (the store) plus delivery state. Ready messages are positions in a typed-array ring
 * (ascending offsets; a requeued message goes back to its original place, as RabbitMQ does); bodies are held in
 * a bounded cache and otherwise read back from disk ahead of delivery. Unacked messages are tracked by offset.
 */
export class Queue {
  readonly id: string;
  readonly name: string;
  readonly vhost: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
  readonly exclusiveOwner: object | null;

  private readonly ready = new OffsetRing();
  private readonly cache = new Map<number, Message>();
  private cacheBytes = 0;
  private readonly unacked = new Map<number, Unacked>();
  private readonly redelivered = new Set<number>();
  private readonly consumers: Consumer[] = [];
  private roundRobin = 0;
  private hadConsumers = false;
  private drainScheduled = false;
  /** The read-ahead in progress, shared by everyone waiting for the head to come from disk. */
  private readInFlight: Promise<void> | null = null;
  private expiryTimer: NodeJS.Timeout | undefined;
  private expiryTimerAt = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private deleted = false;
  readyBytes = 0;

  constructor(
    definition: QueueDefinition,
    readonly settings: QueueSettings,
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

  /** Rebuilds ready state from the store after a restart. */
  async recover(): Promise<void> {
    await this.store.recover((offset, size, expiresAt) => {
      this.ready.push(offset, expiresAt, size);
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
    if (this.settings.overflow !== 'drop-head' && this.wouldOverflow(size)) {
      onStored?.(new QueueFullError(this.describe));
      return;
    }
    const now = Date.now();
    const expiresAt = this.expiryFor(message, now);
    const persistent = message.persistent && this.durable;
    const offset = this.store.append({
      timestamp: message.timestamp,
      persistent,
      expiresAt,
      priority: message.priority,
      exchange: message.exchange,
      routingKey: message.routingKey,
      properties: message.properties,
      body: message.body,
    });
    if (onStored) {
      if (persistent) this.store.whenDurable(offset, onStored);
      else onStored(null);
    }
    // Fast path: nothing waiting and a consumer has room, so hand it over without touching the ring.
    if (this.ready.length === 0 && this.consumers.length > 0) {
      const consumer = this.nextConsumerWithCredit();
      if (consumer) {
        this.deliverTo(consumer, offset, message, expiresAt, size, false);
        return;
      }
    }
    if (expiresAt !== 0 && expiresAt <= now) {
      // TTL 0 (or already past): only an immediate delivery could have saved it.
      this.discard(offset, size);
      return;
    }
    this.ready.push(offset, expiresAt, size);
    this.readyBytes += size;
    if (this.cacheBytes + message.byteSize <= this.options.cacheBytes) {
      this.cache.set(offset, message);
      this.cacheBytes += message.byteSize;
    }
    this.dropHeadOverLimit();
    if (this.ready.length === 1) this.armExpiryTimer();
    if (this.consumers.length > 0) this.scheduleDrain();
  }

  private wouldOverflow(size: number): boolean {
    const { maxLength, maxLengthBytes } = this.settings;
    return (
      (maxLength >= 0 && this.ready.length >= maxLength) ||
      (maxLengthBytes >= 0 && this.readyBytes + size > maxLengthBytes)
    );
  }

  /** x-overflow drop-head: the oldest ready messages make room. Only ready messages count, as in RabbitMQ. */
  private dropHeadOverLimit(): void {
    const { maxLength, maxLengthBytes } = this.settings;
    if (maxLength < 0 && maxLengthBytes < 0) return;
    let dropped = false;
    while (
      this.ready.length > 0 &&
      ((maxLength >= 0 && this.ready.length > maxLength) ||
        (maxLengthBytes >= 0 && this.readyBytes > maxLengthBytes))
    ) {
      const offset = this.ready.peekOffset();
      const size = this.ready.peekSize();
      this.removeHead(offset, this.cache.get(offset));
      this.discard(offset, size);
      dropped = true;
    }
    if (dropped) this.armExpiryTimer();
  }

  addConsumer(consumer: Consumer): void {
    if (this.consumers.length > 0 && (consumer.exclusive || this.consumers[0].exclusive)) {
      throw accessRefused(`${this.describe} in exclusive use`);
    }
    this.consumers.push(consumer);
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
    }
  }

  hasExclusiveConsumer(): boolean {
    return this.consumers.length > 0 && this.consumers[0].exclusive;
  }

  /** Called by an adapter when a consumer regains credit (ack, qos change, flow on, socket drained). */
  resumeDelivery(): void {
    if (this.ready.length > 0 && this.consumers.length > 0) this.scheduleDrain();
  }

  /** basic.get: the head message, if any. A Promise only when the head must come from disk. */
  get(noAck: boolean, owner: Consumer | null): GetResult | null | Promise<GetResult | null> {
    this.touchIdle();
    this.expireHead(Date.now());
    if (this.ready.length === 0) return null;
    const offset = this.ready.peekOffset();
    const cached = this.cache.get(offset);
    if (cached) return this.takeHead(cached, noAck, owner);
    return this.loadHead().then(() => (this.deleted ? null : this.get(noAck, owner)));
  }

  /** The message at `offset` was processed; it leaves the queue for good. */
  ack(offset: number): boolean {
    const entry = this.unacked.get(offset);
    if (!entry) return false;
    this.unacked.delete(offset);
    this.redelivered.delete(offset);
    this.store.settle(offset);
    return true;
  }

  /** Puts unacked messages back at their original positions, flagged redelivered. */
  requeue(offsets: Iterable<number>): void {
    let any = false;
    for (const offset of offsets) {
      const entry = this.unacked.get(offset);
      if (!entry) continue;
      this.unacked.delete(offset);
      this.redelivered.add(offset);
      this.ready.insertSorted(offset, entry.expiresAt, entry.size);
      this.readyBytes += entry.size;
      any = true;
    }
    if (any) {
      this.armExpiryTimer();
      this.scheduleDrain();
    }
  }

  /** Rejected without requeue: gone (dead-lettering hooks in here). */
  reject(offset: number): void {
    const entry = this.unacked.get(offset);
    if (!entry) return;
    this.unacked.delete(offset);
    this.discard(offset, entry.size);
  }

  /** Removes every ready message; unacked ones are untouched, as in RabbitMQ. Returns how many went. */
  purge(): number {
    const count = this.ready.length;
    for (let i = 0; i < count; i++) {
      const offset = this.ready.offsetAt(i);
      this.redelivered.delete(offset);
      this.store.settle(offset);
    }
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

  private expiryFor(message: Message, now: number): number {
    let ttl = this.settings.messageTtl;
    if (message.ttl >= 0 && (ttl < 0 || message.ttl < ttl)) ttl = message.ttl;
    return ttl < 0 ? 0 : now + ttl;
  }

  private takeHead(message: Message, noAck: boolean, owner: Consumer | null): GetResult {
    const offset = this.ready.peekOffset();
    const expiresAt = this.ready.peekExpiry();
    const size = this.ready.peekSize();
    this.removeHead(offset, message);
    const redelivered = this.redelivered.has(offset);
    if (noAck) this.settleDelivered(offset);
    else this.unacked.set(offset, { expiresAt, size, consumer: owner });
    this.armExpiryTimer();
    return { offset, message, redelivered, remaining: this.ready.length };
  }

  private removeHead(offset: number, message: Message | undefined): void {
    this.readyBytes -= this.ready.peekSize();
    this.ready.shift();
    if (message && this.cache.delete(offset)) this.cacheBytes -= message.byteSize;
  }

  private settleDelivered(offset: number): void {
    this.redelivered.delete(offset);
    this.store.settle(offset);
  }

  private deliverTo(
    consumer: Consumer,
    offset: number,
    message: Message,
    expiresAt: number,
    size: number,
    redelivered: boolean,
  ): void {
    if (consumer.noAck) this.settleDelivered(offset);
    else this.unacked.set(offset, { expiresAt, size, consumer });
    consumer.deliver(this, offset, message, redelivered);
  }

  private discard(offset: number, _size: number): void {
    this.redelivered.delete(offset);
    this.store.settle(offset);
  }

  private nextConsumerWithCredit(): Consumer | undefined {
    const n = this.consumers.length;
    for (let k = 0; k < n; k++) {
      const i = (this.roundRobin + k) % n;
      const c = this.consumers[i];
      if (c.hasCredit()) {
        this.roundRobin = (i + 1) % n;
        return c;
      }
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
        this.removeHead(offset, this.cache.get(offset));
        this.discard(offset, 0);
        continue;
      }
      const message = this.cache.get(offset);
      if (!message) {
        if (!this.readInFlight) void this.loadHead().then(() => this.scheduleDrain());
        return;
      }
      const consumer = this.nextConsumerWithCredit();
      if (!consumer) return;
      const size = this.ready.peekSize();
      this.removeHead(offset, message);
      this.deliverTo(consumer, offset, message, expiresAt, size, this.redelivered.has(offset));
    }
    this.armExpiryTimer();
  }

  /** Reads the backlog ahead of the head into the cache, matching records to ring positions (both ascending). */
  private loadHead(): Promise<void> {
    this.readInFlight ??= this.readAhead().finally(() => {
      this.readInFlight = null;
    });
    return this.readInFlight;
  }

  private async readAhead(): Promise<void> {
    if (this.ready.length === 0) return;
    try {
      const head = this.ready.peekOffset();
      let records: LogRecord[] = await this.store.readRange(head, this.options.readAheadBytes, 4096);
      if (records.length === 0 || records[0].offset !== head) {
        const one = await this.store.read(head);
        records = one ? [one] : [];
      }
      if (this.deleted) return;
      let k = 0;
      for (const rec of records) {
        while (k < this.ready.length && this.ready.offsetAt(k) < rec.offset) k++;
        if (k >= this.ready.length) break;
        if (this.ready.offsetAt(k) !== rec.offset || this.cache.has(rec.offset)) continue;
        const message = new Message(
          rec.exchange,
          rec.routingKey,
          rec.properties,
          rec.body,
          rec.persistent,
          rec.priority,
          -1,
          rec.timestamp,
        );
        this.cache.set(rec.offset, message);
        this.cacheBytes += message.byteSize;
      }
      if (this.ready.length > 0 && this.ready.peekOffset() === head && !this.cache.has(head)) {
        // The log no longer has it (a corrupt segment skipped at recovery): drop it rather than stall.
        this.removeHead(head, undefined);
        this.store.settle(head);
      }
    } catch (err) {
      this.hooks.onStoreError(this, err as Error);
    }
  }

  /** Expired messages are only removed from the head, as RabbitMQ does; one timer per queue, never per message. */
  private expireHead(now: number): void {
    while (this.ready.length > 0) {
      const expiresAt = this.ready.peekExpiry();
      if (expiresAt === 0 || expiresAt > now) break;
      const offset = this.ready.peekOffset();
      this.removeHead(offset, this.cache.get(offset));
      this.discard(offset, 0);
    }
  }

  private armExpiryTimer(): void {
    if (this.deleted) return;
    const at = this.ready.length > 0 ? this.ready.peekExpiry() : 0;
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
        this.expireHead(Date.now());
        this.armExpiryTimer();
      },
      Math.max(0, at - Date.now()),
    );
    this.expiryTimer.unref();
  }

  private armIdleTimer(): void {
    if (this.settings.expires <= 0 || this.deleted) return;
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
