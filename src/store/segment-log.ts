/**
 * Append-only log of framed records in segment files named by their base offset.
 *
 * Appends are synchronous and only encode into an in-memory batch; the batch is written once per
 * event-loop tick with one positional writev, and made durable through the shared GroupCommit.
 * Each segment keeps a sparse offset index (one entry per ~4 KiB) built while appending or at open.
 * Files are opened through a shared FileHandleCache (bounded open descriptors), and a new log creates its
 * directory and first segment file only at its first write.
 *
 * Failures: a failed write (a full disk, say) keeps its batch in memory and is retried with backoff at the
 * same file position, so the log recovers by itself once space is free; confirms wait meanwhile. A failed
 * sync fails the confirms of what it covered (they may or may not be on disk: the publisher decides) and
 * the log carries on. Recovery steps over damaged records (see segment-scan.ts) and reports them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type FileHandleCache, sharedFileHandleCache } from './file-handle-cache.js';
import { fdatasync, readFull, writevFull } from './fs-io.js';
import type { GroupCommit } from './group-commit.js';
import {
  checkRecord,
  decodeRecord,
  encodedRecordSize,
  encodeRecord,
  type LogRecord,
  type NewRecord,
  RECORD_CORRUPT,
  RECORD_INCOMPLETE,
  recordOffsetAt,
} from './record-format.js';
import { Segment, segmentFileName } from './segment.js';
import { scanSegment } from './segment-scan.js';
import { describeDamage, type StorageDamage } from './storage-damage.js';
import { WaiterQueue } from './waiter-queue.js';

export { segmentFileName } from './segment.js';

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
}

/** Public description of a segment (streams will use the timestamps for time-based lookups). */
export interface SegmentInfo {
  base: number;
  nextOffset: number;
  sizeBytes: number;
  firstTimestamp: number;
  lastTimestamp: number;
}

export class SegmentLogError extends Error {
  override name = 'SegmentLogError';
}

export const DEFAULT_SEGMENT_MAX_BYTES = 64 * 1024 * 1024;
/** Tiny segments are allowed (tests use a few hundred bytes); a record larger than the limit gets its own. */
const MIN_SEGMENT_MAX_BYTES = 256;
const CHUNK_BYTES = 256 * 1024;
const CHUNK_POOL_MAX = 16;
/** Backoff of write retries after a failure: doubles from the first to the last. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 1000;
const SEGMENT_NAME = /^(\d{20})\.seg$/;

/** Batch buffers are recycled across all logs: one allocation per tick would churn the GC. */
const chunkPool: Buffer[] = [];

type DurableCallback = (err: Error | null) => void;

interface Chunk {
  seg: Segment;
  buf: Buffer;
  used: number;
  /** Position in seg's file of buf[0]. */
  filePos: number;
  firstOffset: number;
  nextOffset: number;
  persistent: boolean;
}

function noop(): void {}

export class SegmentLog {
  readonly dir: string;
  private readonly segmentMaxBytes: number;
  private readonly commit: GroupCommit;
  private readonly fsync: boolean;
  private readonly warn: (message: string) => void;
  private readonly files: FileHandleCache;
  /** The directory may exist (found at open, or a file was created since): destroy() must remove it. */
  private dirMayExist = true;
  /** Live segments in base order; the last one is active. */
  private segments: Segment[] = [];
  private next = 0;
  /** Every offset below is written to its file. */
  private writtenThrough = 0;
  /** Every offset below is written, and synced if it was persistent. */
  private durableThrough = 0;
  /** Persistent flag of each offset >= flagsBase that is not yet durable. */
  private flags = new Uint8Array(1024);
  private flagsBase = 0;
  private unwritten: Chunk[] = [];
  private inFlightChunks = 0;
  private flushScheduled = false;
  private syncOutstanding = 0;
  private writeWaiters = new WaiterQueue();
  private syncWaiters = new WaiterQueue();
  private idleWaiters: Array<() => void> = [];
  /** Set only by close-time write failures and file errors that leave nothing to retry. */
  private failed: Error | null = null;
  private closed = false;
  /** Pending retry of a failed write, and the delay of the next one. */
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = RETRY_FIRST_MS;
  private failedWrites = 0;
  private readonly onDamage: (damage: StorageDamage) => void;
  private readonly onWriteError: (err: Error) => void;
  /** Damage recovery found and stepped over (kept for the health endpoint). */
  readonly damage: StorageDamage[] = [];

