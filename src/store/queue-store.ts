/**
 * The storage of one queue: its segment log plus the settle log of messages that are gone.
 * Keeps a live counter per segment so that a segment file is deleted as soon as all of its messages are
 * settled, and compacts the settle log in the background once most of its entries point into deleted segments.
 * A new store touches the disk only at its first write, so idle queues cost neither syscalls nor descriptors.
 */
import path from 'node:path';
import type { FileHandleCache } from './file-handle-cache.js';
import type { GroupCommit } from './group-commit.js';
import { LiveBatch, type LiveEntriesCallback } from './live-entries.js';
import { OffsetBitmap } from './offset-bitmap.js';
import type { LogRecord, NewRecord } from './record-format.js';
import { type RecoveryCounters, SegmentLog } from './segment-log.js';
import { SettleLog } from './settle-log.js';
import type { StorageDamage } from './storage-damage.js';

export interface QueueStoreOptions {
  dir: string;
  commit: GroupCommit;
  fsync: boolean;
  segmentMaxBytes?: number;
  /**
   * false: a transient queue, never fsynced and never recovered. Its directory must hold nothing of an
   * earlier run (the broker wipes transient/ at startup): open() does not touch the disk at all.
   */
  durable: boolean;
  onWarning?: (message: string) => void;
  /** Each damaged range recovery skipped (the records in it are lost; the rest are served). */
  onDamage?: (damage: StorageDamage) => void;
  /** Every failed write or sync of the segment or settle log (the broker re-checks free disk at once). */
  onWriteError?: (err: Error) => void;
  /** Shared pool of open files (bounds descriptors across all stores); default: the process-wide one. */
  files?: FileHandleCache;
}

export type { LiveEntries, LiveEntriesCallback } from './live-entries.js';

const SETTLE_FILE = 'settled.log';
/** Compact the settle log once it exceeds this size and holds more than twice the still-needed entries. */
const COMPACT_MIN_BYTES = 1024 * 1024;

/** Per segment: messages not yet settled, and settle-log entries that point into it. */
interface SegmentCounter {
  live: number;
  logged: number;
}

export class QueueStore {
  private readonly counters = new Map<number, SegmentCounter>();
  private activeBase: number;
  private activeCounter: SegmentCounter;
  /** Every settled offset in live segments (also guards against double settles corrupting the counters). */
  private readonly settled = new OffsetBitmap();
  /** Settle-log entries that still point into live segments. */
  private loggedLive = 0;
  private compaction: Promise<void> | null = null;
  private closed = false;
  private readonly warn: (message: string) => void;

  private constructor(
    readonly durable: boolean,
    private readonly log: SegmentLog,
    private readonly settleLog: SettleLog | null,
    onWarning: ((message: string) => void) | undefined,
  ) {
    this.warn = onWarning ?? (() => {});
    this.activeBase = log.activeSegmentBase;
    this.activeCounter = this.counterFor(this.activeBase);
  }

  static async open(opts: QueueStoreOptions): Promise<QueueStore> {
    const fsync = opts.durable && opts.fsync;
    const log = await SegmentLog.open({
      dir: opts.dir,
      commit: opts.commit,
      fsync,
      segmentMaxBytes: opts.segmentMaxBytes,
      onWarning: opts.onWarning,
      onDamage: opts.onDamage,
      onWriteError: opts.onWriteError,
      files: opts.files,
      fresh: !opts.durable,
      entryTables: opts.durable,
    });
    const settleLog = opts.durable
      ? await SettleLog.open(path.join(opts.dir, SETTLE_FILE), {
          commit: opts.commit,
          fsync,
          onWarning: opts.onWarning,
          onWriteError: opts.onWriteError,
          files: opts.files,
          fresh: !log.onDisk, // no directory: no settle file either
        })
      : null;
    return new QueueStore(opts.durable, log, settleLog, opts.onWarning);
  }

  get nextOffset(): number {
    return this.log.nextOffset;
  }

  get firstOffset(): number {
    return this.log.firstOffset;
  }

  get sizeBytes(): number {
    return this.log.sizeBytes + (this.settleLog?.sizeBytes ?? 0);
  }

  /** Damage recovery found and stepped over. */
  get damage(): readonly StorageDamage[] {
    return this.log.damage;
  }

  /** What open() did: segments scanned, and sealed segments loaded from their index (with its entry table). */
  get recovery(): RecoveryCounters {
    return this.log.recovery;
  }

  /** Number of segment files currently kept. */
  get segmentCount(): number {
    return this.log.segmentInfos().length;
  }

