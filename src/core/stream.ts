import { type FieldTable, TypedFieldValue } from '../codec/field-table.js';
import type { StreamStore } from '../store/stream-store.js';
import type { GetResult } from './classic-queue.js';
import type { ConsumeOptions, Consumer } from './consumer.js';
import { ConsumerDispatch } from './consumer-dispatch.js';
import type { GroupInfo } from './consumer-group.js';
import { parseGroupKey } from './consumer-group.js';
import { notImplemented, preconditionFailed } from './errors.js';
import type { Message } from './message.js';
import { messageFromRecord } from './message-log.js';
import { parseStreamStart, type StreamSettings, type StreamStart } from './stream-arguments.js';
import { type GroupPositions, type SettleAction, StreamGroups } from './stream-groups.js';

export interface StreamDefinition {
  id: string;
  name: string;
  vhost: string;
  arguments: FieldTable;
}

export interface StreamOptions {
  /** Bytes of decoded messages kept for all readers together. */
  cacheBytes: number;
  /** Bytes one read from disk brings in. */
  readAheadBytes: number;
}

interface Cursor {
  consumer: Consumer;
  /** The next offset this consumer gets; set once its start is resolved. */
  next: number;
  /** Its start is still being looked up (a timestamp needs the log). */
  resolving: boolean;
}

/** How often age-based retention runs when nothing rolls a segment. */
const RETENTION_INTERVAL_MS = 60_000;

/**
 * The stream delivery model: an append-only log that keeps messages after they are read. Every consumer has
 * its own cursor and sees every message from where it started; acks only return credit. Reads go through one
 * cache of decoded messages (each carrying its x-stream-offset header) shared by all readers, so ten readers of
 * the same range decode it once. Retention deletes whole segments by age or total size.
 */
export class Stream {
  readonly kind = 'stream' as const;
  readonly id: string;
  readonly name: string;
  readonly vhost: string;
  readonly durable = true;
  readonly autoDelete = false;
  readonly exclusiveOwner: object | null = null;
  readonly arguments: FieldTable;

  private readonly consumers: ConsumerDispatch;
  private readonly cursors = new Map<Consumer, Cursor>();
  private readonly cache = new Map<number, Message>();
  private cacheBytes = 0;
  private readonly reads = new Map<number, Promise<void>>();
  private drainScheduled = false;
  private retentionTimer: NodeJS.Timeout | undefined;
  private lastActiveBase: number;
  private deleted = false;
  private readonly groups: StreamGroups;
  /**
   * Readers see offsets below this only: what is durable. A reader never gets a message that a crash could
   * take back (and whose offset a restart would hand out again), as RabbitMQ readers see committed chunks only.
   */
  private visibleEnd: number;
  /** The last offset appended, and whether a durability wait for it (one per batch, not per message) is out. */
  private lastAppended = -1;
  private visibilityWaiting = false;

  constructor(
    definition: StreamDefinition,
    private settingsValue: StreamSettings,
    private readonly store: StreamStore,
    private readonly options: StreamOptions,
    private readonly onStoreError: (stream: Stream, err: Error) => void,
    positions: GroupPositions,
  ) {
    this.id = definition.id;
    this.name = definition.name;
    this.vhost = definition.vhost;
    this.arguments = definition.arguments;
    this.consumers = new ConsumerDispatch(() => this.describe);
    this.groups = new StreamGroups(
      positions,
      () => this.describe,
      (err) => this.onStoreError(this, err),
    );
    this.lastActiveBase = store.activeSegmentBase;
    this.visibleEnd = store.nextOffset;
    this.armRetention();
  }

  get settings(): StreamSettings {
    return this.settingsValue;
  }

  get describe(): string {
    return `queue '${this.name}' in vhost '${this.vhost}'`;
  }

  get isDeleted(): boolean {
    return this.deleted;
  }

  /** What queue.declare-ok reports: the messages the stream holds. */
  get messageCount(): number {
    return this.store.nextOffset - this.store.firstOffset;
  }

