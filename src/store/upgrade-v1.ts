/**
 * `eventter upgrade-data`: converts an EventterMQ 0.1.0 data directory (data format 1) to format 2 in place.
 * The only difference on disk is the header every segment file now starts with, so each headerless segment
 * file is rewritten as header + its old bytes, unchanged (records keep their offsets; damaged bytes stay for
 * recovery to report). Settle logs and metadata are the same in both formats.
 *
 * Crash-safe and re-runnable: each file is written to `<name>.upgrade-tmp`, fsynced and renamed over the old
 * one, so a crash leaves every file either old or new; directories are fsynced before FORMAT is written last,
 * and until it is, brokers refuse the directory and a second run converts what is left.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  DATA_FORMAT_VERSION,
  listSegmentFiles,
  newerRefusal,
  readDataFormat,
  writeDataFormat,
} from './data-dir-format.js';
import { DataDirLock } from './data-dir-lock.js';
import { closeFile, fdatasync, openFile, readFull, syncDir, writeAll } from './fs-io.js';
import {
  checkSegmentHeader,
  encodeSegmentHeader,
  type HeaderCheck,
  headProbeBytes,
  newerSegmentError,
  SEGMENT_HEADER_BYTES,
} from './segment-header.js';

const TMP_SUFFIX = '.upgrade-tmp';
const COPY_BYTES = 1024 * 1024;

export interface UpgradeOptions {
  /** fsync files and directories (default true; off only for tests). */
  fsync?: boolean;
  /** Take the data directory's lock, so that no broker runs on it meanwhile (default true). */
  lock?: boolean;
  /** Called once per converted file. */
  onFile?: (file: string) => void;
}

export interface UpgradeResult {
  /** The data format found: 1 for a 0.1.0 directory (no FORMAT file). */
  from: number;
  /** Segment files rewritten with a header. */
  converted: number;
  /** Segment files that already had one (converted by an interrupted earlier run, or written by format 2). */
  alreadyCurrent: number;
}

export async function upgradeDataDir(dataDir: string, opts: UpgradeOptions = {}): Promise<UpgradeResult> {
  const fsync = opts.fsync ?? true;
  const stat = await fs.promises.stat(dataDir); // a missing directory is an error, not something to create
  if (!stat.isDirectory()) throw new Error(`${dataDir} is not a directory`);
  const lock = opts.lock === false ? null : await DataDirLock.acquire(dataDir);
  try {
    const found = await readDataFormat(dataDir);
    if (found !== undefined && found > DATA_FORMAT_VERSION) throw newerRefusal(dataDir, found);
    // With FORMAT 2 in place only files written headerless later (by a 0.1.0 broker) are converted; without
    // it every file lacking a valid header is 0.1.0 data, including ones whose first record is damaged.
    const v1Dir = found === undefined || found < DATA_FORMAT_VERSION;
    const result: UpgradeResult = { from: found ?? 1, converted: 0, alreadyCurrent: 0 };
    const touchedDirs = new Set<string>();
    const files = await listSegmentFiles(dataDir);
    for (const dir of new Set(files.map((f) => path.dirname(f)))) await removeTmpFiles(dir);
    for (const file of files) {
      const header = await readHeader(file);
      if (header.kind === 'newer') throw newerSegmentError(file, header.version);
      if (header.kind === 'ok' || (header.kind === 'damaged' && !v1Dir)) {
        result.alreadyCurrent++;
        continue;
      }
      await convert(file, fsync);
      touchedDirs.add(path.dirname(file));
      result.converted++;
      opts.onFile?.(file);
    }
    if (fsync) for (const dir of touchedDirs) await syncDir(dir);
    if (found !== DATA_FORMAT_VERSION) await writeDataFormat(dataDir, fsync);
    return result;
  } finally {
    await lock?.release();
  }
}

async function readHeader(file: string): Promise<HeaderCheck> {
  const base = Number(path.basename(file).slice(0, 20));
  const fd = await openFile(file, 'r');
  try {
    const size = (await fs.promises.stat(file)).size;
    const first = Buffer.alloc(Math.min(size, SEGMENT_HEADER_BYTES));
    await readFull(fd, first, 0, first.length, 0);
    const head = Buffer.alloc(headProbeBytes(first, size));
    const got = await readFull(fd, head, 0, head.length, 0);
    return checkSegmentHeader(head.subarray(0, got), base);
  } finally {
    await closeFile(fd);
  }
}

/** Rewrites file as a format-2 segment: header, then its old bytes. */
async function convert(file: string, fsync: boolean): Promise<void> {
  const base = Number(path.basename(file).slice(0, 20));
  const tmp = `${file}${TMP_SUFFIX}`;
  const src = await openFile(file, 'r');
  try {
    const dst = await openFile(tmp, 'w');
    try {
      await writeAll(dst, encodeSegmentHeader(base), 0);
      const buf = Buffer.allocUnsafe(COPY_BYTES);
      for (let pos = 0; ; ) {
        const got = await readFull(src, buf, 0, buf.length, pos);
        if (got === 0) break;
        await writeAll(dst, buf.subarray(0, got), SEGMENT_HEADER_BYTES + pos);
        pos += got;
      }
      if (fsync) await fdatasync(dst);
    } finally {
      await closeFile(dst);
    }
  } finally {
    await closeFile(src);
  }
  await fs.promises.rename(tmp, file);
}

async function removeTmpFiles(dir: string): Promise<void> {
  for (const name of await fs.promises.readdir(dir)) {
    if (name.endsWith(TMP_SUFFIX)) await fs.promises.unlink(path.join(dir, name)).catch(() => {});
  }
}
