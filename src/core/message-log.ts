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
  /** Bodies of records on disk, kept to spare a read; dropped freely. */
  private readonly cache = new Map<number, Message>();
  private cachedBytes = 0;
  /**
   * Transient messages that were never written: their only copy, kept until settled. They share the cache
   * budget; once it is spent, transient messages go to the log like the rest.
   */
  private readonly memoryOnly = new Map<number, Message>();
  private memoryOnlyBytes = 0;
  /** One past the last offset a read-ahead brought into the cache. */
  private readAheadEndOffset = 0;

  constructor(
    private readonly store: QueueStore,
    private readonly options: MessageLogOptions,
  ) {}

  get durable(): boolean {
    return this.store.durable;
  }

  /** Bytes of on-disk records' bodies in memory (what read-ahead fills). */
  get cacheBytes(): number {
    return this.cachedBytes;
  }

  /** Bytes of transient messages held only in memory. */
  get memoryOnlyByteCount(): number {
    return this.memoryOnlyBytes;
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

  /**
   * A transient message that nothing will ever need to read back after a restart: it takes an offset but is
   * not written while the cache budget has room, so a backlog of transient messages costs no encoding, no
   * write and no page cache. Returns the offset, or -1 when the budget is spent (append it instead).
   */
  holdInMemory(message: Message): number {
    if (this.cachedBytes + this.memoryOnlyBytes + message.byteSize > this.options.cacheBytes) return -1;
    const offset = this.store.reserveOffset();
    this.memoryOnly.set(offset, message);
    this.memoryOnlyBytes += message.byteSize;
    return offset;
  }

  whenDurable(offset: number, cb: (err: Error | null) => void): void {
    this.store.whenDurable(offset, cb);
  }

  /** The message at offset is gone for good (acked, dropped, purged). */
  settle(offset: number): void {
    const held = this.memoryOnly.get(offset);
    if (held) {
      this.memoryOnly.delete(offset);
      this.memoryOnlyBytes -= held.byteSize;
      return; // never written: nothing to settle in the store
    }
    this.store.settle(offset);
  }

  cached(offset: number): Message | undefined {
    return this.cache.get(offset) ?? this.memoryOnly.get(offset);
  }

  isCached(offset: number): boolean {
    return this.cache.has(offset) || this.memoryOnly.has(offset);
  }

  /** Keeps message in memory if the cache budget allows. */
  remember(offset: number, message: Message): void {
    if (this.memoryOnly.has(offset)) return;
    if (this.cachedBytes + this.memoryOnlyBytes + message.byteSize > this.options.cacheBytes) return;
    this.cache.set(offset, message);
    this.cachedBytes += message.byteSize;
  }

  /**
   * Drops offset from the cache; message is what the caller found there (nothing to do without one). A
   * memory-only message stays until settled: it has no other copy to come back from.
   */
  forget(offset: number, message: Message | undefined): void {
    if (message && this.cache.delete(offset)) this.cachedBytes -= message.byteSize;
  }

  /** Drops the cached bodies of on-disk records (memory-only messages stay: they are the only copy). */
  clearCache(): void {
    this.cache.clear();
    this.cachedBytes = 0;
  }

  /** The message at offset, from memory or the disk; undefined if the log no longer holds it. */
  async read(offset: number): Promise<Message | undefined> {
    const cached = this.cached(offset);
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
    this.memoryOnly.clear();
    this.memoryOnlyBytes = 0;
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
