/**
 * Small durable key -> JSON store for definitions (vhosts, users, exchanges, queues, bindings, policies).
 *
 * Files: `snapshot.jsonl` (the full state at the last compaction) and `journal.jsonl` (changes since).
 * Each line is `<crc32c as 8 hex digits> <json>\n` with json `["p",key,value]` (put) or `["d",key]` (delete).
 * Writes are batched per tick: every put/delete of a tick shares one write and one fdatasync, and a change
 * is visible to get() only once it is durable. A failed write (ENOSPC part way through a line) is rolled back
 * by truncating the journal to its last good record before anything else is appended; the journal is not
 * opened O_APPEND, so every write lands exactly where the store expects.
 * At open, a corrupt line is skipped and reported; only a last line without its newline is a torn write and is
 * cut off. Compaction writes a new snapshot (tmp + fsync + rename) and then empties the journal. Replaying an
 * old journal over a newer snapshot is harmless, so a crash between the two steps is safe.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from './crc32c.js';
import { closeFile, fdatasync, makeDir, openFile, syncDir, truncateFile, writeAll } from './fs-io.js';

export interface MetadataStoreOptions {
  /** Default true; false skips every fsync (tests, --no-fsync dev mode). */
  fsync?: boolean;
  /** Compact once the journal exceeds this many bytes. Default 4 MiB. */
  compactJournalBytes?: number;
  onWarning?: (message: string) => void;
  /** Every failed write, sync or rollback of the journal or snapshot (the broker re-checks free disk at once). */
  onWriteError?: (err: Error) => void;
  /** For tests: replaces the journal's file operations, e.g. to fail part way through like a full disk. */
  journalIo?: Partial<JournalIo>;
}

export interface JournalIo {
  write(fd: number, data: Buffer, position: number): Promise<void>;
  truncate(fd: number, length: number): Promise<void>;
  sync(fd: number): Promise<void>;
}

const defaultJournalIo: JournalIo = { write: writeAll, truncate: truncateFile, sync: fdatasync };

export class MetadataStoreError extends Error {
  override name = 'MetadataStoreError';
}

export const METADATA_MAX_KEY_BYTES = 4096;
export const METADATA_MAX_VALUE_BYTES = 16 * 1024 * 1024;
const SNAPSHOT = 'snapshot.jsonl';
const JOURNAL = 'journal.jsonl';
const DEFAULT_COMPACT_BYTES = 4 * 1024 * 1024;

interface PendingChange {
  line: string;
  key: string;
  /** JSON of the new value; undefined for a delete. */
  json: string | undefined;
  resolve: () => void;
  reject: (err: Error) => void;
}

const toError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

function encodeLine(json: string): string {
  const body = Buffer.from(json, 'utf8');
  return `${crc32c(body).toString(16).padStart(8, '0')} ${json}\n`;
}

type JournalOp = ['p', string, unknown] | ['d', string];

/** Parses one line (without '\n'); null when it is corrupt. */
function decodeLine(line: string): JournalOp | null {
  if (line.length < 10 || line[8] !== ' ') return null;
  const json = line.slice(9);
  const crc = Number.parseInt(line.slice(0, 8), 16);
  if (!Number.isFinite(crc) || crc !== crc32c(Buffer.from(json, 'utf8'))) return null;
  try {
    const op: unknown = JSON.parse(json);
    if (!Array.isArray(op) || typeof op[1] !== 'string') return null;
    if (op[0] === 'p' && op.length === 3) return op as JournalOp;
    if (op[0] === 'd' && op.length === 2) return op as JournalOp;
    return null;
  } catch {
    return null;
  }
}

export class MetadataStore {
  /** key -> JSON text of the durable value; parsed on read so callers never share (and mutate) stored objects. */
  private readonly data = new Map<string, string>();
  private journalFd = -1;
  /** End of the last good record: where the next write goes. */
  private journalBytes = 0;
  /** A write failed and what it left past journalBytes is not yet cut off: do that before writing again. */
  private rollbackNeeded = false;
  private pending: PendingChange[] = [];
  private writing = false;
  private scheduled = false;
  private closed = false;
  private idle: Array<() => void> = [];
  private readonly fsync: boolean;
  private readonly compactBytes: number;
  private readonly warn: (message: string) => void;
  private readonly onWriteError: (err: Error) => void;
  private readonly io: JournalIo;

