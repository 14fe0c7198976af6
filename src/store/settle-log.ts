/**
 * Append-only file of settled (acked, dropped, purged) offsets of persistent messages.
 * Each entry is 12 bytes: u64 offset + u32 CRC32C of those 8 bytes. The CRC (beyond the plain u64 of the
 * first design) makes zero-filled or garbage tails after a crash detectable instead of settling offset 0.
 * Settles are fire-and-forget and batched per tick; flush() makes everything so far durable.
 * The file is opened through the shared FileHandleCache and only created by the first write.
 * A failed write or sync (a full disk) keeps its entries and is retried with backoff until it succeeds; while
 * it fails, settled messages would only be redelivered after a crash, never lost.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from './crc32c.js';
import { type FileHandle, type FileHandleCache, sharedFileHandleCache } from './file-handle-cache.js';
import { readFull, syncDir, writeAll, writevFull } from './fs-io.js';
import type { GroupCommit } from './group-commit.js';

export const SETTLE_ENTRY_BYTES = 12;
const TWO_32 = 0x1_0000_0000;
const BATCH_INITIAL_BYTES = 4096;
const LOAD_WINDOW_BYTES = 1024 * 1024;
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 1000;

export interface SettleLogOptions {
  commit: GroupCommit;
  fsync: boolean;
  onWarning?: (message: string) => void;
  /** Called on every failed write or sync. */
  onWriteError?: (err: Error) => void;
  /** Shared pool of open files; default: the process-wide one. */
  files?: FileHandleCache;
  /** The file is known not to exist (its store is new): skip the stat at open. */
  fresh?: boolean;
}

export class SettleLogError extends Error {
  override name = 'SettleLogError';
}

function encodeEntry(buf: Buffer, pos: number, offset: number): void {
  const hi = Math.floor(offset / TWO_32);
  buf.writeUInt32BE(hi, pos);
  buf.writeUInt32BE(offset - hi * TWO_32, pos + 4);
  buf.writeUInt32BE(crc32c(buf, pos, pos + 8), pos + 8);
}

export class SettleLog {
  private readonly files: FileHandleCache;
  private handle: FileHandle;
  private fileBytes = 0;
  private batch = Buffer.allocUnsafe(BATCH_INITIAL_BYTES);
  private batchUsed = 0;
  private writing = false;
  private scheduled = false;
  private compacting = false;
  private closed = false;
  /** Set only when the file cannot be used at all after closing; write failures are retried instead. */
  private failed: Error | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private retryDelayMs = RETRY_FIRST_MS;
  private failedAttempts = 0;
  /** Settles accepted / written / synced so far, to know which flush() callers can be released. */
  private accepted = 0;
  private written = 0;
  private synced = 0;
  private compaction: Promise<void> | null = null;
  private flushWaiters: Array<{ seq: number; resolve: () => void; reject: (e: Error) => void }> = [];
  private readonly fsync: boolean;
  private readonly warn: (message: string) => void;

  private constructor(
    readonly file: string,
    private readonly opts: SettleLogOptions,
  ) {
    this.fsync = opts.fsync && opts.commit.fsync;
    this.warn = opts.onWarning ?? (() => {});
    this.files = opts.files ?? sharedFileHandleCache();
    this.handle = this.files.handle(file, { exists: false, syncDirOnCreate: this.fsync });
  }

