import type { FieldTable } from '../codec/field-table.js';
import type { ConsumeOptions, Consumer } from './consumer.js';
import { ConsumerDispatch } from './consumer-dispatch.js';
import type { DeadLetterReason } from './dead-letter.js';
import { DeadLetterOutbox } from './dead-letter-outbox.js';
import { DeadlineTimer } from './deadline-timer.js';
import { DelayedEntries } from './delayed-entries.js';
import { preconditionFailed } from './errors.js';
import type { Message } from './message.js';
import type { MessageLog, MessageLogOptions } from './message-log.js';
import type { QueueSettings } from './queue-arguments.js';
import { ReadySet } from './ready-set.js';
import { UnackedEntries, type UnackedEntry } from './unacked-entries.js';

export interface QueueDefinition {
  id: string;
  name: string;
  vhost: string;
  durable: boolean;
  autoDelete: boolean;
  arguments: FieldTable;
  /** Connection identity for exclusive queues; null otherwise. */
  exclusiveOwner: object | null;
  metadata?: QueueMetadata;
}

export interface QueueHooks {
  /** The queue decided to remove itself (auto-delete, x-expires). */
  requestDelete(queue: ClassicQueue): void;
  /** A message leaves without being consumed and the queue has a dead-letter exchange: route its copy there. */
  deadLetter(queue: ClassicQueue, message: Message, reason: DeadLetterReason): void;
  /** A store I/O failure that the queue cannot recover from on its own. */
  onStoreError(queue: ClassicQueue, err: Error): void;
}

export type QueueOptions = MessageLogOptions;

export interface GetResult {
  offset: number;
  message: Message;
  redelivered: boolean;
  /** Ready messages left after this one, as basic.get-ok reports. */
  remaining: number;
  /** Failed deliveries before this one (0 on a first delivery). */
  deliveryCount: number;
  /** Epoch ms when the message expires (0: never). */
  expiresAt: number;
}

/** A message still in the queue, seen in place: ready, or held by an owner (delivered, not yet settled). */
export interface QueuedMessage {
  offset: number;
  /** Epoch ms when it expires; 0: never. */
  expiresAt: number;
  held: boolean;
  /** The holder of a held message (null: held without an owner). */
  owner: object | null;
  /** Epoch ms before which a delayed message is not delivered; 0 when it is not delayed (any more). */
  delayedUntil: number;
}

/** A queue's user-defined attributes (the HTTP queue API's metadata document), kept with its definition. */
export type QueueMetadata = Record<string, unknown>;

/** A publish refused by a queue at its length limit with overflow reject-publish (the publisher gets a nack). */
export class QueueFullError extends Error {
  constructor(describe: string) {
    super(`${describe} is full (x-overflow reject-publish)`);
    this.name = 'QueueFullError';
  }
}

/**
 * The classic queue delivery model over a MessageLog. Ready messages are positions in typed-array rings, one
 * per priority level (ascending offsets; a requeued message goes back to its original place, as RabbitMQ
 * does); bodies come from the log's bounded cache or are read back ahead of delivery. Delivered messages are
 * unacked entries with an owner (released together when the owner ends) and an optional lease deadline (they
 * come back by themselves when it passes). Every rule about when a message leaves (ack, TTL, length limits,
 * delivery limit, dead-lettering) lives here, for every protocol.
 */
export class ClassicQueue {
  readonly kind = 'queue' as const;
  readonly id: string;
  readonly name: string;
  readonly vhost: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
  readonly exclusiveOwner: object | null;
  /** Replaced as a whole (VHost.setQueueMetadata persists it); never mutated in place. */
  metadata: QueueMetadata;