  private constructor(opts: SegmentLogOptions) {
    this.dir = opts.dir;
    this.segmentMaxBytes = Math.max(MIN_SEGMENT_MAX_BYTES, opts.segmentMaxBytes ?? DEFAULT_SEGMENT_MAX_BYTES);
    this.commit = opts.commit;
    this.fsync = opts.fsync && opts.commit.fsync;
    this.warn = opts.onWarning ?? noop;
    this.files = opts.files ?? sharedFileHandleCache();
    this.onDamage = opts.onDamage ?? noop;
    this.onWriteError = opts.onWriteError ?? noop;
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

  get sizeBytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.size;
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
    }));
  }

  /** Base offset of the live segment holding offset, or -1 (out of range or in a deleted segment). */
  segmentBaseFor(offset: number): number {
    const seg = this.findSegment(offset);
    return seg ? seg.base : -1;
  }

  /** One past the last offset of the live segment with this base, or -1. */
  segmentEnd(base: number): number {
    const seg = this.findSegment(base);
    return seg && seg.base === base ? seg.nextOffset : -1;
  }

  /**
   * Never hands out an offset below `offset` (call before the first append after open): recovery found a
   * durable reference (a settle record) to offsets the log no longer holds, and reusing them would let that
   * reference swallow a new message. Starts a new segment there, created at once so the floor is durable.
   */
  async skipTo(offset: number): Promise<void> {
    if (offset <= this.next) return;
    if (this.unwritten.length > 0) throw new SegmentLogError('skipTo() after an append');
    const active = this.active;
    if (active.size === 0) {
      this.segments.pop();
      await active.handle.close();
      if (active.handle.exists) await fs.promises.unlink(active.file).catch(noop);
    }
    const seg = this.newSegment(offset);
    this.segments.push(seg);
    this.next = this.writtenThrough = this.durableThrough = this.flagsBase = offset;
    if (this.fsync || this.dirMayExist) {
      await seg.handle.acquire();
      seg.handle.release();
      this.dirMayExist = true;
    }
  }

  /** Assigns the next offset to rec and queues it for the next batched write. */
  append(rec: NewRecord): number {
    if (this.failed) throw this.failed;
    if (this.closed) throw new SegmentLogError('segment log is closed');
    const size = encodedRecordSize(rec);
    let seg = this.active;
    if (seg.size > 0 && seg.size + size > this.segmentMaxBytes) seg = this.roll();
    const offset = this.next;
    let chunk =
      this.unwritten.length > this.inFlightChunks ? this.unwritten[this.unwritten.length - 1] : undefined;
    if (chunk === undefined || chunk.seg !== seg || chunk.buf.length - chunk.used < size) {
      const buf =
        size <= CHUNK_BYTES ? (chunkPool.pop() ?? Buffer.allocUnsafe(CHUNK_BYTES)) : Buffer.allocUnsafe(size);
      chunk = {
        seg,
        buf,
        used: 0,
        filePos: seg.size,
        firstOffset: offset,
        nextOffset: offset,
        persistent: false,
      };
      this.unwritten.push(chunk);
    }
    const pos = seg.size;
    chunk.used = encodeRecord(rec, offset, chunk.buf, chunk.used);
    chunk.nextOffset = offset + 1;
    if (rec.persistent) chunk.persistent = true;
    seg.noteRecord(offset, pos, size, rec.timestamp);
    this.setFlag(offset, rec.persistent);
    this.next = offset + 1;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushPending);
    }
    return offset;
  }

  /**
   * cb once the record at offset is written and, if it is persistent (and fsync is on), synced.
   * Meant for publisher confirms.
   */
  whenDurable(offset: number, cb: DurableCallback): void {
    if (this.failed) {
      process.nextTick(cb, this.failed);
      return;
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= this.next) {
      process.nextTick(cb, new SegmentLogError(`offset ${offset} was never appended`));
      return;
    }
    if (offset < this.durableThrough) {
      process.nextTick(cb, null);
      return;
    }
    if (this.fsync && this.flags[offset - this.flagsBase] === 1) {
      this.syncWaiters.add(offset, cb);
    } else if (offset < this.writtenThrough) {
      process.nextTick(cb, null);
    } else {
      this.writeWaiters.add(offset, cb);
    }
  }

  /** The record at offset, or undefined if it does not exist (never appended, deleted, lost to corruption). */
  async read(offset: number): Promise<LogRecord | undefined> {
    if (!Number.isSafeInteger(offset) || offset < this.firstOffset || offset >= this.next) return undefined;
    const inMemory = this.readUnwritten(offset);
    if (inMemory !== null) return inMemory;
    const seg = this.findSegment(offset);
    if (!seg) return undefined;
    const out: LogRecord[] = [];
    await this.readFromSegment(seg, seg.writtenSize, offset, 0, 1, true, out);
    return out.length > 0 && out[0].offset === offset ? out[0] : undefined;
  }

  /**
   * Records with offset >= fromOffset, in order, up to maxCount records and about maxBytes of encoded
   * records (at least one record is returned when one exists). Deleted segments are skipped.
   */
  readRange(fromOffset: number, maxBytes: number, maxCount: number): Promise<LogRecord[]> {
    return this.readRangeInternal(fromOffset, maxBytes, maxCount, true);
  }

  /**
   * Every record from fromOffset on, streamed one bounded batch at a time. The yielded records' buffers
   * are views into a shared read window: copy them if you keep them.
   */
  async *records(fromOffset = this.firstOffset, batchBytes = 4 * 1024 * 1024): AsyncGenerator<LogRecord> {
    let from = fromOffset;
    for (;;) {
      const batch = await this.readRangeInternal(from, batchBytes, 65536, false);
      if (batch.length === 0) return;
      for (const r of batch) yield r;
      from = batch[batch.length - 1].offset + 1;
    }
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

  /** Waits for pending writes and syncs, syncs the active segment, and closes every file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) {
      // One last attempt; failing again while closed fails the waiters (see writeFailed).
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    await this.whenIdle();
    const active = this.active;
    if (this.fsync && !this.failed && active.handle.exists) {
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

  // ---- writing ----

  private roll(): Segment {
    const seg = this.newSegment(this.next);
    this.segments.push(seg);
    return seg;
  }

  /** A segment whose file is created at its first write. */
  private newSegment(base: number): Segment {
    const file = path.join(this.dir, segmentFileName(base));
    return new Segment(base, this.files.handle(file, { exists: false, syncDirOnCreate: this.fsync }));
  }

  private setFlag(offset: number, persistent: boolean): void {
    let i = offset - this.flagsBase;
    if (i >= this.flags.length) {
      // Drop flags below durableThrough first; grow only if still needed.
      const keepFrom = Math.min(this.durableThrough, offset) - this.flagsBase;
      const live = i - keepFrom;
      const target = live * 2 > this.flags.length ? new Uint8Array(this.flags.length * 2) : this.flags;
      target.set(this.flags.subarray(keepFrom, i), 0);
      this.flags = target;
      this.flagsBase += keepFrom;
      i = offset - this.flagsBase;
    }
    this.flags[i] = persistent ? 1 : 0;
  }

  private readonly flushPending = (): void => {
    this.flushScheduled = false;
    this.writeNext();
  };

  /** Writes the chunks of the oldest unwritten segment in one writev; one write in flight per log. */
  private writeNext(): void {
    if (this.inFlightChunks > 0 || this.unwritten.length === 0 || this.failed || this.retryTimer) {
      this.checkIdle();
      return;
    }
    const seg = this.unwritten[0].seg;
    let n = 0;
    while (n < this.unwritten.length && this.unwritten[n].seg === seg) n++;
    this.inFlightChunks = n;
    const bufs: Buffer[] = [];
    for (let i = 0; i < n; i++) bufs.push(this.unwritten[i].buf.subarray(0, this.unwritten[i].used));
    const first = this.unwritten[0];
    const last = this.unwritten[n - 1];
    const persistent = this.unwritten.slice(0, n).some((c) => c.persistent);
    // The handle stays pinned from here until the write (and its sync, if any) completes.
    const start = (fd: number) => {
      writevFull(fd, bufs, first.filePos, (err) => {
        if (err) {
          seg.handle.release();
          return this.writeFailed(err);
        }
        this.afterWrite(seg, fd, n, last.filePos + last.used, last.nextOffset, persistent);
      });
    };
    const fd = seg.handle.tryAcquire();
    if (fd >= 0) start(fd);
    else {
      this.dirMayExist = true;
      seg.handle.acquire().then(start, (err: Error) => this.writeFailed(err));
    }
  }

  /**
   * The batch stays queued and is written again, at the same position, after a backoff: a full disk is
   * usually freed, and rewriting identical bytes over a partial write is harmless. Closing gives up.
   */
  private writeFailed(err: Error): void {
    this.inFlightChunks = 0;
    if (this.failedWrites++ === 0) this.warn(`write to ${this.dir} failed, retrying: ${err.message}`);
    this.onWriteError(err);
    if (this.closed) {
      this.fail(err);
      return;
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.writeNext();
    }, this.retryDelayMs);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, RETRY_MAX_MS);
  }

  private afterWrite(
    seg: Segment,
    fd: number,
    n: number,
    writtenSize: number,
    through: number,
    persistent: boolean,
  ): void {
    seg.writtenSize = writtenSize;
    if (this.failedWrites > 0) {
      this.warn(`writes to ${this.dir} resumed after ${this.failedWrites} failed attempts`);
      this.failedWrites = 0;
      this.retryDelayMs = RETRY_FIRST_MS;
    }
    for (let i = 0; i < n; i++) {
      const c = this.unwritten[i];
      if (c.buf.length === CHUNK_BYTES && chunkPool.length < CHUNK_POOL_MAX) chunkPool.push(c.buf);
    }
    this.unwritten.splice(0, n);
    this.inFlightChunks = 0;
    this.writtenThrough = through;
    if (persistent && this.fsync) {
      this.syncOutstanding++;
      seg.users++;
      this.commit.requestSync(fd, (err) => {
        seg.handle.release();
        seg.users--;
        this.syncOutstanding--;
        if (err) {
          // After a failed fsync the kernel may have dropped the dirty pages: what this sync covered is not
          // known to be durable, so its confirms fail; later writes get syncs of their own.
          this.warn(`sync of ${seg.file} failed: ${err.message}`);
          this.onWriteError(err);
          this.durableThrough = Math.max(this.durableThrough, through);
          this.syncWaiters.release(through, err);
        } else {
          this.durableThrough = Math.max(
            this.durableThrough,
            this.syncOutstanding === 0 ? this.writtenThrough : through,
          );
          this.syncWaiters.release(this.durableThrough, null);
        }
        this.maybeReap(seg);
        this.checkIdle();
      });
    } else {
      seg.handle.release();
      if (this.syncOutstanding === 0) this.durableThrough = through;
    }
    this.maybeReap(seg);
    try {
      this.writeWaiters.release(through, null);
      if (!this.fsync) this.syncWaiters.release(through, null);
    } finally {
      this.writeNext();
    }
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.inFlightChunks = 0;
    this.unwritten = [];
    this.writeWaiters.release(Number.POSITIVE_INFINITY, err);
    this.syncWaiters.release(Number.POSITIVE_INFINITY, err);
    this.checkIdle();
  }

  private whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      if (!this.flushScheduled || this.closed) this.writeNext();
      else this.checkIdle();
    });
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0) return;
    const idle =
      this.failed !== null ||
      (this.unwritten.length === 0 && this.inFlightChunks === 0 && this.syncOutstanding === 0);
    if (!idle) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  // ---- files ----

  /** Unlinks and closes a deleted segment once nothing uses it any more. */
  private maybeReap(seg: Segment): void {
    if (!seg.deleted || seg.reaped || seg.users > 0 || seg.writtenSize < seg.size) return;
    seg.reaped = true;
    seg.handle.close().catch(noop);
    fs.unlink(seg.file, (err) => {
      if (err && err.code !== 'ENOENT') this.warn(`could not delete segment ${seg.file}: ${err.message}`);
    });
  }

  // ---- reading ----

  private findSegment(offset: number): Segment | undefined {
    const segs = this.segments;
    let lo = 0;
    let hi = segs.length - 1;
    if (hi < 0 || offset < segs[0].base) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (segs[mid].base <= offset) lo = mid;
      else hi = mid - 1;
    }
    const seg = segs[lo];
    return offset < seg.nextOffset ? seg : undefined;
  }

  /** null when offset is not in the in-memory batches. */
  private readUnwritten(offset: number): LogRecord | undefined | null {
    if (offset < this.writtenThrough) return null;
    for (const c of this.unwritten) {
      if (offset < c.firstOffset || offset >= c.nextOffset) continue;
      if (c.seg.deleted) return undefined;
      let p = 0;
      while (p < c.used) {
        const size = c.buf.readUInt32BE(p) + 4;
        if (recordOffsetAt(c.buf, p) === offset) return decodeRecord(c.buf, p, size, true);
        p += size;
      }
    }
    return null;
  }

  private collectUnwritten(
    seg: Segment,
    from: number,
    maxBytes: number,
    maxCount: number,
    out: LogRecord[],
    bytes: number,
  ): number {
    for (const c of this.unwritten) {
      if (c.seg !== seg || c.nextOffset <= from) continue;
      let p = 0;
      while (p < c.used) {
        const size = c.buf.readUInt32BE(p) + 4;
        if (recordOffsetAt(c.buf, p) >= from) {
          if (out.length >= maxCount || (out.length > 0 && bytes + size > maxBytes)) return -1;
          out.push(decodeRecord(c.buf, p, size, true));
          bytes += size;
        }
        p += size;
      }
    }
    return bytes;
  }

  private async readRangeInternal(
    fromOffset: number,
    maxBytes: number,
    maxCount: number,
    copy: boolean,
  ): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    if (!Number.isFinite(fromOffset) || maxCount < 1) return out;
    const from = Math.max(Math.floor(fromOffset), this.firstOffset);
    let bytes = 0;
    // Snapshot: segments deleted meanwhile are skipped by readFromSegment.
    for (const seg of this.segments.slice()) {
      if (seg.nextOffset <= from || seg.deleted) continue;
      for (;;) {
        const start = out.length > 0 ? out[out.length - 1].offset + 1 : from;
        const end = seg.writtenSize;
        bytes = await this.readFromSegment(seg, end, start, bytes, maxCount, copy, out, maxBytes);
        if (bytes < 0) return out;
        // A write completed while reading: its records left the in-memory batches, so read the file again
        // rather than skip them.
        if (seg.writtenSize !== end) {
          if (out.length > 0) return out;
          continue;
        }
        bytes = this.collectUnwritten(seg, start, maxBytes, maxCount, out, bytes);
        if (bytes < 0 || out.length >= maxCount) return out;
        break;
      }
    }
    return out;
  }

  /**
   * Appends to out the records of seg's written part with offset >= from; returns the running byte count,
   * or -1 once a limit is reached.
   */
  private async readFromSegment(
    seg: Segment,
    end: number,
    from: number,
    bytes: number,
    maxCount: number,
    copy: boolean,
    out: LogRecord[],
    maxBytes = 0,
  ): Promise<number> {
    if (seg.deleted || seg.reaped) return bytes;
    let pos = seg.positionFor(from);
    if (pos >= end) return bytes;
    seg.users++;
    let fd = -1;
    try {
      fd = seg.handle.tryAcquire();
      if (fd < 0) fd = await seg.handle.acquire();
      const window = Math.min(Math.max(maxBytes, 16 * 1024), 4 * 1024 * 1024);
      while (pos < end) {
        if (seg.reaped) return bytes;
        const want = Math.min(window, end - pos);
        let buf = Buffer.allocUnsafe(want);
        let got = await readFull(fd, buf, 0, want, pos);
        if (got < want) this.warn(`${seg.file} ends at byte ${pos + got}, before the ${end} written to it`);
        let p = 0;
        let jumpTo = -1;
        while (p < got) {
          if (seg.holes !== null && (jumpTo = seg.holeEndAt(pos + p)) >= 0) break;
          let size = checkRecord(buf, p, got);
          if (size === RECORD_INCOMPLETE) {
            if (p > 0) break; // re-read from this record's start
            if (got - p < 4 || pos + got >= end) return bytes;
            // A record larger than the window: read exactly it.
            const total = buf.readUInt32BE(p) + 4;
            buf = Buffer.allocUnsafe(total);
            got = await readFull(fd, buf, 0, total, pos);
            size = checkRecord(buf, 0, got);
          }
          if (size <= 0) {
            if (size === RECORD_CORRUPT) this.warn(`corrupt record in ${seg.file} at ${pos + p}`);
            return bytes;
          }
          if (recordOffsetAt(buf, p) >= from) {
            if (out.length >= maxCount || (out.length > 0 && maxBytes > 0 && bytes + size > maxBytes))
              return -1;
            out.push(decodeRecord(buf, p, size, copy));
            bytes += size;
            if (maxBytes === 0 && out.length >= maxCount) return -1;
          }
          p += size;
        }
        if (jumpTo >= 0) {
          pos = jumpTo; // over a hole recovery found
          continue;
        }
        if (p === 0) return bytes;
        pos += p;
      }
      return bytes;
    } finally {
      if (fd >= 0) seg.handle.release();
      seg.users--;
      this.maybeReap(seg);
    }
  }

  // ---- recovery ----

  private async recover(): Promise<void> {
    let names: string[];
    try {
      names = (await fs.promises.readdir(this.dir)).filter((n) => SEGMENT_NAME.test(n)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      names = [];
      this.dirMayExist = false; // a new log: the directory is made at the first write
    }
    let lastFileIsActive = false;
    /** A sealed segment whose tail is damaged: its lost offsets end where the next segment begins. */
    let damagedTail: { file: string; fromByte: number; toByte: number; firstOffset: number } | null = null;
    for (let i = 0; i < names.length; i++) {
      const base = Number(names[i].slice(0, 20));
      const file = path.join(this.dir, names[i]);
      const isLast = i === names.length - 1;
      if (!Number.isSafeInteger(base) || base < this.next) {
        this.warn(`ignoring segment ${file}: base offset overlaps the previous segment`);
        await fs.promises.rename(file, `${file}.ignored`).catch(noop);
        continue;
      }
      if (damagedTail) this.reportDamage({ ...damagedTail, lastOffset: base - 1 });
      damagedTail = null;
      const seg = new Segment(base, this.files.handle(file, { exists: true, syncDirOnCreate: false }));
      const fd = await seg.handle.acquire();
      try {
        const fileSize = (await fs.promises.stat(file)).size;
        const scan = await scanSegment(seg, fd, fileSize);
        for (const h of scan.holes) {
          this.reportDamage({
            file,
            fromByte: h.fromByte,
            toByte: h.toByte,
            firstOffset: h.firstLost,
            lastOffset: h.nextOffset - 1,
          });
        }
        if (scan.validEnd < fileSize) {
          if (isLast) {
            // Bytes after the last intact record of the active segment: a write torn by the crash.
            this.warn(`truncating torn tail of ${file} at ${scan.validEnd} (file had ${fileSize} bytes)`);
            await fs.promises.truncate(file, scan.validEnd);
            if (this.fsync) await fdatasync(fd);
          } else {
            damagedTail = { file, fromByte: scan.validEnd, toByte: fileSize, firstOffset: seg.nextOffset };
          }
        }
      } finally {
        seg.handle.release();
      }
      seg.writtenSize = seg.size;
      lastFileIsActive = isLast;
      if (!isLast) {
        await seg.handle.close(); // sealed: reopened on demand by reads
        if (seg.size === 0 && damagedTail === null) {
          await fs.promises.unlink(file).catch(noop);
          continue;
        }
      }
      this.segments.push(seg);
      this.next = seg.nextOffset;
    }
    // Appends never go to a sealed segment (its tail may be corrupt): start a new one, created on first write.
    if (!lastFileIsActive) this.segments.push(this.newSegment(this.next));
    this.writtenThrough = this.durableThrough = this.flagsBase = this.next;
  }

  private reportDamage(damage: StorageDamage): void {
    this.damage.push(damage);
    this.warn(describeDamage(damage));
    this.onDamage(damage);
  }
}