  static async open(file: string, opts: SettleLogOptions): Promise<SettleLog> {
    const log = new SettleLog(file, opts);
    if (opts.fresh) return log;
    try {
      log.fileBytes = (await fs.promises.stat(file)).size;
      log.handle.exists = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return log;
  }

  /** Whether the file exists (found at open or written since). */
  get onDisk(): boolean {
    return this.handle.exists;
  }

  /** Bytes in the file (entries written so far). */
  get sizeBytes(): number {
    return this.fileBytes;
  }

  get entryCount(): number {
    return Math.floor(this.fileBytes / SETTLE_ENTRY_BYTES);
  }

  /**
   * Streams every valid entry to onOffset, truncating a torn tail. Call once, before any settle().
   * Entries with a bad CRC in the middle are skipped (the message is redelivered rather than lost).
   */
  async load(onOffset: (offset: number) => void): Promise<void> {
    const buf = Buffer.allocUnsafe(LOAD_WINDOW_BYTES - (LOAD_WINDOW_BYTES % SETTLE_ENTRY_BYTES));
    let pos = 0;
    let validEnd = 0;
    let bad = 0;
    if (this.fileBytes === 0) return;
    const fd = await this.handle.acquire();
    try {
      while (pos < this.fileBytes) {
        const got = await readFull(fd, buf, 0, Math.min(buf.length, this.fileBytes - pos), pos);
        if (got === 0) break;
        const whole = got - (got % SETTLE_ENTRY_BYTES);
        for (let p = 0; p < whole; p += SETTLE_ENTRY_BYTES) {
          if (crc32c(buf, p, p + 8) !== buf.readUInt32BE(p + 8)) {
            bad++;
            continue;
          }
          onOffset(buf.readUInt32BE(p) * TWO_32 + buf.readUInt32BE(p + 4));
          validEnd = pos + p + SETTLE_ENTRY_BYTES;
        }
        pos += whole;
        if (whole < got) break;
      }
    } finally {
      this.handle.release();
    }
    if (validEnd < this.fileBytes) {
      this.warn(`settle log ${this.file}: dropping ${this.fileBytes - validEnd} bytes of torn tail`);
      await fs.promises.truncate(this.file, validEnd);
      this.fileBytes = validEnd;
    }
    if (bad > 0) this.warn(`settle log ${this.file}: skipped ${bad} corrupt entries`);
  }

  /** Records offset as settled; written with the next tick's batch. */
  settle(offset: number): void {
    if (this.closed) throw new SettleLogError('settle log is closed');
    if (!Number.isSafeInteger(offset) || offset < 0) throw new SettleLogError(`invalid offset ${offset}`);
    if (this.batchUsed + SETTLE_ENTRY_BYTES > this.batch.length) {
      const grown = Buffer.allocUnsafe(this.batch.length * 2);
      this.batch.copy(grown, 0, 0, this.batchUsed);
      this.batch = grown;
    }
    encodeEntry(this.batch, this.batchUsed, offset);
    this.batchUsed += SETTLE_ENTRY_BYTES;
    this.accepted++;
    this.schedule();
  }

  /** Resolves once every settle accepted before this call is written and (with fsync) synced. */
  flush(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.durableSeq() >= this.accepted) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.flushWaiters.push({ seq: this.accepted, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Rewrites the file keeping only entries >= liveFrom (and accepted by keep, if given):
   * tmp file + fsync + rename + fsync dir. Settles arriving meanwhile wait in memory and go to the new file.
   */
  compact(liveFrom: number, keep?: (offset: number) => boolean): Promise<void> {
    if (this.compaction) return this.compaction;
    if (this.closed || this.failed) return Promise.resolve();
    this.compacting = true;
    this.compaction = this.rewrite(liveFrom, keep).finally(() => {
      this.compaction = null;
    });
    return this.compaction;
  }

  private async rewrite(liveFrom: number, keep?: (offset: number) => boolean): Promise<void> {
    try {
      await this.waitWriteIdle();
      const kept: number[] = [];
      await this.load((o) => {
        if (o >= liveFrom && (keep === undefined || keep(o))) kept.push(o);
      });
      const out = Buffer.allocUnsafe(kept.length * SETTLE_ENTRY_BYTES);
      for (let i = 0; i < kept.length; i++) encodeEntry(out, i * SETTLE_ENTRY_BYTES, kept[i]);
      const tmp = this.files.handle(`${this.file}.tmp`, { exists: false, syncDirOnCreate: false });
      const tfd = await tmp.acquire();
      try {
        await writeAll(tfd, out, 0);
        if (this.fsync) await new Promise<void>((res, rej) => fs.fsync(tfd, (e) => (e ? rej(e) : res())));
      } finally {
        tmp.release();
        await tmp.close();
      }
      // Nothing uses the old file now (writes wait for the compaction): its next open finds the new one.
      await this.handle.close();
      await fs.promises.rename(tmp.file, this.file);
      this.handle.exists = true;
      if (this.fsync) await syncDir(path.dirname(this.file));
      this.fileBytes = out.length;
    } finally {
      this.compacting = false;
      if (this.batchUsed > 0 || this.flushWaiters.length > 0) this.schedule();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.compaction) await this.compaction.catch(() => {});
    this.closing = true;
    if (this.retryTimer) {
      // One last attempt now; failing again while closing fails the waiters (see attemptFailed).
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.write();
    }
    await this.flush().catch(() => {});
    this.closed = true;
    await this.handle.close();
  }

  private schedule(): void {
    if (this.scheduled || this.writing || this.compacting || this.retryTimer) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.write();
    });
  }

  private write(): void {
    if (this.writing || this.compacting || this.failed) return;
    const needSync = this.fsync && this.flushWaiters.length > 0;
    if (this.batchUsed === 0 && (!needSync || !this.handle.exists)) {
      // Everything accepted is written already; a file never created has nothing to sync either.
      this.written = this.accepted;
      if (needSync) this.synced = this.accepted;
      this.release();
      return;
    }
    this.writing = true;
    const fd = this.handle.tryAcquire();
    if (fd >= 0) this.writeWith(fd, needSync);
    else
      this.handle.acquire().then(
        (opened) => this.writeWith(opened, needSync),
        (err: Error) => this.attemptFailed(err, null),
      );
  }

  /** Runs with the handle pinned; unpins once the write (and sync) is done. */
  private writeWith(fd: number, needSync: boolean): void {
    const seq = this.accepted;
    const afterWrite = () => {
      this.written = seq;
      if (!needSync) {
        this.handle.release();
        this.writing = false;
        this.release();
        return;
      }
      this.opts.commit.requestSync(fd, (syncErr) => {
        this.handle.release();
        if (syncErr) return this.attemptFailed(syncErr, null);
        this.writing = false;
        this.attemptSucceeded();
        this.synced = Math.max(this.synced, seq);
        this.release();
      });
    };
    if (this.batchUsed === 0) {
      afterWrite();
      return;
    }
    const data = this.batch.subarray(0, this.batchUsed);
    // Hand the batch to the write and start a fresh one, so settle() never touches bytes in flight.
    this.batch = Buffer.allocUnsafe(Math.max(BATCH_INITIAL_BYTES, this.batchUsed));
    this.batchUsed = 0;
    writevFull(fd, [data], this.fileBytes, (err) => {
      if (err) {
        this.handle.release();
        return this.attemptFailed(err, data);
      }
      this.fileBytes += data.length;
      if (!needSync) this.attemptSucceeded();
      afterWrite();
    });
  }

  private durableSeq(): number {
    return this.fsync ? this.synced : this.written;
  }

  private release(): void {
    const done = this.durableSeq();
    const still: typeof this.flushWaiters = [];
    for (const w of this.flushWaiters) {
      if (w.seq <= done) w.resolve();
      else still.push(w);
    }
    this.flushWaiters = still;
    if (this.batchUsed > 0 || this.flushWaiters.length > 0) this.schedule();
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private idleWaiters: Array<() => void> = [];

  private waitWriteIdle(): Promise<void> {
    if (!this.writing) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Puts unwritten entries back in front of the batch and tries again after a backoff (given up once closed). */
  private attemptFailed(err: Error, unwritten: Buffer | null): void {
    if (unwritten !== null) {
      const merged = Buffer.allocUnsafe(Math.max(BATCH_INITIAL_BYTES, unwritten.length + this.batchUsed));
      unwritten.copy(merged, 0);
      this.batch.copy(merged, unwritten.length, 0, this.batchUsed);
      this.batch = merged;
      this.batchUsed += unwritten.length;
    }
    if (this.failedAttempts++ === 0)
      this.warn(`settle log ${this.file}: write failed, retrying: ${err.message}`);
    this.opts.onWriteError?.(err);
    if (this.closing) return this.fail(err);
    this.writing = false;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.write();
    }, this.retryDelayMs);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, RETRY_MAX_MS);
  }

  private attemptSucceeded(): void {
    if (this.failedAttempts === 0) return;
    this.warn(`settle log ${this.file}: writes resumed after ${this.failedAttempts} failed attempts`);
    this.failedAttempts = 0;
    this.retryDelayMs = RETRY_FIRST_MS;
  }

  private fail(err: Error): void {
    this.writing = false;
    this.failed = err;
    for (const w of this.flushWaiters.splice(0)) w.reject(err);
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
