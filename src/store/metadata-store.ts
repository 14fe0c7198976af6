/**
 * Small durable key -> JSON store for definitions (vhosts, users, exchanges, queues, bindings, policies).
 *
 * Files: `snapshot.jsonl` (the full state at the last compaction) and `journal.jsonl` (changes since).
 * Each line is `<crc32c as 8 hex digits> <json>\n` with json `["p",key,value]` (put) or `["d",key]` (delete).
 * Writes are batched per tick: every put/delete of a tick shares one write and one fdatasync.
 * A torn last journal line is dropped at open; compaction writes a new snapshot (tmp + fsync + rename)
 * and then empties the journal. Replaying an old journal over a newer snapshot is harmless, so a crash
 * between the two steps is safe.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from './crc32c.js';
import { closeFile, fdatasync, openFile, syncDir, writeAll } from './fs-io.js';

export interface MetadataStoreOptions {
  /** Default true; false skips every fsync (tests, --no-fsync dev mode). */
  fsync?: boolean;
  /** Compact once the journal exceeds this many bytes. Default 4 MiB. */
  compactJournalBytes?: number;
  onWarning?: (message: string) => void;
}

export class MetadataStoreError extends Error {
  override name = 'MetadataStoreError';
}

export const METADATA_MAX_KEY_BYTES = 4096;
export const METADATA_MAX_VALUE_BYTES = 16 * 1024 * 1024;
const SNAPSHOT = 'snapshot.jsonl';
const JOURNAL = 'journal.jsonl';
const DEFAULT_COMPACT_BYTES = 4 * 1024 * 1024;

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

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
  /** key -> JSON text of the value; parsed on read so callers never share (and mutate) stored objects. */
  private readonly data = new Map<string, string>();
  private journalFd = -1;
  private journalBytes = 0;
  private pending: string[] = [];
  private pendingWaiters: Waiter[] = [];
  private writing = false;
  private scheduled = false;
  private closed = false;
  private idle: Array<() => void> = [];
  private readonly fsync: boolean;
  private readonly compactBytes: number;
  private readonly warn: (message: string) => void;

  private constructor(
    readonly dir: string,
    opts: MetadataStoreOptions,
  ) {
    this.fsync = opts.fsync ?? true;
    this.compactBytes = opts.compactJournalBytes ?? DEFAULT_COMPACT_BYTES;
    this.warn = opts.onWarning ?? (() => {});
  }

  static async open(dir: string, opts: MetadataStoreOptions = {}): Promise<MetadataStore> {
    const store = new MetadataStore(dir, opts);
    await fs.promises.mkdir(dir, { recursive: true });
    await fs.promises.rm(path.join(dir, `${SNAPSHOT}.tmp`), { force: true });
    await store.load();
    return store;
  }

  /** The value stored under key (a fresh copy), or undefined. */
  get(key: string): unknown {
    const json = this.data.get(key);
    return json === undefined ? undefined : JSON.parse(json);
  }

  has(key: string): boolean {
    return this.data.has(key);
  }

  /** Every [key, value] whose key starts with prefix, sorted by key. */
  entries(prefix: string): Array<[string, unknown]> {
    const keys: string[] = [];
    for (const k of this.data.keys()) if (k.startsWith(prefix)) keys.push(k);
    keys.sort();
    return keys.map((k) => [k, JSON.parse(this.data.get(k)!)]);
  }

  /** Stores value under key; visible at once, resolves once durable. */
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
    this.data.set(key, json);
    return this.enqueue(`["p",${JSON.stringify(key)},${json}]`);
  }

  /** Removes key; resolves once durable. */
  delete(key: string): Promise<void> {
    this.checkKey(key);
    this.data.delete(key);
    return this.enqueue(`["d",${JSON.stringify(key)}]`);
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
    await closeFile(this.journalFd).catch(() => {});
    this.journalFd = -1;
  }

  private checkKey(key: string): void {
    if (this.closed) throw new MetadataStoreError('metadata store is closed');
    if (typeof key !== 'string' || key.length === 0 || Buffer.byteLength(key) > METADATA_MAX_KEY_BYTES) {
      throw new MetadataStoreError(`metadata key must be 1..${METADATA_MAX_KEY_BYTES} bytes`);
    }
  }

  private enqueue(json: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push(encodeLine(json));
      this.pendingWaiters.push({ resolve, reject });
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
    const lines = this.pending;
    const waiters = this.pendingWaiters;
    this.pending = [];
    this.pendingWaiters = [];
    try {
      const buf = Buffer.from(lines.join(''), 'utf8');
      await writeAll(this.journalFd, buf, this.journalBytes);
      this.journalBytes += buf.length;
      if (this.fsync) await fdatasync(this.journalFd);
      for (const w of waiters) w.resolve();
      if (this.journalBytes > this.compactBytes) {
        await this.writeSnapshot().catch((err: Error) =>
          this.warn(`metadata compaction failed: ${err.message}`),
        );
      }
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      for (const w of waiters) w.reject(e);
    } finally {
      this.writing = false;
      this.afterWrite();
    }
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
    const fd = await openFile(tmp, 'w');
    try {
      await writeAll(fd, Buffer.from(text, 'utf8'), 0);
      if (this.fsync) await new Promise<void>((res, rej) => fs.fsync(fd, (e) => (e ? rej(e) : res())));
    } finally {
      await closeFile(fd);
    }
    await fs.promises.rename(tmp, path.join(this.dir, SNAPSHOT));
    if (this.fsync) await syncDir(this.dir);
    await new Promise<void>((res, rej) => fs.ftruncate(this.journalFd, 0, (e) => (e ? rej(e) : res())));
    if (this.fsync) await fdatasync(this.journalFd);
    this.journalBytes = 0;
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
    this.journalFd = await openFile(journalPath, 'a+');
    const journal = await fs.promises.readFile(journalPath);
    let pos = 0;
    let validEnd = 0;
    bad = 0;
    while (pos < journal.length) {
      const nl = journal.indexOf(0x0a, pos);
      if (nl < 0) break; // torn last line: no newline yet
      const op = decodeLine(journal.toString('utf8', pos, nl));
      if (op) {
        this.apply(op);
        validEnd = nl + 1;
      } else if (journal.indexOf(0x0a, nl + 1) < 0) {
        break; // a damaged last line is a torn write
      } else {
        bad++;
        validEnd = nl + 1;
      }
      pos = nl + 1;
    }
    if (bad > 0) this.warn(`metadata journal: skipped ${bad} corrupt lines`);
    if (validEnd < journal.length) {
      this.warn(`metadata journal: dropping ${journal.length - validEnd} bytes of torn tail`);
      await new Promise<void>((res, rej) =>
        fs.ftruncate(this.journalFd, validEnd, (e) => (e ? rej(e) : res())),
      );
    }
    this.journalBytes = validEnd;
  }

  private apply(op: JournalOp): void {
    if (op[0] === 'p') this.data.set(op[1], JSON.stringify(op[2]));
    else this.data.delete(op[1]);
  }
}
