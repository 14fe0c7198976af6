/**
 * The data directory's schema version: a file `FORMAT` holding `{"format":2}`. Written when a new data
 * directory is initialised; checked at every open so that a broker never reads (and never half-writes) data
 * in a format it does not know. EventterMQ 0.1.0 wrote no FORMAT file and segment files without headers:
 * such a directory is refused until `eventter upgrade-data` (upgrade-v1.ts) has converted it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { closeFile, fdatasync, openFile, readFull, syncDir, writeAll } from './fs-io.js';
import { SEGMENT_MAGIC } from './segment-header.js';

export const DATA_FORMAT_FILE = 'FORMAT';
export const DATA_FORMAT_VERSION = 2;
/** Where durable stores keep their segment files (transient/ is wiped at every start). */
const STORE_DIRS = ['queues', 'streams'];
const SEGMENT_NAME = /^\d{20}\.seg$/;

/** The command that converts a 0.1.0 data directory; the refusal names it. */
export const UPGRADE_DATA_COMMAND = 'eventter upgrade-data --data-dir';

/** Refusal of a 0.1.0 data directory; {dir} is replaced by the directory. */
export const V1_DATA_DIR_REFUSAL =
  'data directory {dir} was written by EventterMQ 0.1.0 (data format 1, no FORMAT file), which this version ' +
  `(data format ${DATA_FORMAT_VERSION}) does not read. Stop every broker using it, back it up, then run ` +
  `\`${UPGRADE_DATA_COMMAND} {dir}\` once to convert it in place, and start the broker again.`;

/** Refusal of a data directory written by a later version; {dir} and {version} are replaced. */
export const NEWER_DATA_DIR_REFUSAL =
  'data directory {dir} has data format {version}, newer than this EventterMQ reads ' +
  `(data format ${DATA_FORMAT_VERSION}): run the EventterMQ version that wrote it, or a later one.`;

export type DataDirFormatProblem = 'upgrade-required' | 'newer' | 'unreadable';

export class DataDirFormatError extends Error {
  override readonly name = 'DataDirFormatError';
  constructor(
    message: string,
    readonly dataDir: string,
    readonly problem: DataDirFormatProblem,
  ) {
    super(message);
  }
}

export function v1Refusal(dataDir: string): DataDirFormatError {
  return new DataDirFormatError(
    V1_DATA_DIR_REFUSAL.replaceAll('{dir}', dataDir),
    dataDir,
    'upgrade-required',
  );
}

export function newerRefusal(dataDir: string, version: number): DataDirFormatError {
  const message = NEWER_DATA_DIR_REFUSAL.replaceAll('{dir}', dataDir).replaceAll(
    '{version}',
    String(version),
  );
  return new DataDirFormatError(message, dataDir, 'newer');
}

/**
 * Checks (and for a new directory, writes) the data directory's format. Call with the directory created and
 * locked, before any store opens. Resolves 'current' or 'initialised'; throws DataDirFormatError when the
 * directory holds 0.1.0 data, data of a later version, or an unreadable FORMAT file.
 */
export async function checkDataDirFormat(
  dataDir: string,
  opts: { fsync: boolean },
): Promise<'current' | 'initialised'> {
  const version = await readDataFormat(dataDir);
  if (version === DATA_FORMAT_VERSION) return 'current';
  if (version !== undefined)
    throw version > DATA_FORMAT_VERSION ? newerRefusal(dataDir, version) : v1Refusal(dataDir);
  // No FORMAT: a new directory, or one from 0.1.0. Its segment files tell (a headerless one is 0.1.0 data).
  for (const file of await listSegmentFiles(dataDir)) {
    if (!(await startsWithHeader(file))) throw v1Refusal(dataDir);
  }
  await writeDataFormat(dataDir, opts.fsync);
  return 'initialised';
}

/** The version in dataDir's FORMAT file, or undefined if there is none. */
export async function readDataFormat(dataDir: string): Promise<number | undefined> {
  const file = path.join(dataDir, DATA_FORMAT_FILE);
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let version: unknown;
  try {
    version = (JSON.parse(text) as { format?: unknown }).format;
  } catch {
    version = undefined;
  }
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new DataDirFormatError(
      `cannot read ${file}: expected {"format":${DATA_FORMAT_VERSION}}, found ${JSON.stringify(text.slice(0, 80))}. ` +
        'Restore it from a backup, or write that content if the directory was made by this version.',
      dataDir,
      'unreadable',
    );
  }
  return version;
}

/** Writes FORMAT atomically: a tmp file, fsync, rename, fsync of the directory. */
export async function writeDataFormat(dataDir: string, fsync: boolean): Promise<void> {
  const file = path.join(dataDir, DATA_FORMAT_FILE);
  const tmp = `${file}.tmp`;
  const fd = await openFile(tmp, 'w');
  try {
    await writeAll(fd, Buffer.from(`${JSON.stringify({ format: DATA_FORMAT_VERSION })}\n`), 0);
    if (fsync) await fdatasync(fd);
  } finally {
    await closeFile(fd);
  }
  await fs.promises.rename(tmp, file);
  if (fsync) await syncDir(dataDir);
}

/** Every segment file of the durable stores, in a stable order. */
export async function listSegmentFiles(dataDir: string): Promise<string[]> {
  const files: string[] = [];
  for (const storeDir of STORE_DIRS) {
    const root = path.join(dataDir, storeDir);
    let stores: fs.Dirent[];
    try {
      stores = await fs.promises.readdir(root, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const store of stores.filter((d) => d.isDirectory()).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const dir = path.join(root, store.name);
      for (const name of (await fs.promises.readdir(dir)).filter((n) => SEGMENT_NAME.test(n)).sort())
        files.push(path.join(dir, name));
    }
  }
  return files;
}

/** Whether file starts with the segment magic; an empty file counts as current (it holds nothing). */
async function startsWithHeader(file: string): Promise<boolean> {
  const fd = await openFile(file, 'r');
  try {
    const head = Buffer.alloc(SEGMENT_MAGIC.length);
    const got = await readFull(fd, head, 0, head.length, 0);
    return got === 0 || head.equals(SEGMENT_MAGIC);
  } finally {
    await closeFile(fd);
  }
}
