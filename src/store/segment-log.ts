/**
 * Append-only log of framed records in segment files named by their base offset.
 *
 * Appends are synchronous and only encode into an in-memory batch; the batch is written once per
 * event-loop tick with one positional writev, and made durable through the shared GroupCommit
 * (segment-writer.ts).
 * Each segment file starts with a format header (segment-header.ts) written with its first records, and keeps
 * a sparse offset and time index (one entry per ~4 KiB) built while appending. When a segment is sealed (the
 * log rolls) its index is persisted next to it (segment-index-file.ts), so that opening the log scans only
 * the active segment (segment-recovery.ts). Files are opened through a shared FileHandleCache (bounded open
 * descriptors), and a new log creates its directory and first segment file only at its first write.
 *
 * Failures: a failed write is retried until it succeeds, a failed sync fails the confirms it covered (see
 * segment-writer.ts). Recovery and reads step over damaged records (see segment-scan.ts) and report them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type FileHandleCache, sharedFileHandleCache } from './file-handle-cache.js';
import { fdatasync, writeAll } from './fs-io.js';
import type { GroupCommit } from './group-commit.js';
import { encodedRecordSize, type LogRecord, type NewRecord } from './record-format.js';
import { Segment, segmentFileName } from './segment.js';
import { SegmentEntries } from './segment-entries.js';
import { encodeSegmentHeader, SEGMENT_HEADER_BYTES } from './segment-header.js';
import { IndexPersister } from './segment-index-file.js';
import { findSegment, type LogView, offsetAtTime, readRange, readUnwritten } from './segment-read.js';
import { type RecoveryCounters, recoverSegments } from './segment-recovery.js';
import { type DurableCallback, SegmentWriter } from './segment-writer.js';
import { describeDamage, type StorageDamage } from './storage-damage.js';

export { segmentFileName } from './segment.js';
export { SegmentFormatError } from './segment-header.js';
export type { RecoveryCounters } from './segment-recovery.js';

export interface SegmentLogOptions {
  dir: string;
  /** A segment is rolled once it reaches this size. Default 64 MiB. */
  segmentMaxBytes?: number;
  commit: GroupCommit;
  fsync: boolean;
  /** Reports recoverable problems found at open (corrupt records, odd files). */
  onWarning?: (message: string) => void;
  /** Called with each damaged range recovery skipped (also logged through onWarning). */
  onDamage?: (damage: StorageDamage) => void;
  /** Called on every failed write or sync (the broker re-checks free disk space at once). */
  onWriteError?: (err: Error) => void;
  /** Shared pool of open files; default: the process-wide one. */
  files?: FileHandleCache;
  /**
   * The directory is known to hold nothing of this log (a transient log after the broker wiped transient/):
   * skip the scan. Either way, a log without files creates its directory only at its first write.
   */
  fresh?: boolean;
  /** Persist the index of each sealed segment (default: unless fresh; a transient log is never reopened). */
  persistIndexes?: boolean;
  /**
   * Keep an entry table per segment (segment-entries.ts), persisted with its index, for a queue's recovery
   * (see recoveredEntries). Default false.
   */
  entryTables?: boolean;
}

/** Public description of a segment (streams will use the timestamps for time-based lookups). */
export interface SegmentInfo {
  base: number;
  nextOffset: number;
  sizeBytes: number;
  firstTimestamp: number;
  lastTimestamp: number;
  /** Largest record timestamp (lastTimestamp can be smaller when the clock stepped back). */
  maxTimestamp: number;
}

export class SegmentLogError extends Error {
  override name = 'SegmentLogError';
}

export const DEFAULT_SEGMENT_MAX_BYTES = 64 * 1024 * 1024;
/** Tiny segments are allowed (tests use a few hundred bytes); a record larger than the limit gets its own. */
const MIN_SEGMENT_MAX_BYTES = 256;

function noop(): void {}

export class SegmentLog {
  readonly dir: string;
  private readonly segmentMaxBytes: number;
  private readonly fsync: boolean;
  private readonly entryTables: boolean;
  private readonly warn: (message: string) => void;
  private readonly files: FileHandleCache;
  /** The directory may exist (found at open, or a file was created since): destroy() must remove it. */
  private dirMayExist = true;
  /** Live segments in base order; the last one is active. */
  private segments: Segment[] = [];
  private next = 0;
  /** Offsets were reserved since the last appended record (see reserveOffset). */
  private gapPending = false;
  private readonly writer: SegmentWriter;
  private readonly indexes: IndexPersister;
  private readonly view: LogView;
  private readonly onDamage: (damage: StorageDamage) => void;
  /** Damage recovery (or a read since) found and stepped over (kept for the health endpoint). */
  readonly damage: StorageDamage[] = [];
  /** What open() did: segments scanned and segments loaded from their index file. */
  readonly recovery: RecoveryCounters = { segmentsScanned: 0, segmentsFromIndex: 0 };