  get unackedCount(): number {
    return 0;
  }

  get consumerCount(): number {
    return this.consumers.count;
  }

  get firstOffset(): number {
    return this.store.firstOffset;
  }

  get nextOffset(): number {
    return this.store.nextOffset;
  }

  get sizeBytes(): number {
    return this.store.sizeBytes;
  }

  get segmentCount(): number {
    return this.store.segmentCount;
  }

  /** New effective settings (a policy changed); the segment size applies to new segments only. */
  applySettings(settings: StreamSettings): void {
    this.settingsValue = settings;
    this.enforceRetention();
  }

  /** Appends with the server's timestamp; `onStored` once it is durable. */
  enqueue(message: Message, onStored?: (err: Error | null) => void): void {
    const offset = this.store.append({
      timestamp: message.timestamp,
      persistent: true,
      expiresAt: 0,
      priority: message.priority,
      exchange: message.exchange,
      routingKey: message.routingKey,
      properties: message.properties,
      body: message.body,
    });
    if (onStored) this.store.whenDurable(offset, onStored);
    this.lastAppended = offset;
    if (!this.visibilityWaiting) this.waitForVisibility();
    if (this.cursors.size > 0 || this.groups.size > 0) this.remember(offset, withOffset(message, offset));
    if (this.store.activeSegmentBase !== this.lastActiveBase) {
      this.lastActiveBase = this.store.activeSegmentBase;
      this.enforceRetention();
    }
  }

  /** Subscribes a consumer at x-stream-offset (default next); it needs a prefetch and acks. */
  addConsumer(consumer: Consumer, options: ConsumeOptions = {}): void {
    if (consumer.noAck) {
      throw notImplemented(`automatic acknowledgement not supported by stream queues ${this.describe}`);
    }
    for (const key of ['x-priority', 'x-cancel-on-ha-failover']) {
      if (options.arguments?.[key] !== undefined) {
        throw preconditionFailed(
          `invalid arg '${key}' for ${this.describe} of queue type rabbit_stream_queue`,
        );
      }
    }
    if (!options.prefetch)
      throw preconditionFailed(`consumer prefetch count is not set for '${this.describe}'`);
    if (options.globalPrefetch) throw notImplemented(`${this.describe} does not support global qos`);
    const start = parseStreamStart(options.arguments?.['x-stream-offset'], Date.now(), this.describe);
    const group = options.arguments?.['x-consumer-group'];
    const key = parseGroupKey(options.arguments?.['x-group-key'], this.describe);
    if (group !== undefined) {
      if (typeof group !== 'string' || group.length === 0 || group.length > 255) {
        throw preconditionFailed(
          `invalid arg 'x-consumer-group' for ${this.describe}: a name of 1..255 characters`,
        );
      }
      this.consumers.add(consumer);
      this.groups.join(consumer, group, key, () => this.resolveStart(start));
      this.scheduleDrain();
      return;
    }
    if (key !== undefined)
      throw preconditionFailed(`invalid arg 'x-group-key' for ${this.describe}: only with x-consumer-group`);
    this.consumers.add(consumer);
    const cursor: Cursor = { consumer, next: this.store.nextOffset, resolving: false };
    this.cursors.set(consumer, cursor);
    switch (start.kind) {
      case 'first':
        cursor.next = this.store.firstOffset;
        break;
      case 'last':
        cursor.next = Math.max(this.store.firstOffset, this.store.nextOffset - 1);
        break;
      case 'next':
        break;
      case 'offset':
        // Past the end it waits for that offset to exist, skipping whatever comes before it (as RabbitMQ).
        cursor.next = Math.max(start.offset, this.store.firstOffset);
        break;
      case 'time':
        cursor.resolving = true;
        this.store.offsetAtTime(start.timestamp).then(
          (offset) => {
            cursor.resolving = false;
            cursor.next = offset;
            this.scheduleDrain();
          },
          (err: Error) => this.onStoreError(this, err),
        );
        return;
    }
    this.scheduleDrain();
  }

