/**
 * The persisted index of a sealed segment, `<base>.idx` next to `<base>.seg`: what a recovery scan would learn
 * from the data file, so that opening a log reads a few KiB per sealed segment instead of all of its records.
 * It is a cache: missing, damaged (CRC) or not matching the data file's size, it is rebuilt by a scan.
 * All integers are big-endian u64 unless noted.
 *
 *   header   "EVIX" | u16 version | u16 header length | base offset | u32 entries | u32 holes |
 *            version 2 only: u32 bytes of the entry table
 *   entries  per ~4 KiB of records: offset | file position | largest timestamp of the records before it
 *   holes    per damaged range: fromByte | toByte | first lost offset | next offset after it
 *   table    version 2 only: a queue segment's entry table (segment-entries.ts), every record's offset, body
 *            size, expiresAt, priority and persistent flag
 *   footer   next offset | record count | first timestamp | last timestamp | max timestamp |
 *            data start (the data file's header length) | valid end (records and holes; less than the file
 *            size: a damaged tail) | data file size | u32 CRC32C of every byte before it
 *
 * Version 1 (24-byte header, no table) is written for segments without an entry table (streams), so that
 * every version reads them; a queue log treats a version 1 index as missing its table and rebuilds it.
 * Written once per roll, off the append path: tmp file, fsync, rename. The directory is not fsynced: a rename
 * lost with a power cut only costs one scan at the next start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from './crc32c.js';
import { closeFile, fdatasync, openFile, writeAll } from './fs-io.js';
import type { Segment } from './segment.js';
import { SegmentEntries } from './segment-entries.js';

export const INDEX_MAGIC = Buffer.from('EVIX', 'latin1');
/** The version written with an entry table; version 1 has none. */
export const INDEX_FORMAT_VERSION = 2;
const V1_HEADER_BYTES = 24;
const V2_HEADER_BYTES = 28;
const ENTRY_BYTES = 24;
const HOLE_BYTES = 32;
const FOOTER_BYTES = 8 * 8 + 4;
const TWO_32 = 0x1_0000_0000;
/** Why loadSegmentIndex refused an index that is fine but has no entry table (the log wants one). */
export const NO_ENTRY_TABLE = 'no entry table';
/** Index files written at once across all logs (each holds a descriptor and an fsync). */
const MAX_CONCURRENT_WRITES = 2;

export function segmentIndexFileName(base: number): string {
  return `${String(base).padStart(20, '0')}.idx`;
}

function writeU64(buf: Buffer, v: number, pos: number): number {
  const hi = Math.floor(v / TWO_32);
  buf.writeUInt32BE(hi, pos);
  buf.writeUInt32BE(v - hi * TWO_32, pos + 4);
  return pos + 8;
}

function readU64(buf: Buffer, pos: number): number {
  return buf.readUInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4);
}

/** The index of seg (sealed, every record written) whose data file is fileSize bytes long, with its entries. */
export function encodeSegmentIndex(seg: Segment, fileSize: number, entries: SegmentEntries | null): Buffer {
  const holes = seg.holes ?? [];
  const holeOffsets = seg.holeOffsets ?? [];
  const holeCount = holes.length / 2;
  const headerBytes = entries ? V2_HEADER_BYTES : V1_HEADER_BYTES;
  const tableBytes = entries ? entries.encodedBytes() : 0;
  const buf = Buffer.allocUnsafe(
    headerBytes + seg.idxCount * ENTRY_BYTES + holeCount * HOLE_BYTES + tableBytes + FOOTER_BYTES,
  );
  INDEX_MAGIC.copy(buf, 0);
  buf.writeUInt16BE(entries ? INDEX_FORMAT_VERSION : 1, 4);
  buf.writeUInt16BE(headerBytes, 6);
  writeU64(buf, seg.base, 8);
  buf.writeUInt32BE(seg.idxCount, 16);
  buf.writeUInt32BE(holeCount, 20);
  if (entries) buf.writeUInt32BE(tableBytes, 24);
  let p = headerBytes;
  for (let i = 0; i < seg.idxCount; i++) {
    p = writeU64(buf, seg.idxOffsets[i], p);
    p = writeU64(buf, seg.idxPositions[i], p);
    p = writeU64(buf, seg.idxMaxBefore[i], p);
  }
  for (let i = 0; i < holeCount; i++) {
    p = writeU64(buf, holes[2 * i], p);
    p = writeU64(buf, holes[2 * i + 1], p);
    p = writeU64(buf, holeOffsets[2 * i], p);
    p = writeU64(buf, holeOffsets[2 * i + 1], p);
  }
  if (entries) p = entries.encode(buf, p);
  for (const v of [
    seg.nextOffset,
    seg.records,
    seg.firstTimestamp,
    seg.lastTimestamp,
    seg.maxTimestamp,
    seg.dataStart,
    seg.size,
    fileSize,
  ])
    p = writeU64(buf, v, p);
  buf.writeUInt32BE(crc32c(buf, 0, p), p);
  return buf;
}

