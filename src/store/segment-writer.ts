/**
 * The write side of a SegmentLog: appended records are encoded into in-memory batches, written once per
 * event-loop tick with one positional writev per segment, and made durable through the shared GroupCommit.
 * Tracks which offsets are written and durable, and calls back whoever waits for them (publisher confirms).
 *
 * Failures: a failed write (a full disk, say) keeps its batch in memory and is retried with backoff at the
 * same file position, so the log recovers by itself once space is free; confirms wait meanwhile. A failed
 * sync fails the confirms of what it covered (they may or may not be on disk: the publisher decides).
 */
import { writevFull } from './fs-io.js';
import type { GroupCommit } from './group-commit.js';
import { encodeRecord, type NewRecord } from './record-format.js';
import type { Segment } from './segment.js';
import { encodeSegmentHeader, SEGMENT_HEADER_BYTES } from './segment-header.js';
import type { Chunk } from './segment-read.js';
import { WaiterQueue } from './waiter-queue.js';

const CHUNK_BYTES = 256 * 1024;
const CHUNK_POOL_MAX = 16;
/** Backoff of write retries after a failure: doubles from the first to the last. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 1000;

/** Batch buffers are recycled across all logs: one allocation per tick would churn the GC. */
const chunkPool: Buffer[] = [];

export type DurableCallback = (err: Error | null) => void;

export interface SegmentWriterOptions {
  dir: string;
  commit: GroupCommit;
  /** Sync persistent records (already combined with the commit's own setting). */
  fsync: boolean;
  warn: (message: string) => void;
  onWriteError: (err: Error) => void;
  /** A segment file is about to be opened (maybe created) for a write. */
  onOpen: () => void;
  /** A write or sync that pinned seg is over (a deleted segment may now be unlinked). */
  doneWith: (seg: Segment) => void;
}

export class SegmentWriter {
  /** Batches not yet written, oldest first (the first inFlightChunks of them are being written). */
  unwritten: Chunk[] = [];
  /** Every offset below is written to its file. */
  writtenThrough = 0;
  /** Every offset below is written, and synced if it was persistent. */
  durableThrough = 0;
  /** Set only by close-time write failures and file errors that leave nothing to retry. */
  failed: Error | null = null;
  closed = false;
  private readonly dir: string;
  private readonly commit: GroupCommit;
  private readonly fsync: boolean;
  private readonly warn: (message: string) => void;
  private readonly onWriteError: (err: Error) => void;
  private readonly onOpen: () => void;
  private readonly doneWith: (seg: Segment) => void;
  /** Persistent flag of each offset >= flagsBase that is not yet durable. */
  private flags = new Uint8Array(1024);
  private flagsBase = 0;
  private inFlightChunks = 0;
  private flushScheduled = false;
  private syncOutstanding = 0;
  private writeWaiters = new WaiterQueue();
  private syncWaiters = new WaiterQueue();
  private idleWaiters: Array<() => void> = [];
  /** Pending retry of a failed write, and the delay of the next one. */
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = RETRY_FIRST_MS;
  private failedWrites = 0;

  constructor(opts: SegmentWriterOptions) {
    this.dir = opts.dir;
    this.commit = opts.commit;
    this.fsync = opts.fsync;
    this.warn = opts.warn;
    this.onWriteError = opts.onWriteError;
    this.onOpen = opts.onOpen;
    this.doneWith = opts.doneWith;
  }

  /** Everything below offset is on disk (after recovery, or a skip with nothing pending). */
  reset(offset: number): void {
    this.writtenThrough = this.durableThrough = this.flagsBase = offset;
  }

  /** Encodes rec (size bytes, already validated) with this offset at seg's end, for the next batched write. */
  add(seg: Segment, rec: NewRecord, size: number, offset: number, afterGap = false): void {
    let chunk =
      this.unwritten.length > this.inFlightChunks ? this.unwritten[this.unwritten.length - 1] : undefined;
    if (chunk === undefined || chunk.seg !== seg || chunk.buf.length - chunk.used < size) {
      chunk = newChunk(seg, size, offset);
      this.unwritten.push(chunk);
    }
    chunk.used = encodeRecord(rec, offset, chunk.buf, chunk.used, afterGap);
    chunk.nextOffset = offset + 1;
    if (rec.persistent) chunk.persistent = true;
    this.setFlag(offset, rec.persistent);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushPending);
    }
  }

  /** cb once the (appended) record at offset is written and, if persistent and fsync is on, synced. */
  whenDurable(offset: number, cb: DurableCallback): void {
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

  /** Stops retrying (one last attempt) and waits for every pending write and sync. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) {
      // One last attempt; failing again while closed fails the waiters (see writeFailed).
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    await this.whenIdle();
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
      this.onOpen();
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
        this.doneWith(seg);
        this.checkIdle();
      });
    } else {
      seg.handle.release();
      if (this.syncOutstanding === 0) this.durableThrough = through;
    }
    this.doneWith(seg);
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
}

/** A batch buffer for seg starting with the record at offset; the segment's first one begins with its header. */
function newChunk(seg: Segment, recordSize: number, offset: number): Chunk {
  const header = seg.headerPending ? SEGMENT_HEADER_BYTES : 0;
  const need = header + recordSize;
  const buf =
    need <= CHUNK_BYTES ? (chunkPool.pop() ?? Buffer.allocUnsafe(CHUNK_BYTES)) : Buffer.allocUnsafe(need);
  if (header > 0) {
    encodeSegmentHeader(seg.base, buf, 0);
    seg.headerPending = false;
  }
  return {
    seg,
    buf,
    used: header,
    dataStart: header,
    filePos: seg.size - header,
    firstOffset: offset,
    nextOffset: offset,
    persistent: false,
  };
}