  private constructor(
    readonly dir: string,
    opts: MetadataStoreOptions,
  ) {
    this.fsync = opts.fsync ?? true;
    this.compactBytes = opts.compactJournalBytes ?? DEFAULT_COMPACT_BYTES;
    this.warn = opts.onWarning ?? (() => {});
    this.onWriteError = opts.onWriteError ?? (() => {});
    this.io = { ...defaultJournalIo, ...opts.journalIo };
  }

  static async open(dir: string, opts: MetadataStoreOptions = {}): Promise<MetadataStore> {
    const store = new MetadataStore(dir, opts);
    await makeDir(dir, store.fsync);
    await fs.promises.rm(path.join(dir, `${SNAPSHOT}.tmp`), { force: true });
    await store.load();
    return store;
  }

  /** The durable value stored under key (a fresh copy), or undefined. */
  get(key: string): unknown {
    const json = this.data.get(key);
    return json === undefined ? undefined : JSON.parse(json);
  }

  has(key: string): boolean {
    return this.data.has(key);
  }

  /** Every durable [key, value] whose key starts with prefix, sorted by key. */
  entries(prefix: string): Array<[string, unknown]> {
    const keys: string[] = [];
    for (const k of this.data.keys()) if (k.startsWith(prefix)) keys.push(k);
    keys.sort();
    return keys.map((k) => [k, JSON.parse(this.data.get(k)!)]);
  }

  /** Stores value under key; resolves once durable, and only then does get() see it. */
  put(key: string, value: unknown): Promise<void> {
    this.checkKey(key);
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch (err) {
      return Promise.reject(
        new MetadataStoreError(`value for '${key}' is not serialisable: ${(err as Error).message}`),
      );
    }
    if (json === undefined) return Promise.reject(new MetadataStoreError(`value for '${key}' is not JSON`));
    if (json.length > METADATA_MAX_VALUE_BYTES) {
      return Promise.reject(
        new MetadataStoreError(`value for '${key}' exceeds ${METADATA_MAX_VALUE_BYTES} bytes`),
      );
    }
    return this.enqueue(key, json, `["p",${JSON.stringify(key)},${json}]`);
  }

  /** Removes key; resolves once durable, and only then does get() stop seeing it. */
  delete(key: string): Promise<void> {
    this.checkKey(key);
    return this.enqueue(key, undefined, `["d",${JSON.stringify(key)}]`);
  }