  private readonly ready: ReadySet;
  private readonly unacked = new UnackedEntries();
  /** Stored but not deliverable before their time (HTTP delayed messages). */
  private readonly delayed = new DelayedEntries();
  private readonly delayTimer = new DeadlineTimer(() => {
    this.releaseDue(Date.now());
    this.armDelayTimer();
  });
  private readonly redelivered = new Set<number>();
  /** Failed deliveries (returns) per message, for x-delivery-limit and x-delivery-count. */
  private readonly deliveryCounts = new Map<number, number>();
  private readonly consumers = new ConsumerDispatch(() => this.describe);
  private hadConsumers = false;
  private drainScheduled = false;
  /** The read-ahead in progress, shared by everyone waiting for the head to come from disk. */
  private readInFlight: Promise<void> | null = null;
  /** Messages on their way to the dead-letter exchange, in the order they died. */
  private readonly outbox: DeadLetterOutbox;
  private readonly expiryTimer = new DeadlineTimer((now) => {
    this.expireHeads(now);
    this.armExpiryTimer();
  });
  private readonly leaseTimer = new DeadlineTimer((now) => {
    this.unacked.takeExpiredLeases(now, (offset, entry) => this.returnEntry(offset, entry));
    this.armLeaseTimer();
  });
  private idleTimer: NodeJS.Timeout | undefined;
  private deleted = false;
  readyBytes = 0;