  /**
   * Streams, in offset order and in batches (one per segment), every persistent record that was not settled.
   * Non-persistent records do not survive a restart. Call once, right after open, before append/settle.
   * Reads no record: every segment's entry table came from its index, or from the scan of open(). `reserve`
   * hears first how many records it may yield at most (the records minus the settled ones), to size for them.
   */
  async recover(onLive: LiveEntriesCallback, reserve?: (atMost: number) => void): Promise<void> {
    if (!this.settleLog) return;
    const log = this.log;
    let highestSettled = -1;
    await this.settleLog.load((offset) => {
      if (offset > highestSettled) highestSettled = offset;
      const base = log.segmentBaseFor(offset);
      if (base < 0 || !this.settled.add(offset)) return;
      this.counterFor(base).logged++;
      this.loggedLive++;
    });
    // A settle can reach the disk before its record does (the two files sync independently, and a record may
    // still be in memory when its message is acked): after a crash the settle log can name offsets past the
    // log's end. They must never be handed out again, or those settles would swallow new messages.
    if (highestSettled >= log.nextOffset) {
      this.warn(
        `settle log names offsets up to ${highestSettled}, past the log's end ${log.nextOffset}: ` +
          `new messages start at ${highestSettled + 1}`,
      );
      await log.skipTo(highestSettled + 1);
      this.activeBase = log.activeSegmentBase;
      this.activeCounter = this.counterFor(this.activeBase);
    }
    const tables = log.recoveredEntries();
    if (reserve) {
      let atMost = 0;
      for (const { entries } of tables)
        atMost += Math.max(0, entries.count - this.counterFor(entries.base).logged);
      reserve(atMost);
    }
    const batch = new LiveBatch();
    for (const { entries, lostRanges } of tables) {
      const counter = this.counterFor(entries.base);
      batch.collect(entries, lostRanges, this.settled, counter.logged > 0);
      counter.live += batch.count;
      if (batch.count > 0) onLive(batch);
    }
    log.releaseRecoveredEntries();
    for (const info of log.segmentInfos()) {
      if (info.base !== this.activeBase && this.counterFor(info.base).live <= 0) this.dropSegment(info.base);
    }
    this.maybeCompact();
  }

  append(rec: NewRecord): number {
    const offset = this.log.append(rec);
    if (this.log.activeSegmentBase !== this.activeBase) this.onRoll();
    this.activeCounter.live++;
    return offset;
  }

  /**
   * Takes the next offset without writing a record (a transient message the caller keeps in memory). The
   * offset is never written, counted or settled here; reads of it find nothing, and after a restart it may
   * be used again (nothing on disk or in the settle log ever named it).
   */
  reserveOffset(): number {
    return this.log.reserveOffset();
  }

  whenDurable(offset: number, cb: (err: Error | null) => void): void {
    this.log.whenDurable(offset, cb);
  }

  read(offset: number): Promise<LogRecord | undefined> {
    return this.log.read(offset);
  }

  readRange(fromOffset: number, maxBytes: number, maxCount: number): Promise<LogRecord[]> {
    return this.log.readRange(fromOffset, maxBytes, maxCount);
  }

  /** The message at offset is gone (acked, dropped, purged). Unknown or repeated offsets are ignored. */
  settle(offset: number): void {
    if (this.closed) return; // late acks during shutdown: the message is simply redelivered after restart
    if (!Number.isSafeInteger(offset) || offset < this.log.firstOffset || offset >= this.log.nextOffset)
      return;
    const base = this.log.segmentBaseFor(offset);
    if (base < 0 || !this.settled.add(offset)) return;
    const counter = base === this.activeBase ? this.activeCounter : this.counterFor(base);
    counter.live--;
    if (this.settleLog) {
      // Every settle is logged (not only persistent ones): the store does not keep per-message flags, and
      // 12 bytes per settle are noise next to the record itself.
      this.settleLog.settle(offset);
      counter.logged++;
      this.loggedLive++;
    }
    if (counter.live === 0 && base !== this.activeBase) {
      this.dropSegment(base);
      this.maybeCompact();
    }
  }

  /** Resolves once every settle so far is durable. */
  async flush(): Promise<void> {
    await this.settleLog?.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.compaction) await this.compaction;
    await this.log.close();
    await this.settleLog?.close();
  }

  async destroy(): Promise<void> {
    await this.close();
    await this.log.destroy(); // close() already ran: this only removes the directory
  }

  private counterFor(base: number): SegmentCounter {
    let c = this.counters.get(base);
    if (!c) {
      c = { live: 0, logged: 0 };
      this.counters.set(base, c);
    }
    return c;
  }

  private onRoll(): void {
    const previous = this.activeBase;
    const prevCounter = this.activeCounter;
    this.activeBase = this.log.activeSegmentBase;
    this.activeCounter = this.counterFor(this.activeBase);
    // Every message of the old active segment may already be settled: nothing else would delete it.
    if (prevCounter.live === 0) this.dropSegment(previous);
  }

  private dropSegment(base: number): void {
    const end = this.log.segmentEnd(base);
    if (end < 0 || !this.log.deleteSegment(base)) return;
    this.settled.deleteRange(base, end);
    const c = this.counters.get(base);
    if (c) {
      this.loggedLive -= c.logged;
      this.counters.delete(base);
    }
  }

  private maybeCompact(): void {
    const sl = this.settleLog;
    if (!sl || this.compaction) return;
    if (sl.sizeBytes < COMPACT_MIN_BYTES || sl.entryCount <= 2 * this.loggedLive) return;
    const log = this.log;
    this.compaction = sl
      .compact(log.firstOffset, (o) => log.segmentBaseFor(o) >= 0)
      .catch((err: Error) => this.warn(`settle log compaction failed: ${err.message}`))
      .finally(() => {
        this.compaction = null;
      });
  }
}