/**
 * Loads the index in buf into seg (fresh, nothing noted yet) if it is intact and describes a data file of
 * fileSize bytes, with its entry table into seg.entries when wantEntries (an index without one is refused);
 * otherwise returns why it cannot be used and leaves seg untouched.
 */
export function loadSegmentIndex(
  buf: Buffer,
  seg: Segment,
  fileSize: number,
  wantEntries = false,
): string | null {
  if (buf.length < V1_HEADER_BYTES + FOOTER_BYTES || !buf.subarray(0, 4).equals(INDEX_MAGIC))
    return 'not an index';
  if (crc32c(buf, 0, buf.length - 4) !== buf.readUInt32BE(buf.length - 4)) return 'CRC mismatch';
  const version = buf.readUInt16BE(4);
  const headerBytes = buf.readUInt16BE(6);
  if (
    !(version === 1 && headerBytes === V1_HEADER_BYTES) &&
    !(version === 2 && headerBytes === V2_HEADER_BYTES && buf.length >= headerBytes + FOOTER_BYTES)
  )
    return `index version ${version}`;
  if (readU64(buf, 8) !== seg.base) return 'base offset differs';
  const entries = buf.readUInt32BE(16);
  const holeCount = buf.readUInt32BE(20);
  const tableBytes = version === 2 ? buf.readUInt32BE(24) : 0;
  const tableStart = headerBytes + entries * ENTRY_BYTES + holeCount * HOLE_BYTES;
  if (buf.length !== tableStart + tableBytes + FOOTER_BYTES) return 'length differs';
  let f = buf.length - FOOTER_BYTES;
  const footer: number[] = [];
  for (let i = 0; i < 8; i++, f += 8) footer.push(readU64(buf, f));
  const [nextOffset, records, firstTimestamp, lastTimestamp, maxTimestamp, dataStart, validEnd, indexedSize] =
    footer;
  if (indexedSize !== fileSize) return `data file is ${fileSize} bytes, the index describes ${indexedSize}`;
  if (dataStart !== seg.dataStart) return 'header length differs';
  if (nextOffset < seg.base || validEnd < dataStart) return 'inconsistent footer';
  let table: SegmentEntries | null = null;
  if (wantEntries) {
    if (tableBytes === 0) return NO_ENTRY_TABLE;
    table = SegmentEntries.decode(seg.base, buf, tableStart, tableStart + tableBytes);
    if (table === null || table.count !== records) return 'entry table does not match the index';
  }
  seg.growIndex(Math.max(entries, 1));
  let p = headerBytes;
  for (let i = 0; i < entries; i++, p += ENTRY_BYTES) {
    seg.idxOffsets[i] = readU64(buf, p);
    seg.idxPositions[i] = readU64(buf, p + 8);
    seg.idxMaxBefore[i] = readU64(buf, p + 16);
  }
  seg.idxCount = entries;
  if (holeCount > 0) {
    seg.holes = [];
    seg.holeOffsets = [];
    for (let i = 0; i < holeCount; i++, p += HOLE_BYTES) {
      seg.holes.push(readU64(buf, p), readU64(buf, p + 8));
      seg.holeOffsets.push(readU64(buf, p + 16), readU64(buf, p + 24));
    }
  }
  seg.nextOffset = nextOffset;
  seg.records = records;
  seg.firstTimestamp = firstTimestamp;
  seg.lastTimestamp = lastTimestamp;
  seg.maxTimestamp = maxTimestamp;
  seg.size = validEnd;
  seg.entries = table;
  return null;
}