  constructor(
    definition: QueueDefinition,
    private settingsValue: QueueSettings,
    private readonly log: MessageLog,
    private readonly hooks: QueueHooks,
  ) {
    this.id = definition.id;
    this.name = definition.name;
    this.vhost = definition.vhost;
    this.durable = definition.durable;
    this.autoDelete = definition.autoDelete;
    this.arguments = definition.arguments;
    this.exclusiveOwner = definition.exclusiveOwner;
    this.metadata = definition.metadata ?? {};
    this.ready = new ReadySet(settingsValue.maxPriority);
    this.outbox = new DeadLetterOutbox({
      hasDeadLetterExchange: () => this.settings.deadLetterExchange !== undefined,
      read: (offset) => log.read(offset),
      settle: (offset) => log.settle(offset),
      deadLetter: (message, reason) => hooks.deadLetter(this, message, reason),
      onError: (err) => hooks.onStoreError(this, err),
    });
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

  /** Messages stored but not deliverable yet (not in messageCount). */
  get delayedCount(): number {
    return this.delayed.size;
  }

  get consumerCount(): number {
    return this.consumers.count;
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
    await this.log.recover(
      (batch) => {
        this.readyBytes += this.ready.pushBatch(batch);
      },
      (atMost) => this.ready.reserve(atMost),
    );
    this.armExpiryTimer();
    this.armIdleTimer();
  }

  /**
   * Appends a routed message. `onStored` fires once the message is as safe as it will get: after fdatasync for a
   * persistent message in a durable queue, at once otherwise (possibly synchronously).
   */
  enqueue(message: Message, onStored?: (err: Error | null) => void): void {
    this.enqueueAt(message, onStored, true);
  }

  /**
   * Appends a message that must have an offset (the HTTP API names it by one), so it never takes the no-ack
   * fast path. Returns the offset, or -1 when the queue refused it (onStored gets the QueueFullError).
   */
  append(message: Message, onStored?: (err: Error | null) => void, notBefore = 0): number {
    return this.enqueueAt(message, onStored, false, notBefore);
  }

  private enqueueAt(
    message: Message,
    onStored: ((err: Error | null) => void) | undefined,
    fastPath: boolean,
    notBefore = 0,
  ): number {
    const size = message.body.length;
    const overflow = this.settings.overflow;
    if (overflow !== 'drop-head' && this.wouldOverflow(size)) {
      if (overflow === 'reject-publish-dlx') this.outbox.routeNow(message, 'maxlen');
      onStored?.(new QueueFullError(this.describe));
      return -1;
    }
    // Fast path: nothing waiting and a no-ack consumer has room. The message leaves the broker at once, so it
    // is never written: nothing could ever read it back (RabbitMQ confirms such messages without persisting too).
    let consumer: Consumer | undefined;
    const delay = notBefore > Date.now();
    if (!delay && this.ready.length === 0 && this.consumers.count > 0) {
      consumer = this.nextConsumerWithCredit();
      if (consumer?.noAck) {
        if (fastPath) {
          onStored?.(null);
          consumer.deliver(this, -1, message, false);
          return -1;
        }
        consumer = undefined; // delivered from the ready ring on the next drain instead
      }
    }
    const now = Date.now();
    const expiresAt = this.expiryFor(message, now);
    const persistent = message.persistent && this.durable;
    const priority = this.ready.levelOf(message.priority);
    let offset = persistent ? -1 : this.log.holdInMemory(message);
    if (offset < 0) offset = this.log.append(message, persistent, expiresAt, priority);
    if (onStored) {
      if (persistent) this.log.whenDurable(offset, onStored);
      else onStored(null);
    }
    if (delay) {
      this.delayed.add(offset, { expiresAt, size, priority, notBefore });
      this.log.remember(offset, message);
      this.armDelayTimer();
      return offset;
    }
    // A consumer that acks has room: hand it over without touching the rings (the log keeps it until the ack).
    if (consumer) {
      this.deliverTo(consumer, offset, message, expiresAt, size, priority);
      return offset;
    }
    if (expiresAt !== 0 && expiresAt <= now) {
      // TTL 0 (or already past): only an immediate delivery could have saved it.
      this.outbox.push(offset, 'expired', message);
      return offset;
    }
    this.ready.push(offset, expiresAt, size, priority);
    this.readyBytes += size;
    this.log.remember(offset, message);
    this.enforceLengthLimit();
    if (expiresAt !== 0) this.armExpiryTimer();
    if (this.consumers.count > 0) this.scheduleDrain();
    return offset;
  }

  addConsumer(consumer: Consumer, options?: ConsumeOptions): void {
    if (options?.arguments?.['x-stream-offset'] !== undefined) {
      throw preconditionFailed(
        `invalid arg 'x-stream-offset' for ${this.describe} of queue type rabbit_classic_queue`,
      );
    }
    this.consumers.add(consumer);
    this.hadConsumers = true;
    this.clearIdleTimer();
    this.scheduleDrain();
  }

  /** Removes a consumer; its unacked messages stay unacked until their owner settles or releases them. */
  removeConsumer(consumer: Consumer): void {
    const i = this.consumers.remove(consumer);
    if (i < 0) return;
    if (this.consumers.count === 0) {
      if (this.autoDelete && this.hadConsumers) this.hooks.requestDelete(this);
      else this.armIdleTimer();
    } else if (this.settings.singleActiveConsumer && i === 0) {
      // Failover: the next consumer in line becomes the active one.
      this.scheduleDrain();
    }
  }

  /** The consumer receiving messages of a single-active-consumer queue. */
  get activeConsumer(): Consumer | undefined {
    return this.settings.singleActiveConsumer ? this.consumers.first : undefined;
  }

  /** Called by an adapter when a consumer regains credit (ack, qos change, flow on, socket drained). */
  resumeDelivery(): void {
    if (this.ready.length > 0 && this.consumers.count > 0) this.scheduleDrain();
  }

  /**
   * basic.get: the head message, if any, held by owner until settled or released; with leaseMs > 0 it comes
   * back by itself after that long (an HTTP claim). A Promise only when the head must come from disk.
   */
  get(
    noAck: boolean,
    owner: object | null = null,
    leaseMs = 0,
  ): GetResult | null | Promise<GetResult | null> {
    this.touchIdle();
    this.expireHeads(Date.now());
    if (this.ready.length === 0) return null;
    const offset = this.ready.peekOffset();
    const cached = this.log.cached(offset);
    if (cached) return this.takeHead(cached, noAck, owner, leaseMs);
    return this.loadHead().then(() => (this.deleted ? null : this.get(noAck, owner, leaseMs)));
  }

  /** The message at `offset` was processed; it leaves the queue for good. */
  ack(offset: number): boolean {
    if (!this.unacked.take(offset)) return false;
    this.forget(offset);
    this.log.settle(offset);
    return true;
  }

  /** Extends (or shortens) the lease of a held message; false if owner does not hold it. */
  renewLease(offset: number, leaseMs: number, owner: object): boolean {
    if (!this.unacked.renew(offset, leaseMs > 0 ? Date.now() + leaseMs : 0, owner)) return false;
    this.armLeaseTimer();
    return true;
  }

  /** Every message owner holds goes back to ready (its channel, session or claim ended). */
  releaseOwner(owner: object): void {
    const offsets = this.unacked.offsetsOf(owner);
    if (offsets.length > 0) this.requeue(offsets);
  }

  /** Offsets owner holds, ascending. */
  heldBy(owner: object): number[] {
    return this.unacked.offsetsOf(owner);
  }

  /**
   * Puts unacked messages back at their original positions, flagged redelivered. Past x-delivery-limit a
   * message is dead-lettered (reason delivery_limit) or dropped instead.
   */
  requeue(offsets: Iterable<number>): void {
    let any = false;
    const limit = this.settings.deliveryLimit;
    for (const offset of offsets) {
      const entry = this.unacked.take(offset);
      if (!entry) continue;
      const failures = (this.deliveryCounts.get(offset) ?? 0) + 1;
      if (limit >= 0 && failures > limit) {
        this.forget(offset);
        this.outbox.push(offset, 'delivery_limit', undefined);
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

  private returnEntry(offset: number, entry: UnackedEntry): void {
    // A lease that ran out counts as a failed delivery, like a requeue.
    this.unacked.add(offset, entry);
    this.requeue([offset]);
  }

  /** Rejected without requeue: dead-lettered (reason rejected) or gone. */
  reject(offset: number): void {
    if (!this.unacked.take(offset)) return;
    this.forget(offset);
    this.outbox.push(offset, 'rejected', undefined);
  }

  /** Removes every ready message; unacked ones are untouched, as in RabbitMQ. Returns how many went. */
  purge(): number {
    const count = this.ready.length;
    this.ready.forEachOffset((offset) => {
      this.forget(offset);
      this.log.settle(offset);
    });
    this.ready.clear();
    this.readyBytes = 0;
    this.log.clearCache();
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
    this.expiryTimer.cancel();
    this.leaseTimer.cancel();
    this.delayTimer.cancel();
    this.clearIdleTimer();
    const consumers = this.consumers.removeAll();
    this.unacked.clear();
    this.delayed.clear();
    this.outbox.stop();
    await this.log.destroy();
    return { count, consumers };
  }

  /** Flushes and closes the store at shutdown, keeping the data. */
  async close(): Promise<void> {
    this.expiryTimer.cancel();
    this.leaseTimer.cancel();
    this.delayTimer.cancel();
    this.clearIdleTimer();
    await this.log.close();
  }

  /** Resets the x-expires countdown (declare, get, consume count as use). */
  touchIdle(): void {
    if (this.settings.expires > 0 && this.consumers.count === 0) this.armIdleTimer();
  }

  /** Failed deliveries so far of an unacked or ready message (0 for a first delivery). */
  deliveryCount(offset: number): number {
    return this.deliveryCounts.get(offset) ?? 0;
  }

  // ---- reading in place (the HTTP queue API lists, fetches and deletes by id) ------------------------------

  /** The message at offset if it is still queued (ready, or held by an owner); undefined once it is gone. */
  locate(offset: number): QueuedMessage | undefined {
    const entry = this.unacked.get(offset);
    if (entry) return { offset, expiresAt: entry.expiresAt, held: true, owner: entry.owner, delayedUntil: 0 };
    const waiting = this.delayed.get(offset);
    if (waiting) {
      return {
        offset,
        expiresAt: waiting.expiresAt,
        held: false,
        owner: null,
        delayedUntil: waiting.notBefore,
      };
    }
    const at = this.ready.find(offset);
    if (!at) return undefined;
    const expiresAt = this.ready.expiryAt(at);
    if (expiresAt !== 0 && expiresAt <= Date.now()) return undefined; // expired, not yet taken off the head
    return { offset, expiresAt, held: false, owner: null, delayedUntil: 0 };
  }

  /**
   * Visits queued messages above offset `after` in offset order, without taking them: the ready ones, the
   * held ones with includeHeld, the delayed ones with includeDelayed; expired ones are skipped. Stops when
   * `each` returns false.
   */
  forEachQueued(
    after: number,
    includeHeld: boolean,
    each: (m: QueuedMessage) => boolean,
    includeDelayed = false,
  ): void {
    const others: QueuedMessage[] = [];
    if (includeHeld) {
      for (const offset of this.unacked.offsetsAfter(after)) others.push(this.locate(offset)!);
    }
    if (includeDelayed) {
      for (const offset of this.delayed.offsetsAfter(after)) others.push(this.locate(offset)!);
      others.sort((a, b) => a.offset - b.offset);
    }
    let o = 0;
    let going = true;
    const emitOthersBelow = (limit: number): boolean => {
      while (going && o < others.length && others[o].offset < limit) going = each(others[o++]);
      return going;
    };
    const now = Date.now();
    this.ready.forEachAfter(after, (offset, expiresAt) => {
      if (!emitOthersBelow(offset)) return false;
      if (expiresAt !== 0 && expiresAt <= now) return true;
      going = each({ offset, expiresAt, held: false, owner: null, delayedUntil: 0 });
      return going;
    });
    emitOthersBelow(Number.POSITIVE_INFINITY);
  }

  /** Lowest and highest offsets still queued, ready or held; undefined when the queue holds nothing. */
  offsetRange(): { lowest: number; highest: number } | undefined {
    this.expireHeads(Date.now());
    const range = this.ready.offsetRange();
    let lowest = range?.lowest ?? Number.POSITIVE_INFINITY;
    let highest = range?.highest ?? -1;
    const held = this.unacked.offsetRange();
    if (held !== undefined) {
      lowest = Math.min(lowest, held.lowest);
      highest = Math.max(highest, held.highest);
    }
    for (const offset of this.delayed.offsetsAfter(-1)) {
      lowest = Math.min(lowest, offset);
      highest = Math.max(highest, offset);
    }
    return highest < 0 ? undefined : { lowest, highest };
  }

  /** The content of a queued message, from memory or the log, without taking it. */
  read(offset: number): Promise<Message | undefined> {
    return this.log.read(offset);
  }

  /**
   * Deletes a message nobody holds, wherever it is in the queue, ready or delayed (the HTTP API's delete by
   * id). False if it is held or gone.
   */
  removeUnheld(offset: number): boolean {
    const at = this.ready.find(offset);
    if (at) {
      this.readyBytes -= this.ready.sizeAt(at);
      this.ready.removeAt(at);
    } else if (!this.delayed.take(offset)) return false;
    this.log.forget(offset, this.log.cached(offset));
    this.settleDelivered(offset);
    this.armExpiryTimer();
    return true;
  }

  // ---- restoring holds after a graceful restart -------------------------------------------------------------

  /**
   * Takes a ready message back into owner's hands with a lease and an expiry (a claim saved at shutdown);
   * false when it is not ready (it did not survive, or it went meanwhile).
   */
  holdReady(offset: number, owner: object, leaseMs: number, expiresAt: number): boolean {
    const at = this.ready.find(offset);
    if (!at) return false;
    const size = this.ready.sizeAt(at);
    this.readyBytes -= size;
    this.ready.removeAt(at);
    this.unacked.add(offset, {
      expiresAt,
      size,
      priority: at.level,
      owner,
      leaseDeadline: Date.now() + leaseMs,
    });
    this.armLeaseTimer();
    this.armExpiryTimer();
    return true;
  }

  /** Puts a ready message back to waiting until notBefore (a delay saved at shutdown). */
  delayReady(offset: number, notBefore: number): boolean {
    const at = this.ready.find(offset);
    if (!at || notBefore <= Date.now()) return false;
    const size = this.ready.sizeAt(at);
    const expiresAt = this.ready.expiryAt(at);
    this.readyBytes -= size;
    this.ready.removeAt(at);
    this.delayed.add(offset, { expiresAt, size, priority: at.level, notBefore });
    this.armDelayTimer();
    this.armExpiryTimer();
    return true;
  }

  /** [offset, notBefore] of every delayed message, to save at shutdown. */
  delayedSnapshot(): Array<[number, number]> {
    return this.delayed.offsetsAfter(-1).map((offset) => [offset, this.delayed.get(offset)!.notBefore]);
  }

  /** Moves the expiry of a message owner holds (it applies once the message is back in the ready queue). */
  setHeldExpiry(offset: number, owner: object, expiresAt: number): boolean {
    const entry = this.unacked.get(offset);
    if (!entry || entry.owner !== owner) return false;
    entry.expiresAt = expiresAt;
    return true;
  }

  // ---- delivery --------------------------------------------------------------------------------------------

  private expiryFor(message: Message, now: number): number {
    let ttl = this.settings.messageTtl;
    if (message.ttl >= 0 && (ttl < 0 || message.ttl < ttl)) ttl = message.ttl;
    return ttl < 0 ? 0 : now + ttl;
  }

  private takeHead(message: Message, noAck: boolean, owner: object | null, leaseMs: number): GetResult {
    const offset = this.ready.peekOffset();
    const expiresAt = this.ready.peekExpiry();
    const size = this.ready.peekSize();
    const priority = this.ready.headLevel();
    this.removeHead(offset, message);
    const redelivered = this.redelivered.has(offset);
    const deliveryCount = this.deliveryCount(offset);
    if (noAck) this.settleDelivered(offset);
    else {
      const leaseDeadline = leaseMs > 0 ? Date.now() + leaseMs : 0;
      this.unacked.add(offset, { expiresAt, size, priority, owner, leaseDeadline });
      if (leaseDeadline > 0) this.armLeaseTimer();
    }
    this.armExpiryTimer();
    return {
      offset,
      message: this.withDeliveryCount(offset, message),
      redelivered,
      remaining: this.ready.length,
      deliveryCount,
      expiresAt,
    };
  }

  private removeHead(offset: number, message: Message | undefined): void {
    this.readyBytes -= this.ready.peekSize();
    this.ready.shift();
    this.log.forget(offset, message);
  }

  private forget(offset: number): void {
    this.redelivered.delete(offset);
    this.deliveryCounts.delete(offset);
  }

  private settleDelivered(offset: number): void {
    this.forget(offset);
    this.log.settle(offset);
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
    else
      this.unacked.add(offset, {
        expiresAt,
        size,
        priority,
        owner: consumer.holder ?? null,
        leaseDeadline: 0,
      });
    consumer.deliver(this, offset, delivered, redelivered);
  }

  /** Redeliveries carry x-delivery-count where delivery counting is on (x-delivery-limit, as quorum queues do). */
  private withDeliveryCount(offset: number, message: Message): Message {
    const count = this.deliveryCounts.get(offset);
    if (count === undefined || !this.settings.countDeliveries) return message;
    return message.withHeader('x-delivery-count', count);
  }

  private nextConsumerWithCredit(): Consumer | undefined {
    return this.consumers.next(this.settings.singleActiveConsumer);
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
    while (this.ready.length > 0 && this.consumers.count > 0) {
      const expiresAt = this.ready.peekExpiry();
      const offset = this.ready.peekOffset();
      if (expiresAt !== 0 && expiresAt <= now) {
        const cached = this.log.cached(offset);
        this.removeHead(offset, cached);
        this.outbox.push(offset, 'expired', cached);
        continue;
      }
      const message = this.log.cached(offset);
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
    if (this.readInFlight || this.log.cacheBytes >= this.log.readAheadBytes / 2) return;
    const ring = this.ready.headRing();
    if (!ring || ring.length === 0 || !this.log.isCached(ring.peekOffset())) return;
    // Cached messages form a prefix of the ring: the first uncached one is past the last cached offset.
    let lo = 0;
    let hi = ring.length;
    const readAheadEnd = this.log.readAheadEnd;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ring.offsetAt(mid) < readAheadEnd) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= ring.length) return;
    const from = ring.offsetAt(lo);
    if (this.log.isCached(from)) return;
    this.readInFlight = this.readAhead(from).finally(() => {
      this.readInFlight = null;
      this.scheduleDrain();
    });
  }

  /** Reads the backlog from `from` (default: the head) into the cache: the offsets still in the head ring. */
  private async readAhead(from: number | undefined): Promise<void> {
    const ring = this.ready.headRing();
    if (!ring) return;
    try {
      const head = from ?? ring.peekOffset();
      // Records come in ascending order, like the ring: walk both together.
      let k = 0;
      await this.log.readAhead(head, (offset) => {
        while (k < ring.length && ring.offsetAt(k) < offset) k++;
        return k < ring.length && ring.offsetAt(k) === offset;
      });
      if (this.deleted) return;
      if (
        from === undefined &&
        ring.length > 0 &&
        ring.peekOffset() === head &&
        !this.log.isCached(head) &&
        this.ready.headRing() === ring
      ) {
        // The log no longer has it (a damaged record skipped at recovery): drop it rather than stall.
        this.hooks.onStoreError(
          this,
          new Error(`message at offset ${head} cannot be read from the log: dropped`),
        );
        this.removeHead(head, undefined);
        this.forget(head);
        this.log.settle(head);
      }
    } catch (err) {
      this.hooks.onStoreError(this, err as Error);
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
      const cached = this.log.cached(offset);
      this.removeHead(offset, cached);
      this.forget(offset);
      this.outbox.push(offset, 'maxlen', cached);
      dropped = true;
    }
    if (dropped) this.armExpiryTimer();
  }

  /** Expired messages leave from the level heads only, as in RabbitMQ; one timer per queue, never per message. */
  private expireHeads(now: number): void {
    this.ready.takeExpiredHeads(now, (offset, size) => {
      this.readyBytes -= size;
      const cached = this.log.cached(offset);
      this.log.forget(offset, cached);
      this.forget(offset);
      this.outbox.push(offset, 'expired', cached);
    });
  }

  private armExpiryTimer(): void {
    if (!this.deleted) this.expiryTimer.arm(this.ready.earliestHeadExpiry());
  }

  /** One timer per queue for the earliest lease deadline; expired leases go back to ready. */
  private armLeaseTimer(): void {
    if (!this.deleted) this.leaseTimer.arm(this.unacked.earliestLease());
  }

  /** One timer per queue for the earliest delayed message; due ones join the ready queue in offset order. */
  private armDelayTimer(): void {
    if (!this.deleted) this.delayTimer.arm(this.delayed.earliestDue());
  }

  private releaseDue(now: number): void {
    let any = false;
    this.delayed.takeDue(now, (offset, entry) => {
      if (entry.expiresAt !== 0 && entry.expiresAt <= now) {
        const cached = this.log.cached(offset);
        this.log.forget(offset, cached);
        this.outbox.push(offset, 'expired', cached);
        return;
      }
      this.ready.insertSorted(offset, entry.expiresAt, entry.size, entry.priority);
      this.readyBytes += entry.size;
      any = true;
    });
    if (!any) return;
    this.enforceLengthLimit();
    this.armExpiryTimer();
    if (this.consumers.count > 0) this.scheduleDrain();
  }

  private armIdleTimer(): void {
    if (this.settings.expires <= 0 || this.deleted || this.consumers.count > 0) return;
    this.clearIdleTimer();
    this.idleTimer = setTimeout(() => {
      if (this.consumers.count === 0) this.hooks.requestDelete(this);
    }, this.settings.expires);
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}
