import type { LiveEntriesCallback, QueueStore } from '../store/queue-store.js';
import type { LogRecord } from '../store/record-format.js';
import { Message } from './message.js';

export interface MessageLogOptions {
  /** Bytes of message bodies kept in memory; the rest is read back from the segment log. */
  cacheBytes: number;
  /** Read-ahead window when the backlog has to come from disk. */
  readAheadBytes: number;
}

/** Records read per read-ahead at most, whatever their size. */
const READ_AHEAD_MAX_RECORDS = 4096;

/**
 * The messages of one queue or stream as a log: the store handle, a bounded cache of bodies by offset, and
 * reads from disk into that cache. It knows offsets, not consumers: the delivery model on top (classic
 * queue, stream) decides which offsets it wants and when they leave.
 */
export class MessageLog {
  private readonly cache = new Map<number, Message>();
  private cachedBytes = 0;
  /** One past the last offset a read-ahead brought into the cache. */
  private readAheadEndOffset = 0;

  constructor(
    private readonly store: QueueStore,
    private readonly options: MessageLogOptions,
  ) {}

  get durable(): boolean {
    return this.store.durable;
  }

  get cacheBytes(): number {
    return this.cachedBytes;
  }

  get readAheadBytes(): number {
    return this.options.readAheadBytes;
  }

  /** One past the last offset a read-ahead cached. */
  get readAheadEnd(): number {
    return this.readAheadEndOffset;
  }

  /** Streams every unsettled persistent record once, in batches, after a restart (see QueueStore.recover). */
  recover(onLive: LiveEntriesCallback, reserve?: (atMost: number) => void): Promise<void> {
    return this.store.recover(onLive, reserve);
  }

  append(message: Message, persistent: boolean, expiresAt: number, priority: number): number {
    return this.store.append({
      timestamp: message.timestamp,
      persistent,
      expiresAt,
      priority,
      exchange: message.exchange,
      routingKey: message.routingKey,
      properties: message.properties,
      body: message.body,
    });
  }

  whenDurable(offset: number, cb: (err: Error | null) => void): void {
    this.store.whenDurable(offset, cb);
  }

  /** The message at offset is gone for good (acked, dropped, purged). */
  settle(offset: number): void {
    this.store.settle(offset);
  }

  cached(offset: number): Message | undefined {
    return this.cache.get(offset);
  }

  isCached(offset: number): boolean {
    return this.cache.has(offset);
  }

  /** Keeps message in memory if the cache budget allows. */
  remember(offset: number, message: Message): void {
    if (this.cachedBytes + message.byteSize > this.options.cacheBytes) return;
    this.cache.set(offset, message);
    this.cachedBytes += message.byteSize;
  }

  /** Drops offset from the cache; message is what the caller found there (nothing to do without one). */
  forget(offset: number, message: Message | undefined): void {
    if (message && this.cache.delete(offset)) this.cachedBytes -= message.byteSize;
  }

  clearCache(): void {
    this.cache.clear();
    this.cachedBytes = 0;
  }

  /** The message at offset, from the cache or the disk; undefined if the log no longer holds it. */
  async read(offset: number): Promise<Message | undefined> {
    const cached = this.cache.get(offset);
    if (cached) return cached;
    const rec = await this.store.read(offset);
    return rec ? messageFromRecord(rec) : undefined;
  }

  /**
   * Reads about one read-ahead window of records from `from` on and caches the ones `wanted` accepts (the
   * delivery model's ready offsets, ascending). Returns whether the record at `from` itself was found.
   */
  async readAhead(from: number, wanted: (offset: number) => boolean): Promise<boolean> {
    let records: LogRecord[] = await this.store.readRange(
      from,
      this.options.readAheadBytes,
      READ_AHEAD_MAX_RECORDS,
    );
    if (records.length === 0 || records[0].offset !== from) {
      const one = await this.store.read(from);
      records = one ? [one] : [];
    }
    for (const rec of records) {
      if (this.cache.has(rec.offset) || !wanted(rec.offset)) continue;
      const message = messageFromRecord(rec);
      this.cache.set(rec.offset, message);
      this.cachedBytes += message.byteSize;
    }
    if (records.length > 0) {
      this.readAheadEndOffset = Math.max(this.readAheadEndOffset, records[records.length - 1].offset + 1);
    }
    return records.length > 0 && records[0].offset === from;
  }

  close(): Promise<void> {
    return this.store.close();
  }

  destroy(): Promise<void> {
    this.clearCache();
    return this.store.destroy();
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