  /** Writes a fresh snapshot and empties the journal. */
  async compact(): Promise<void> {
    await this.waitIdle();
    this.writing = true;
    try {
      await this.writeSnapshot();
    } finally {
      this.writing = false;
      this.afterWrite();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.waitIdle();
    // Best effort: if this fails too, the next open cuts the torn tail (but replays any complete line before it).
    if (this.rollbackNeeded) await this.rollBack().catch(() => {});
    await closeFile(this.journalFd).catch(() => {});
    this.journalFd = -1;
  }

  private checkKey(key: string): void {
    if (this.closed) throw new MetadataStoreError('metadata store is closed');
    if (typeof key !== 'string' || key.length === 0 || Buffer.byteLength(key) > METADATA_MAX_KEY_BYTES) {
      throw new MetadataStoreError(`metadata key must be 1..${METADATA_MAX_KEY_BYTES} bytes`);
    }
  }

  private enqueue(key: string, json: string | undefined, op: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ line: encodeLine(op), key, json, resolve, reject });
      if (!this.scheduled && !this.writing) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          void this.writeBatch();
        });
      }
    });
  }

  private async writeBatch(): Promise<void> {
    if (this.writing || this.pending.length === 0) return;
    this.writing = true;
    const batch = this.pending;
    this.pending = [];
    try {
      if (this.rollbackNeeded) await this.rollBack();
      await this.appendDurably(Buffer.from(batch.map((c) => c.line).join(''), 'utf8'));
      for (const c of batch) {
        if (c.json === undefined) this.data.delete(c.key);
        else this.data.set(c.key, c.json);
      }
      for (const c of batch) c.resolve();
      if (this.journalBytes > this.compactBytes) {
        await this.writeSnapshot().catch((err: Error) =>
          this.warn(`metadata compaction failed: ${err.message}`),
        );
      }
    } catch (err) {
      const e = toError(err);
      for (const c of batch) c.reject(e);
    } finally {
      this.writing = false;
      this.afterWrite();
    }
  }

  /** Writes buf at the end of the last good record and syncs it; on failure, cuts off whatever got written. */
  private async appendDurably(buf: Buffer): Promise<void> {
    try {
      await this.io.write(this.journalFd, buf, this.journalBytes);
      if (this.fsync) await this.io.sync(this.journalFd);
    } catch (err) {
      this.rollbackNeeded = true;
      this.onWriteError(toError(err));
      // A failed rollback is reported and retried before the next write; the caller gets the write's error.
      await this.rollBack().catch(() => {});
      throw err;
    }
    this.journalBytes += buf.length;
  }

  /** Truncates the journal to its last good record, durably. */
  private async rollBack(): Promise<void> {
    try {
      await this.io.truncate(this.journalFd, this.journalBytes);
      if (this.fsync) await this.io.sync(this.journalFd);
    } catch (err) {
      const e = toError(err);
      this.onWriteError(e);
      this.warn(
        `metadata journal: truncating to byte ${this.journalBytes} failed (retried before the next write): ${e.message}`,
      );
      throw new MetadataStoreError(`metadata journal holds a failed write not yet rolled back: ${e.message}`);
    }
    this.rollbackNeeded = false;
  }

  private afterWrite(): void {
    if (this.pending.length > 0) {
      void this.writeBatch();
      return;
    }
    for (const w of this.idle.splice(0)) w();
  }

  private waitIdle(): Promise<void> {
    if (!this.writing && !this.scheduled && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private async writeSnapshot(): Promise<void> {
    const keys = [...this.data.keys()].sort();
    const text = keys.map((k) => encodeLine(`["p",${JSON.stringify(k)},${this.data.get(k)}]`)).join('');
    const tmp = path.join(this.dir, `${SNAPSHOT}.tmp`);
    try {
      const fd = await openFile(tmp, 'w');
      try {
        await writeAll(fd, Buffer.from(text, 'utf8'), 0);
        if (this.fsync) await new Promise<void>((res, rej) => fs.fsync(fd, (e) => (e ? rej(e) : res())));
      } finally {
        await closeFile(fd);
      }
      await fs.promises.rename(tmp, path.join(this.dir, SNAPSHOT));
      if (this.fsync) await syncDir(this.dir);
    } catch (err) {
      this.onWriteError(toError(err));
      await fs.promises.rm(tmp, { force: true }).catch(() => {}); // a partial snapshot only takes space
      throw err;
    }
    // The snapshot holds everything: the journal restarts empty. Until that is durable, the truncate is a pending
    // rollback (to 0), retried before the next write; replaying the old journal meanwhile is harmless.
    this.journalBytes = 0;
    this.rollbackNeeded = true;
    await this.rollBack();
  }

  private async load(): Promise<void> {
    const snapshot = await fs.promises.readFile(path.join(this.dir, SNAPSHOT), 'utf8').catch((e) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw e;
    });
    let bad = 0;
    for (const line of snapshot.split('\n')) {
      if (line.length === 0) continue;
      const op = decodeLine(line);
      if (op) this.apply(op);
      else bad++;
    }
    if (bad > 0) this.warn(`metadata snapshot: skipped ${bad} corrupt lines`);

    const journalPath = path.join(this.dir, JOURNAL);
    this.journalFd = await this.openJournal(journalPath);
    const journal = await fs.promises.readFile(journalPath);
    let pos = 0;
    const corruptAt: number[] = [];
    while (pos < journal.length) {
      const nl = journal.indexOf(0x0a, pos);
      if (nl < 0) break; // the last line never got its newline: a torn write
      const op = decodeLine(journal.toString('utf8', pos, nl));
      // A complete line that fails its check was damaged in place: only it is lost.
      if (op) this.apply(op);
      else corruptAt.push(pos);
      pos = nl + 1;
    }
    if (corruptAt.length > 0) {
      const where = corruptAt.slice(0, 10).join(', ');
      this.warn(`metadata journal: skipped ${corruptAt.length} corrupt lines (at byte ${where})`);
    }
    if (pos < journal.length) {
      this.warn(`metadata journal: dropping ${journal.length - pos} bytes of torn tail`);
      await truncateFile(this.journalFd, pos);
      if (this.fsync) await fdatasync(this.journalFd);
    }
    this.journalBytes = pos;
  }

  /** Opens the journal for positional writes (never O_APPEND); a new one is made durable in its directory. */
  private async openJournal(file: string): Promise<number> {
    try {
      return await openFile(file, 'r+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const fd = await openFile(file, 'wx+');
    if (this.fsync) await syncDir(this.dir);
    return fd;
  }

  private apply(op: JournalOp): void {
    if (op[0] === 'p') this.data.set(op[1], JSON.stringify(op[2]));
    else this.data.delete(op[1]);
  }
}