  private constructor(opts: SegmentLogOptions) {
    this.dir = opts.dir;
    this.segmentMaxBytes = Math.max(MIN_SEGMENT_MAX_BYTES, opts.segmentMaxBytes ?? DEFAULT_SEGMENT_MAX_BYTES);
    this.fsync = opts.fsync && opts.commit.fsync;
    this.entryTables = opts.entryTables ?? false;
    this.warn = opts.onWarning ?? noop;
    this.files = opts.files ?? sharedFileHandleCache();
    this.onDamage = opts.onDamage ?? noop;
    this.writer = new SegmentWriter({
      dir: this.dir,
      commit: opts.commit,
      fsync: this.fsync,
      warn: this.warn,
      onWriteError: opts.onWriteError ?? noop,
      onOpen: () => {
        this.dirMayExist = true;
      },
      doneWith: (seg) => this.maybeReap(seg),
    });
    this.indexes = new IndexPersister({
      dir: this.dir,
      fsync: this.fsync,
      enabled: opts.persistIndexes ?? !opts.fresh,
      warn: this.warn,
      whenWritten: (seg) =>
        new Promise((resolve) => this.whenDurable(seg.nextOffset - 1, (err) => resolve(err === null))),
    });
    const log = this;
    this.view = {
      get segments() {
        return log.segments;
      },
      get unwritten() {
        return log.writer.unwritten;
      },
      get writtenThrough() {
        return log.writer.writtenThrough;
      },
      get nextOffset() {
        return log.next;
      },
      warn: this.warn,
      doneWith: (seg) => this.maybeReap(seg),
      damageFound: (seg, damage) => {
        this.reportDamage(damage);
        if (seg.sealedSize >= 0) this.indexes.seal(seg, seg.sealedSize); // remember the hole
      },
    };
  }

  static async open(opts: SegmentLogOptions): Promise<SegmentLog> {
    const log = new SegmentLog(opts);
    if (opts.fresh) {
      log.dirMayExist = false;
      log.segments.push(log.newSegment(0));
    } else {
      await log.recover();
    }
    return log;
  }

  /** false when the log found no directory at open and has written nothing since (it holds no file). */
  get onDisk(): boolean {
    return this.dirMayExist;
  }

  get nextOffset(): number {
    return this.next;
  }

  get firstOffset(): number {
    return this.segments[0].base;
  }

  /** Bytes of the segment files (headers included; a segment not yet created counts 0). */
  get sizeBytes(): number {
    let n = 0;
    for (const s of this.segments) if (!s.headerPending || !s.empty) n += s.size;
    return n;
  }