  removeConsumer(consumer: Consumer): void {
    this.consumers.remove(consumer);
    this.cursors.delete(consumer);
    this.groups.leave(consumer);
  }

  /** Where a start specification points now: an offset, or a promise of one for a time. */
  private resolveStart(start: StreamStart): number | Promise<number> {
    switch (start.kind) {
      case 'first':
        return this.store.firstOffset;
      case 'last':
        return Math.max(this.store.firstOffset, this.store.nextOffset - 1);
      case 'next':
        return this.store.nextOffset;
      case 'offset':
        return Math.max(start.offset, this.store.firstOffset);
      case 'time':
        return this.store.offsetAtTime(start.timestamp);
    }
  }

  /**
   * An ack, nack or reject from the consumer that got `offset`. A group member's nack puts the message back in
   * its group; outside groups acks are credit only and nack/reject are refused, as RabbitMQ refuses them.
   */
  settle(offset: number, consumer: Consumer | null, action: SettleAction): void {
    if (this.groups.settle(offset, consumer, action)) {
      if (action === 'requeue') this.scheduleDrain();
      return;
    }
    if (action !== 'ack') {
      throw notImplemented(`basic.nack and basic.reject not supported by stream queues ${this.describe}`);
    }
  }

  /** Moves consumer group `name` to a new start (replay, or skip ahead); creates it if it does not exist. */
  async resetGroup(name: string, start: StreamStart): Promise<void> {
    await this.groups.reset(name, await this.resolveStart(start));
    this.scheduleDrain();
  }

  /** Each group's position, lag and members. */
  groupInfo(): GroupInfo[] {
    return this.groups.info(this.store.nextOffset);
  }

  resumeDelivery(): void {
    if (this.cursors.size > 0 || this.groups.size > 0) this.scheduleDrain();
  }

  get(_noAck: boolean, _owner?: object | null): GetResult | null {
    throw notImplemented(`basic.get not supported by stream queues ${this.describe}`);
  }

  /** Acks are credit on a stream: the message stays. */
  ack(_offset: number): boolean {
    return true;
  }

  /** Nothing goes back on a stream: a consumer that wants a message again restarts from its offset. */
  requeue(_offsets: Iterable<number>): void {
    throw notImplemented(`basic.nack and basic.reject not supported by stream queues ${this.describe}`);
  }

  reject(_offset: number): void {
    throw notImplemented(`basic.nack and basic.reject not supported by stream queues ${this.describe}`);
  }

  /** A holder (channel, session) ended: what it held in consumer groups goes to other members. */
  releaseOwner(owner: object): void {
    this.groups.releaseOwner(owner);
    this.scheduleDrain();
  }

  purge(): number {
    throw notImplemented(`queue.purge not supported by stream queues ${this.describe}`);
  }

  touchIdle(): void {}

  deliveryCount(_offset: number): number {
    return 0;
  }

  async recover(): Promise<void> {}

  async delete(): Promise<{ count: number; consumers: Consumer[] }> {
    if (this.deleted) return { count: 0, consumers: [] };
    this.deleted = true;
    clearInterval(this.retentionTimer);
    const count = 0; // queue.delete-ok of a stream reports 0, as RabbitMQ's does
    const consumers = this.consumers.removeAll();
    this.cursors.clear();
    this.cache.clear();
    await this.groups.deleteAll();
    await this.store.destroy();
    return { count, consumers };
  }

  async close(): Promise<void> {
    clearInterval(this.retentionTimer);
    await this.groups.close();
    await this.store.close();
  }

  // ---- delivery ----------------------------------------------------------------------------------------

