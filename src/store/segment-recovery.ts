/**
 * Opening a SegmentLog's directory: every segment file's header is checked, a sealed segment with a valid
 * persisted index (segment-index-file.ts) is loaded from it, and only the others, the active (last) segment
 * always, are scanned (segment-scan.ts). Damage is reported, a torn tail of the active segment truncated.
 * A queue's log also wants every segment's entry table (segment-entries.ts): from the index, or built by the
 * scan (an index without one, as written before entry tables existed, is rebuilt once).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FileHandleCache } from './file-handle-cache.js';
import { fdatasync, readFull } from './fs-io.js';
import { Segment } from './segment.js';
import { SegmentEntries } from './segment-entries.js';
import {
  checkSegmentHeader,
  headProbeBytes,
  newerSegmentError,
  SEGMENT_HEADER_BYTES,
  v1SegmentError,
} from './segment-header.js';
import { NO_ENTRY_TABLE, readSegmentIndex, segmentIndexFileName } from './segment-index-file.js';
import { scanSegment } from './segment-scan.js';
import type { StorageDamage } from './storage-damage.js';

const SEGMENT_NAME = /^(\d{20})\.seg$/;
const INDEX_NAME = /^(\d{20})\.idx$/;

export interface RecoveryCounters {
  /** Segments whose records were read to rebuild their index (the active one always is). */
  segmentsScanned: number;
  /** Sealed segments whose index came from their .idx file. */
  segmentsFromIndex: number;
}

export interface RecoveryContext {
  dir: string;
  files: FileHandleCache;
  fsync: boolean;
  warn(message: string): void;
  reportDamage(damage: StorageDamage): void;
  /** A sealed segment has no usable index file: write one (in the background). */
  indexNeeded(seg: Segment, fileSize: number): void;
  /** Give every segment its entry table (seg.entries). */
  entryTables: boolean;
  counters: RecoveryCounters;
}

export interface Recovered {
  /** Live segments in base order; the last one is active when activeFound. */
  segments: Segment[];
  next: number;
  /** The last file found is the active segment (else appends need a new segment at `next`). */
  activeFound: boolean;
  /** false: no directory (a new log). */
  dirExists: boolean;
}

function noop(): void {}