/** Reads and loads `file` into seg; returns null when loaded, else why not ('missing' when there is none). */
export async function readSegmentIndex(
  file: string,
  seg: Segment,
  fileSize: number,
  wantEntries: boolean,
): Promise<string | null> {
  let buf: Buffer;
  try {
    buf = await fs.promises.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    return (err as Error).message;
  }
  return loadSegmentIndex(buf, seg, fileSize, wantEntries);
}

let writing = 0;
const waiting: Array<() => void> = [];

/** Writes data to file through `<file>.tmp` (fsynced when asked) and a rename; a few at a time process-wide. */
export async function writeSegmentIndex(file: string, data: Buffer, fsync: boolean): Promise<void> {
  if (writing >= MAX_CONCURRENT_WRITES) await new Promise<void>((resolve) => waiting.push(resolve));
  else writing++;
  const tmp = `${file}.tmp`;
  try {
    const fd = await openFile(tmp, 'w');
    try {
      await writeAll(fd, data, 0);
      if (fsync) await fdatasync(fd);
    } finally {
      await closeFile(fd);
    }
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.unlink(tmp).catch(() => {});
    throw err;
  } finally {
    // The slot passes straight to the next writer, if any.
    const next = waiting.shift();
    if (next) next();
    else writing--;
  }
}

export interface IndexPersisterOptions {
  dir: string;
  fsync: boolean;
  /** false: never write index files (a transient log is never reopened). */
  enabled: boolean;
  warn: (message: string) => void;
  /** Resolves true once every record of seg is written (and synced if it must be); false if it never will. */
  whenWritten: (seg: Segment) => Promise<boolean>;
}

/** Writes the index files of a log's sealed segments in the background, one write per segment at a time. */
export class IndexPersister {
  /** Writes under way (close() waits for them). */
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly opts: IndexPersisterOptions) {}

  get enabled(): boolean {
    return this.opts.enabled;
  }

  indexFile(seg: Segment): string {
    return path.join(this.opts.dir, segmentIndexFileName(seg.base));
  }

  /**
   * seg (its data file fileSize bytes once written) takes no more appends, or its holes changed: (re)write its
   * index once its records are written, and synced when fsync is on, so that the index never describes bytes a
   * power cut could take back. Its entry table, if it has one now, is written with it (the segment may drop
   * it meanwhile); rewritten later without one (new holes found after the table was dropped), the next open
   * rebuilds the table by a scan.
   */
  seal(seg: Segment, fileSize: number): void {
    seg.sealedSize = fileSize;
    if (!this.opts.enabled || seg.deleted) return;
    if (seg.indexWriting) {
      seg.indexStale = true; // written again once the current write is done
      return;
    }
    seg.indexWriting = true;
    const entries = seg.entries;
    const task = (async () => {
      do {
        seg.indexStale = false;
        await this.persist(seg, fileSize, entries);
      } while (seg.indexStale && !seg.deleted);
    })()
      .catch((err: Error) => this.opts.warn(`could not write the index of ${seg.file}: ${err.message}`))
      .finally(() => {
        seg.indexWriting = false;
        this.pending.delete(task);
      });
    this.pending.add(task);
  }

  /** Resolves once no index write is under way. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  /**
   * Holds nothing that would delay the segment's deletion: a segment deleted meanwhile (stream retention,
   * a fully settled queue segment) loses its index with it, whichever of the two unlinks and the rename
   * comes first.
   */
  private async persist(seg: Segment, fileSize: number, entries: SegmentEntries | null): Promise<void> {
    if (seg.writtenSize < seg.size && !(await this.opts.whenWritten(seg))) return; // the next open scans it
    if (seg.deleted || seg.writtenSize < seg.size) return;
    const file = this.indexFile(seg);
    try {
      if (this.opts.fsync) {
        const fd = await seg.handle.acquire();
        try {
          await fdatasync(fd);
        } finally {
          seg.handle.release();
          if (seg.reaped) await seg.handle.close(); // reopened by this acquire just before its unlink
        }
      }
      if (seg.deleted) return;
      await writeSegmentIndex(file, encodeSegmentIndex(seg, fileSize, entries), this.opts.fsync);
    } catch (err) {
      if (!seg.deleted) throw err; // else: its file went away under us, as it should
    }
    if (seg.deleted) await fs.promises.unlink(file).catch(() => {});
  }
}
