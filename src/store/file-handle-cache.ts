/**
 * A bounded pool of open file descriptors shared by the stores of a broker: with thousands of queues, one
 * open segment file (plus settle file) per queue would exhaust `ulimit -n`. Each file is a FileHandle that
 * opens on demand; idle handles are closed least-recently-used first once maxOpenFiles are open.
 *
 * A handle is pinned while an operation uses its fd (write, read, fdatasync through GroupCommit): a pinned
 * fd is never closed, so its number can never be recycled for another file while a sync on it is pending.
 * When every slot is pinned, the next open waits for a release instead of exceeding the cap.
 */
import fs from 'node:fs';
import path from 'node:path';
import { closeFile, openFile, syncDir } from './fs-io.js';

export const DEFAULT_MAX_OPEN_FILES = 4096;
/** Below this, independent operations that each pin one file could starve each other for long. */
const MIN_MAX_OPEN_FILES = 4;

export interface FileHandleCacheOptions {
  /** Upper bound of files open at once through this cache. Default 4096. */
  maxOpenFiles?: number;
}

export interface FileHandleOptions {
  /** true: the file exists and is reopened read-write; false: the first open creates (truncates) it. */
  exists: boolean;
  /** After creating the file, fsync its directory (and that one's parent when the directory was created). */
  syncDirOnCreate: boolean;
}

function noop(): void {}

export class FileHandle {
  /** The open descriptor, or -1. Only valid to use while pinned. */
  fd = -1;
  /** Operations currently using fd. */
  pins = 0;
  /** Whether the file is on disk (created by this handle or found at open). */
  exists: boolean;
  private opening: Promise<number> | null = null;
  private closeWhenUnpinned = false;
  private readonly syncDirOnCreate: boolean;

  constructor(
    private readonly cache: FileHandleCache,
    readonly file: string,
    opts: FileHandleOptions,
  ) {
    this.exists = opts.exists;
    this.syncDirOnCreate = opts.syncDirOnCreate;
  }

  /** Hot path: pins and returns fd when the file is open, else returns -1 without pinning (use acquire()). */
  tryAcquire(): number {
    if (this.fd < 0) return -1;
    if (this.pins++ === 0) this.cache.noteBusy(this);
    return this.fd;
  }

  /** Pins the handle, opening (or creating) the file if needed. Every success must be paired with release(). */
  async acquire(): Promise<number> {
    const fd = this.tryAcquire();
    if (fd >= 0) return fd;
    this.pins++;
    try {
      this.opening ??= this.open();
      return await this.opening;
    } catch (err) {
      this.pins--;
      throw err;
    }
  }

  release(): void {
    if (this.pins <= 0) throw new Error(`unbalanced release of ${this.file}`);
    if (--this.pins > 0 || this.fd < 0) return;
    if (this.closeWhenUnpinned) {
      this.closeWhenUnpinned = false;
      this.cache.closeIdle(this).catch(noop);
    } else {
      this.cache.noteIdle(this);
    }
  }

  /** Closes the descriptor now, or once the last pin is released; the handle can be reopened later. */
  async close(): Promise<void> {
    if (this.opening) await this.opening.catch(noop);
    if (this.fd < 0) return;
    if (this.pins > 0) {
      this.closeWhenUnpinned = true;
      return;
    }
    await this.cache.closeIdle(this);
  }

  private async open(): Promise<number> {
    await this.cache.reserveSlot();
    try {
      const fd = this.exists ? await openFile(this.file, 'r+') : await this.create();
      this.fd = fd;
      return fd;
    } catch (err) {
      this.cache.freeSlot();
      throw err;
    } finally {
      this.opening = null;
    }
  }

  private async create(): Promise<number> {
    const dir = path.dirname(this.file);
    let madeDir = false;
    let fd: number;
    try {
      fd = await openFile(this.file, 'w+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Lazy stores create their directory with their first file.
      await fs.promises.mkdir(dir, { recursive: true });
      madeDir = true;
      fd = await openFile(this.file, 'w+');
    }
    if (this.syncDirOnCreate) {
      try {
        await syncDir(dir);
        if (madeDir) await syncDir(path.dirname(dir));
      } catch (err) {
        await closeFile(fd).catch(noop);
        throw err;
      }
    }
    this.exists = true;
    return fd;
  }
}

export class FileHandleCache {
  readonly maxOpenFiles: number;
  /** Slots in use: descriptors open, being opened, or being closed to make room. */
  private used = 0;
  /** Open, unpinned handles in least-recently-used-first order (a Set keeps insertion order). */
  private readonly idle = new Set<FileHandle>();
  /** Opens waiting for a slot while every open file is pinned. */
  private readonly slotWaiters: Array<() => void> = [];
  private waiterHead = 0;
  /** Most descriptors ever open at once through this cache (for tests and metrics). */
  peakOpenFiles = 0;

  constructor(opts: FileHandleCacheOptions = {}) {
    const max = opts.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES;
    if (!Number.isSafeInteger(max) || max < MIN_MAX_OPEN_FILES) {
      throw new RangeError(`maxOpenFiles must be an integer >= ${MIN_MAX_OPEN_FILES}, got ${max}`);
    }
    this.maxOpenFiles = max;
  }

  /** A handle on file; nothing is opened until its first acquire(). */
  handle(file: string, opts: FileHandleOptions): FileHandle {
    return new FileHandle(this, file, opts);
  }

  /** Descriptors currently held (open, opening or closing). */
  get openFiles(): number {
    return this.used;
  }

  // ---- used by FileHandle ----

  noteBusy(h: FileHandle): void {
    this.idle.delete(h);
  }

  noteIdle(h: FileHandle): void {
    // Someone is waiting for a slot: hand this one over rather than keep an idle file open.
    if (this.waiterHead < this.slotWaiters.length) this.closeIdle(h).catch(noop);
    else this.idle.add(h);
  }

  async reserveSlot(): Promise<void> {
    if (this.used < this.maxOpenFiles) {
      this.used++;
      if (this.used > this.peakOpenFiles) this.peakOpenFiles = this.used;
      return;
    }
    const victim = this.idle.values().next();
    if (!victim.done) {
      // The victim's slot passes straight to this open once its descriptor is closed.
      this.idle.delete(victim.value);
      await this.closeFd(victim.value);
      return;
    }
    await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
  }

  freeSlot(): void {
    if (this.waiterHead < this.slotWaiters.length) {
      const w = this.slotWaiters[this.waiterHead];
      this.slotWaiters[this.waiterHead++] = noop;
      if (this.waiterHead === this.slotWaiters.length) {
        this.slotWaiters.length = 0;
        this.waiterHead = 0;
      }
      w();
      return;
    }
    this.used--;
  }

  /** Closes an unpinned handle's descriptor and frees its slot. */
  async closeIdle(h: FileHandle): Promise<void> {
    if (h.fd < 0) return;
    this.idle.delete(h);
    await this.closeFd(h);
    this.freeSlot();
  }

  private async closeFd(h: FileHandle): Promise<void> {
    const fd = h.fd;
    h.fd = -1; // synchronously: nobody can pin the old number from here on
    await closeFile(fd).catch(noop);
  }
}

let shared: FileHandleCache | null = null;

/** The process-wide cache used by stores that are not given one (one broker per process). */
export function sharedFileHandleCache(): FileHandleCache {
  shared ??= new FileHandleCache();
  return shared;
}
