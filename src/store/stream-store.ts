/**
 * The storage of one stream: a segment log that keeps records after they are read, until retention (age or
 * total size) deletes whole segments from the front. No settle log: nothing is ever settled one by one.
 */
import type { FileHandleCache } from './file-handle-cache.js';
import type { GroupCommit } from './group-commit.js';
import type { LogRecord, NewRecord } from './record-format.js';
import { SegmentLog } from './segment-log.js';
import type { StorageDamage } from './storage-damage.js';

export interface StreamStoreOptions {
  dir: string;
  commit: GroupCommit;
  fsync: boolean;
  segmentMaxBytes?: number;
  files?: FileHandleCache;
  onWarning?: (message: string) => void;
  onDamage?: (damage: StorageDamage) => void;
  onWriteError?: (err: Error) => void;
}

export interface RetentionLimits {
  /** Segments whose newest record is older than this many ms go; 0: no age limit. */
  maxAgeMs: number;
  /** Oldest segments go while the stream is larger than this; 0: no size limit. */
  maxBytes: number;
}

export class StreamStore {
  private constructor(private readonly log: SegmentLog) {}

  static async open(opts: StreamStoreOptions): Promise<StreamStore> {
    const log = await SegmentLog.open({
      dir: opts.dir,
      commit: opts.commit,
      fsync: opts.fsync,
      segmentMaxBytes: opts.segmentMaxBytes,
      files: opts.files,
      onWarning: opts.onWarning,
      onDamage: opts.onDamage,
      onWriteError: opts.onWriteError,
    });
    return new StreamStore(log);
  }

  get firstOffset(): number {
    return this.log.firstOffset;
  }

  get nextOffset(): number {
    return this.log.nextOffset;
  }

  get sizeBytes(): number {
    return this.log.sizeBytes;
  }

  get segmentCount(): number {
    return this.log.segmentInfos().length;
  }

  get activeSegmentBase(): number {
    return this.log.activeSegmentBase;
  }

  get damage(): readonly StorageDamage[] {
    return this.log.damage;
  }

  /** Appends rec (always persistent: a stream keeps what it confirmed); returns its offset. */
  append(rec: NewRecord): number {
    return this.log.append(rec);
  }

  whenDurable(offset: number, cb: (err: Error | null) => void): void {
    this.log.whenDurable(offset, cb);
  }

  readRange(fromOffset: number, maxBytes: number, maxCount: number): Promise<LogRecord[]> {
    return this.log.readRange(fromOffset, maxBytes, maxCount);
  }

  /**
   * The first offset whose record was stored at or after `timestamp` (ms), or nextOffset if none was: the
   * segment is picked by its largest timestamp, the position by its time index (see SegmentLog.offsetAtTime).
   */
  offsetAtTime(timestamp: number): Promise<number> {
    return this.log.offsetAtTime(timestamp);
  }

  /**
   * Deletes whole sealed segments that fall outside the limits, oldest first; never the active segment, so
   * the newest records always stay. Returns how many segments went.
   */
  enforceRetention(limits: RetentionLimits, now: number): number {
    let deleted = 0;
    let size = this.log.sizeBytes;
    for (const info of this.log.segmentInfos()) {
      if (info.base === this.log.activeSegmentBase) break;
      const tooOld = limits.maxAgeMs > 0 && info.lastTimestamp < now - limits.maxAgeMs;
      const tooBig = limits.maxBytes > 0 && size > limits.maxBytes;
      if (!tooOld && !tooBig) break;
      if (!this.log.deleteSegment(info.base)) break;
      size -= info.sizeBytes;
      deleted++;
    }
    return deleted;
  }

  close(): Promise<void> {
    return this.log.close();
  }

  destroy(): Promise<void> {
    return this.log.destroy();
  }
}