  get activeSegmentBase(): number {
    return this.active.base;
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1];
  }

  segmentInfos(): SegmentInfo[] {
    return this.segments.map((s) => ({
      base: s.base,
      nextOffset: s.nextOffset,
      sizeBytes: s.size,
      firstTimestamp: s.firstTimestamp,
      lastTimestamp: s.lastTimestamp,
      maxTimestamp: s.maxTimestamp,
    }));
  }

  /**
   * With entryTables, right after open: every live segment's entry table in base order, with the damaged
   * offset ranges its records must be checked against (a table written before a read found a hole still lists
   * the records lost in it). Call releaseRecoveredEntries() once they are used.
   */
  recoveredEntries(): Array<{ entries: SegmentEntries; lostRanges: readonly number[] | null }> {
    return this.segments.map((s) => {
      if (s.entries === null) throw new SegmentLogError(`segment ${s.file} has no entry table`);
      return { entries: s.entries, lostRanges: s.holeOffsets };
    });
  }

  /** Drops the sealed segments' entry tables (the active one keeps building its own). */
  releaseRecoveredEntries(): void {
    for (const s of this.segments) if (s !== this.active) s.entries = null;
  }

  /** Base offset of the live segment holding offset, or -1 (out of range or in a deleted segment). */
  segmentBaseFor(offset: number): number {
    const seg = findSegment(this.segments, offset);
    return seg ? seg.base : -1;
  }

  /** One past the last offset of the live segment with this base, or -1. */
  segmentEnd(base: number): number {
    const seg = findSegment(this.segments, base);
    return seg && seg.base === base ? seg.nextOffset : -1;
  }

  /**
   * Never hands out an offset below `offset` (call before the first append after open): recovery found a
   * durable reference (a settle record) to offsets the log no longer holds, and reusing them would let that
   * reference swallow a new message. Starts a new segment there, created at once so the floor is durable.
   */
  async skipTo(offset: number): Promise<void> {
    if (offset <= this.next) return;
    if (this.writer.unwritten.length > 0) throw new SegmentLogError('skipTo() after an append');
    const active = this.active;
    if (active.empty) {
      this.segments.pop();
      await active.handle.close();
      if (active.handle.exists) await fs.promises.unlink(active.file).catch(noop);
    } else {
      this.indexes.seal(active, active.size);
    }
    const seg = this.newSegment(offset);
    this.segments.push(seg);
    this.next = offset;
    this.writer.reset(offset);
    if (this.fsync || this.dirMayExist) {
      const fd = await seg.handle.acquire();
      try {
        await writeAll(fd, encodeSegmentHeader(offset), 0);
        if (this.fsync) await fdatasync(fd);
      } finally {
        seg.handle.release();
      }
      seg.headerPending = false;
      seg.writtenSize = SEGMENT_HEADER_BYTES;
      this.dirMayExist = true;
    }
  }

  /** Assigns the next offset to rec and queues it for the next batched write. */
  append(rec: NewRecord): number {
    if (this.writer.failed) throw this.writer.failed;
    if (this.writer.closed) throw new SegmentLogError('segment log is closed');
    const size = encodedRecordSize(rec);
    let seg = this.active;
    if (seg.size > seg.dataStart && seg.size + size > this.segmentMaxBytes) seg = this.roll();
    const offset = this.next;
    const pos = seg.size;
    // Offsets reserved since the last record leave a gap the record says it follows (not damage).
    this.writer.add(seg, rec, size, offset, this.gapPending && offset > seg.base);
    this.gapPending = false;
    seg.noteRecord(offset, pos, size, rec.timestamp);
    seg.entries?.add(offset, rec.body.length, rec.expiresAt, rec.priority, rec.persistent);
    this.next = offset + 1;
    return offset;
  }

  /** Takes the next offset without a record: it stays a gap in the log (see QueueStore.reserveOffset). */
  reserveOffset(): number {
    if (this.writer.failed) throw this.writer.failed;
    if (this.writer.closed) throw new SegmentLogError('segment log is closed');
    this.gapPending = true;
    return this.next++;
  }

  /**
   * cb once the record at offset is written and, if it is persistent (and fsync is on), synced.
   * Meant for publisher confirms.
   */
  whenDurable(offset: number, cb: DurableCallback): void {
    if (this.writer.failed) {
      process.nextTick(cb, this.writer.failed);
      return;
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= this.next) {
      process.nextTick(cb, new SegmentLogError(`offset ${offset} was never appended`));
      return;
    }
    this.writer.whenDurable(offset, cb);
  }

  /** The record at offset, or undefined if it does not exist (never appended, deleted, lost to corruption). */
  async read(offset: number): Promise<LogRecord | undefined> {
    if (!Number.isSafeInteger(offset) || offset < this.firstOffset || offset >= this.next) return undefined;
    const inMemory = readUnwritten(this.view, offset);
    if (inMemory !== null) return inMemory;
    const out = await readRange(this.view, offset, 0, 1, true);
    return out.length > 0 && out[0].offset === offset ? out[0] : undefined;
  }

  /**
   * Records with offset >= fromOffset, in order, up to maxCount records and about maxBytes of encoded
   * records (at least one record is returned when one exists). Deleted segments are skipped.
   */
  readRange(fromOffset: number, maxBytes: number, maxCount: number): Promise<LogRecord[]> {
    return readRange(this.view, fromOffset, maxBytes, maxCount, true);
  }

  /**
   * Every record from fromOffset on, streamed one bounded batch at a time. The yielded records' buffers
   * are views into a shared read window: copy them if you keep them.
   */
  async *records(fromOffset = this.firstOffset, batchBytes = 4 * 1024 * 1024): AsyncGenerator<LogRecord> {
    let from = fromOffset;
    for (;;) {
      const batch = await readRange(this.view, from, batchBytes, 65536, false);
      if (batch.length === 0) return;
      for (const r of batch) yield r;
      from = batch[batch.length - 1].offset + 1;
    }
  }

  /**
   * The first offset whose record's timestamp is >= timestampMs (nextOffset if none is): segments are picked
   * by their largest timestamp, the position by the time index, then at most one index interval is read.
   */
  offsetAtTime(timestampMs: number): Promise<number> {
    return offsetAtTime(this.view, timestampMs);
  }

  /** Calls cb for every record in order (see records() about buffer lifetime). */
  async scan(cb: (rec: LogRecord) => void): Promise<void> {
    for await (const r of this.records()) cb(r);
  }

  /** Deletes every non-active segment whose offsets are all < offset. Returns how many were deleted. */
  deleteSegmentsBefore(offset: number): number {
    let n = 0;
    while (this.segments.length > 1 && this.segments[0].nextOffset <= offset) {
      this.deleteSegment(this.segments[0].base);
      n++;
    }
    return n;
  }

  /** Deletes the (non-active) segment with this base; false if there is none or it is the active one. */
  deleteSegment(base: number): boolean {
    const i = this.segments.findIndex((s) => s.base === base);
    if (i < 0 || i === this.segments.length - 1) return false;
    const seg = this.segments[i];
    this.segments.splice(i, 1);
    seg.deleted = true;
    this.maybeReap(seg);
    return true;
  }

  /** Waits for pending writes, syncs and index writes, syncs the active segment, and closes every file. */
  async close(): Promise<void> {
    if (this.writer.closed) return;
    await this.writer.close();
    await this.indexes.flush();
    const active = this.active;
    if (this.fsync && !this.writer.failed && active.handle.exists) {
      const fd = await active.handle.acquire().catch(() => -1);
      if (fd >= 0) {
        await fdatasync(fd).catch(noop);
        active.handle.release();
      }
    }
    for (const seg of this.segments) await seg.handle.close();
  }

  /** Closes the log and removes its directory. */
  async destroy(): Promise<void> {
    await this.close();
    if (this.dirMayExist) await fs.promises.rm(this.dir, { recursive: true, force: true });
  }

  /**
   * Seals the active segment (its index is written once its records are) and starts the next one. The sealed
   * segment's entry table goes with its index; nothing needs it in memory any more.
   */
  private roll(): Segment {
    const sealed = this.active;
    const seg = this.newSegment(this.next);
    this.segments.push(seg);
    this.indexes.seal(sealed, sealed.size);
    sealed.entries = null;
    return seg;
  }

  /** A segment whose file is created at its first write, which carries the header. */
  private newSegment(base: number): Segment {
    const file = path.join(this.dir, segmentFileName(base));
    const seg = new Segment(base, this.files.handle(file, { exists: false, syncDirOnCreate: this.fsync }));
    seg.headerPending = true;
    if (this.entryTables) seg.entries = new SegmentEntries(base);
    return seg;
  }

  /** Unlinks and closes a deleted segment (and its index) once nothing uses it any more. */
  private maybeReap(seg: Segment): void {
    if (!seg.deleted || seg.reaped || seg.users > 0 || seg.writtenSize < seg.size) return;
    seg.reaped = true;
    seg.handle.close().catch(noop);
    fs.unlink(seg.file, (err) => {
      if (err && err.code !== 'ENOENT') this.warn(`could not delete segment ${seg.file}: ${err.message}`);
    });
    if (this.indexes.enabled) fs.unlink(this.indexes.indexFile(seg), noop);
  }

  private async recover(): Promise<void> {
    const found = await recoverSegments({
      dir: this.dir,
      files: this.files,
      fsync: this.fsync,
      warn: this.warn,
      reportDamage: (d) => this.reportDamage(d),
      indexNeeded: (seg, fileSize) => this.indexes.seal(seg, fileSize),
      entryTables: this.entryTables,
      counters: this.recovery,
    });
    this.dirMayExist = found.dirExists; // a new log: the directory is made at the first write
    this.segments = found.segments;
    this.next = found.next;
    // Appends never go to a sealed segment (its tail may be corrupt): start a new one, created on first write.
    if (!found.activeFound) this.segments.push(this.newSegment(this.next));
    this.writer.reset(this.next);
  }

  private reportDamage(damage: StorageDamage): void {
    this.damage.push(damage);
    this.warn(describeDamage(damage));
    this.onDamage(damage);
  }
}