export async function recoverSegments(ctx: RecoveryContext): Promise<Recovered> {
  let listing: string[];
  try {
    listing = await fs.promises.readdir(ctx.dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { segments: [], next: 0, activeFound: false, dirExists: false };
  }
  const names = listing.filter((n) => SEGMENT_NAME.test(n)).sort();
  const indexes = new Set(listing.filter((n) => INDEX_NAME.test(n)));
  const segments: Segment[] = [];
  let next = 0;
  let activeFound = false;
  /** A sealed segment whose tail is damaged: its lost offsets end where the next segment begins. */
  let damagedTail: { file: string; fromByte: number; toByte: number; firstOffset: number } | null = null;
  /** Sealed segments whose index predates entry tables (reported once, not per segment). */
  let tablesBuilt = 0;
  for (let i = 0; i < names.length; i++) {
    const base = Number(names[i].slice(0, 20));
    const file = path.join(ctx.dir, names[i]);
    const isLast = i === names.length - 1;
    if (!Number.isSafeInteger(base) || base < next) {
      ctx.warn(`ignoring segment ${file}: base offset overlaps the previous segment`);
      await fs.promises.rename(file, `${file}.ignored`).catch(noop);
      continue;
    }
    if (damagedTail) ctx.reportDamage({ ...damagedTail, lastOffset: base - 1 });
    damagedTail = null;
    const indexName = segmentIndexFileName(base);
    const seg = new Segment(base, ctx.files.handle(file, { exists: true, syncDirOnCreate: false }));
    if (ctx.entryTables) seg.entries = new SegmentEntries(base); // replaced by the index's, or filled by a scan
    let headerDamage: StorageDamage | null = null;
    let headerProblem = '';
    let fileSize: number;
    let fromIndex = false;
    let fresh: Segment | null = null;
    const fd = await seg.handle.acquire();
    try {
      fileSize = (await fs.promises.stat(file)).size;
      const header = await readHeader(fd, fileSize, base);
      if (header.kind === 'v1') throw v1SegmentError(file);
      if (header.kind === 'newer') throw newerSegmentError(file, header.version);
      if (header.kind === 'ok') seg.dataStart = header.dataStart;
      else {
        headerProblem = header.reason;
        const toByte = Math.min(SEGMENT_HEADER_BYTES, fileSize);
        headerDamage = { file, fromByte: 0, toByte, firstOffset: base, lastOffset: base - 1 };
      }
      seg.size = seg.dataStart;
      if (!isLast && indexes.has(indexName)) {
        const why = await readSegmentIndex(path.join(ctx.dir, indexName), seg, fileSize, ctx.entryTables);
        if (why === null) fromIndex = true;
        else if (why === NO_ENTRY_TABLE) tablesBuilt++;
        else ctx.warn(`rebuilding the index of ${file}: ${why}`);
      }
      if (fromIndex) {
        ctx.counters.segmentsFromIndex++;
        if (seg.size < fileSize)
          damagedTail = { file, fromByte: seg.size, toByte: fileSize, firstOffset: seg.nextOffset };
      } else {
        ctx.counters.segmentsScanned++;
        const scan = await scanSegment(seg, fd, fileSize);
        if (isLast && headerDamage && seg.records === 0 && seg.holes === null) {
          // Nothing readable after a bad header: its creation was torn by a crash. The base stays (it may be
          // a floor set by skipTo); the file is created afresh, header included, at the first append.
          ctx.warn(`segment ${file} holds no record after a damaged header: recreated at the first append`);
          fresh = new Segment(base, ctx.files.handle(file, { exists: false, syncDirOnCreate: ctx.fsync }));
          fresh.headerPending = true;
          if (ctx.entryTables) fresh.entries = new SegmentEntries(base);
        } else if (scan.validEnd < fileSize) {
          if (isLast) {
            // Bytes after the last intact record of the active segment: a write torn by the crash.
            ctx.warn(`truncating torn tail of ${file} at ${scan.validEnd} (file had ${fileSize} bytes)`);
            await fs.promises.truncate(file, scan.validEnd);
            if (ctx.fsync) await fdatasync(fd);
          } else {
            damagedTail = { file, fromByte: scan.validEnd, toByte: fileSize, firstOffset: seg.nextOffset };
          }
        }
      }
    } catch (err) {
      seg.handle.release();
      await seg.handle.close().catch(noop);
      throw err;
    }
    seg.handle.release();
    if (fresh) {
      await seg.handle.close();
      segments.push(fresh);
      next = base;
      activeFound = true;
      continue;
    }
    if (headerDamage) {
      ctx.warn(`segment ${file}: ${headerProblem}; its base offset is taken from the file name`);
      ctx.reportDamage(headerDamage);
    }
    reportHoles(ctx, seg);
    seg.writtenSize = seg.size;
    activeFound = isLast;
    if (isLast) {
      // Appends go on in the active segment: an index it may have from an earlier life would go stale.
      if (indexes.has(indexName)) await fs.promises.unlink(path.join(ctx.dir, indexName)).catch(noop);
    } else {
      await seg.handle.close(); // sealed: reopened on demand by reads
      seg.sealedSize = fileSize;
      if (seg.empty && damagedTail === null && headerDamage === null) {
        await fs.promises.unlink(file).catch(noop);
        continue;
      }
      if (!fromIndex) ctx.indexNeeded(seg, fileSize);
    }
    segments.push(seg);
    next = seg.nextOffset;
  }
  if (tablesBuilt > 0)
    ctx.warn(
      `scanned ${tablesBuilt} sealed segment(s) whose index has no entry table (written by an earlier version, ` +
        'or after damage was found): their indexes are rewritten with one',
    );
  await removeStrayFiles(ctx.dir, listing, segments);
  return { segments, next, activeFound, dirExists: true };
}

function reportHoles(ctx: RecoveryContext, seg: Segment): void {
  const holes = seg.holes;
  const lost = seg.holeOffsets;
  if (holes === null || lost === null) return;
  for (let i = 0; i < holes.length; i += 2) {
    ctx.reportDamage({
      file: seg.file,
      fromByte: holes[i],
      toByte: holes[i + 1],
      firstOffset: lost[i],
      lastOffset: lost[i + 1] - 1,
    });
  }
}

type HeaderResult = ReturnType<typeof checkSegmentHeader>;

/** Reads and classifies the start of a segment file (see checkSegmentHeader). */
async function readHeader(fd: number, fileSize: number, base: number): Promise<HeaderResult> {
  const first = Buffer.allocUnsafe(Math.min(fileSize, SEGMENT_HEADER_BYTES));
  const got = await readFull(fd, first, 0, first.length, 0);
  const want = headProbeBytes(first.subarray(0, got), fileSize);
  if (want <= got) return checkSegmentHeader(first.subarray(0, got), base);
  const head = Buffer.allocUnsafe(want);
  return checkSegmentHeader(head.subarray(0, await readFull(fd, head, 0, want, 0)), base);
}

/** Index files without a live segment (deleted, ignored or empty ones) and temporary files of a crash. */
async function removeStrayFiles(dir: string, listing: string[], segments: Segment[]): Promise<void> {
  const live = new Set(segments.map((s) => segmentIndexFileName(s.base)));
  for (const name of listing) {
    if ((INDEX_NAME.test(name) && !live.has(name)) || name.endsWith('.idx.tmp'))
      await fs.promises.unlink(path.join(dir, name)).catch(noop);
  }
}