  private scheduleDrain(): void {
    if (this.drainScheduled || this.deleted) return;
    this.drainScheduled = true;
    queueMicrotask(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  /** The log is sequential: once the last appended offset is durable, everything before it is too. */
  private waitForVisibility(): void {
    this.visibilityWaiting = true;
    const upTo = this.lastAppended;
    this.store.whenDurable(upTo, (err) => {
      this.visibilityWaiting = false;
      if (this.deleted) return;
      if (err === null && upTo + 1 > this.visibleEnd) {
        this.visibleEnd = upTo + 1;
        if (this.cursors.size > 0 || this.groups.size > 0) this.scheduleDrain();
      }
      // A failed sync is not waited on again (its confirms failed); the next append's wait moves past it.
      if (this.lastAppended > upTo) this.waitForVisibility();
    });
  }

  private drain(): void {
    if (this.deleted) return;
    const end = this.visibleEnd;
    let lowest = end;
    for (const cursor of this.cursors.values()) {
      if (cursor.resolving) continue;
      if (cursor.next < this.store.firstOffset) cursor.next = this.store.firstOffset; // retention passed it
      const { consumer } = cursor;
      while (cursor.next < end && consumer.hasCredit()) {
        const message = this.cache.get(cursor.next);
        if (!message) {
          this.readFrom(cursor.next);
          break;
        }
        consumer.deliver(this, cursor.next, message, false);
        cursor.next++;
      }
      if (cursor.next < lowest) lowest = cursor.next;
    }
    if (this.groups.size > 0) {
      const groupLowest = this.groups.drain(
        end,
        this.store.firstOffset,
        (offset) => this.cache.get(offset),
        (offset) => this.readFrom(offset),
        (member, offset, message, redelivered) => member.deliver(this, offset, message, redelivered),
      );
      if (groupLowest < lowest) lowest = groupLowest;
    }
    this.evictBelow(lowest);
  }

  /** Reads the log from `from` into the shared cache (one read per start offset at a time). */
  private readFrom(from: number): void {
    if (this.reads.has(from)) return;
    const read = this.store
      .readRange(from, this.options.readAheadBytes, 4096)
      .then((records) => {
        if (this.deleted) return;
        for (const rec of records) this.remember(rec.offset, withOffset(messageFromRecord(rec), rec.offset));
        // Offsets the log does not hold (retention, damage) are skipped by every cursor waiting on them.
        const found = records.length > 0 ? records[0].offset : this.store.nextOffset;
        if (found > from) {
          for (const c of this.cursors.values()) if (c.next >= from && c.next < found) c.next = found;
          this.groups.skipGap(from, found);
        }
      })
      .catch((err: Error) => this.onStoreError(this, err))
      .finally(() => {
        this.reads.delete(from);
        this.scheduleDrain();
      });
    this.reads.set(from, read);
  }

  private remember(offset: number, message: Message): void {
    if (this.cache.has(offset)) return;
    this.cache.set(offset, message);
    this.cacheBytes += message.byteSize;
    // Over budget: drop the oldest entries (Map order is insertion order), never the one just added.
    for (const [o, m] of this.cache) {
      if (this.cacheBytes <= this.options.cacheBytes || o === offset) break;
      this.cache.delete(o);
      this.cacheBytes -= m.byteSize;
    }
  }

  /** Entries every cursor has passed are of no use to anyone. */
  private evictBelow(offset: number): void {
    for (const [o, m] of this.cache) {
      if (o >= offset) break; // mostly ascending: what is left is dropped by the budget
      this.cache.delete(o);
      this.cacheBytes -= m.byteSize;
    }
  }

  // ---- retention ---------------------------------------------------------------------------------------

  private armRetention(): void {
    if (this.settingsValue.maxAgeMs <= 0) return;
    this.retentionTimer = setInterval(() => this.enforceRetention(), RETENTION_INTERVAL_MS);
    this.retentionTimer.unref();
  }

  private enforceRetention(): void {
    const { maxAgeMs, maxLengthBytes } = this.settingsValue;
    if (maxAgeMs <= 0 && maxLengthBytes <= 0) return;
    this.store.enforceRetention({ maxAgeMs, maxBytes: maxLengthBytes }, Date.now());
  }
}

/** Every delivery from a stream carries its offset, as RabbitMQ's do. */
function withOffset(message: Message, offset: number): Message {
  return message.withHeader('x-stream-offset', new TypedFieldValue('long', offset));
}
